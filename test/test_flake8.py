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

"""ament_flake8 over the package, the standard ament_python lint test (`ros2 pkg create` generates it).

The linter is Debian's python3-ament-flake8 with the flake8 plugins ROS 2 runs it with (scripts/ci_deps.sh). It
lives in the system Python, not in .venv, so it runs in a subprocess with the first interpreter that imports it:
this one where a ROS 2 install is sourced, else /usr/bin/python3. The configuration is setup.cfg's [flake8]
section: ament's defaults, with this project's 120 columns and double quotes.
"""

import pytest

from test.linters import run_linter

# Every tracked Python file; named rather than ".", so that untracked outputs (runs/, build/) are not linted.
PATHS = ["pi_vla_ros", "test", "launch", "urdf", "setup.py"]


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    result = run_linter("ament_flake8", "--config", "setup.cfg", *PATHS)
    if result.returncode != 0:
        report = result.stdout.split("\nChecked files:")[0].strip()
        pytest.fail(f"ament_flake8 found code style errors:\n{report}\n{result.stderr}", pytrace=False)
