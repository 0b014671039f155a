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

"""What the ament lint tests share: Debian's linters live in the system Python, so they run in a subprocess."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def interpreter_with(module: str) -> str:
    """The first of this interpreter, the system python3 and PATH's python3 that can import `module`."""
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3", shutil.which("python3")]):
        if python and os.access(python, os.X_OK):
            if subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0:
                return python
    pytest.skip(f"{module} is not installed (scripts/ci_deps.sh installs it from Debian)")


def run_linter(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m <module>.main args`` at the repository root, with an interpreter that has it."""
    return subprocess.run([interpreter_with(module), "-m", f"{module}.main", *args], cwd=ROOT,
                          env={**os.environ, "PYTHONSAFEPATH": "1"}, capture_output=True, text=True, timeout=600)
