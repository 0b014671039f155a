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
