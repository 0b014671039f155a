# Copyright 2026 pi_vla_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""One Simulator per profile, shared by the sim tests (building one takes ~30 ms, renderers are lazy)."""

import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.profiles import PROFILES  # noqa: E402
from pi_vla_ros.sim.simulator import Simulator  # noqa: E402

_SIMS = {}


@pytest.fixture
def sim_for():
    def get(name: str) -> Simulator:
        if name not in _SIMS:
            _SIMS[name] = Simulator(name)
        _SIMS[name].reset(0)
        return _SIMS[name]
    return get


@pytest.fixture(params=PROFILES)
def profile_name(request):
    return request.param
