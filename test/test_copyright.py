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

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every tracked Python file (ament skips the package's setup.py), and the repository-level license files.
PATHS = ["pi_vla_ros", "test", "launch", "urdf", "LICENSE", "CONTRIBUTING.md"]


def interpreter_with(module: str) -> str:
    """The first of this interpreter, the system python3 and PATH's python3 that can import `module`."""
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3", shutil.which("python3")]):
        if python and os.access(python, os.X_OK):
            if subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0:
                return python
    pytest.skip(f"{module} is not installed (scripts/ci_deps.sh installs it from Debian)")


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    python = interpreter_with("ament_copyright")
    result = subprocess.run([python, "-m", "ament_copyright.main", *PATHS], cwd=ROOT,
                            env={**os.environ, "PYTHONSAFEPATH": "1"}, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"ament_copyright found files without a copyright and license notice:\n{result.stdout}\n"
                    f"{result.stderr}", pytrace=False)
