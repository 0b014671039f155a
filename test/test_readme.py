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

"""The README's list of reason codes is the sources' list: every code the package emits is documented."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAISES = re.compile(r'(?:RejectedInput|InferenceFault|TrajectoryRejected|CommandRejected)\(\s*"([a-z_]+)"')


def test_every_reason_code_is_in_the_readme():
    codes = {c for path in (ROOT / "pi_vla_ros").rglob("*.py") for c in RAISES.findall(path.read_text())}
    assert len(codes) > 30
    readme = (ROOT / "README.md").read_text()
    missing = sorted(c for c in codes if f"`{c}`" not in readme)
    assert not missing, f"reason codes missing from README.md: {missing}"
