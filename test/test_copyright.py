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

"""ament_copyright over the package, the standard ament_python lint test.

Debian's python3-ament-copyright lives in the system Python (scripts/ci_deps.sh), so it runs in a subprocess
with the first interpreter that imports it. It wants, in every Python file before anything but a shebang or
coding line, a comment block with a "Copyright <year> <holder>" line followed by the Apache-2.0 boilerplate
(ament_copyright/template/apache2_header.txt); and, at a repository root, LICENSE (the Apache-2.0 text) and
CONTRIBUTING.md. `ament_copyright --add-missing "pi_vla_ros maintainers" apache2 <paths>` writes them.
"""

import pytest

from test.linters import run_linter

# Every tracked Python file (ament skips the package's setup.py), and the repository-level license files.
PATHS = ["pi_vla_ros", "test", "launch", "urdf", "LICENSE", "CONTRIBUTING.md"]


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    result = run_linter("ament_copyright", *PATHS)
    if result.returncode != 0:
        pytest.fail(f"ament_copyright found files without a copyright and license notice:\n{result.stdout}\n"
                    f"{result.stderr}", pytrace=False)
