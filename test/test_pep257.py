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

"""ament_pep257 (pydocstyle) over the package, the standard ament_python lint test.

Debian's python3-ament-pep257 lives in the system Python (scripts/ci_deps.sh), so it runs in a subprocess with
the first interpreter that imports it. The codes checked are ament's defaults, except that this project's
docstrings are prose: a summary sentence may run over several lines, need not be imperative, may start with an
identifier and may name a call; the summary starts on the first line (D212), never on the second (D213).
"""

import pytest

from test.linters import run_linter

# Every tracked Python file; named rather than ".", so that untracked outputs (runs/, build/) are not linted.
PATHS = ["pi_vla_ros", "test", "launch", "urdf", "setup.py"]
AMENT_IGNORE = ["D100", "D101", "D102", "D103", "D104", "D105", "D106", "D107", "D203", "D212", "D404"]
PROSE = {
    "D205": "1 blank line between summary line and description (the summary may wrap)",
    "D400": "first line should end with a period (the summary may wrap)",
    "D415": "first line should end with punctuation (the summary may wrap)",
    "D401": "first line should be in imperative mood",
    "D402": "first line should not be the function's signature (false positives on any 'name(' in prose)",
    "D403": "first word should be capitalized (it may be an identifier: x, embs, tokens)",
    "D213": "summary on the second line (this project keeps it on the first, D212)",
}
IGNORE = sorted((set(AMENT_IGNORE) | set(PROSE)) - {"D212"})


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    result = run_linter("ament_pep257", *PATHS, "--ignore", *IGNORE)
    if result.returncode != 0:
        report = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("checking "))
        pytest.fail(f"ament_pep257 found docstring style errors:\n{report}\n{result.stderr}", pytrace=False)
