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

"""ament_xmllint over package.xml (validated against the package format 3 schema) and the URDFs.

Debian's python3-ament-xmllint lives in the system Python (scripts/ci_deps.sh), so it runs in a subprocess with
the first interpreter that imports it. It ships the schema that package.xml's xml-model names
(/usr/share/ament_xmllint/xml-catalog), so the check needs no network.
"""

import pytest

from test.linters import ROOT, run_linter


@pytest.mark.linter
@pytest.mark.xmllint
def test_xmllint():
    paths = ["package.xml", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("urdf/*.urdf"))]
    result = run_linter("ament_xmllint", *paths)
    if result.returncode != 0:
        pytest.fail(f"ament_xmllint found invalid XML:\n{result.stdout}\n{result.stderr}", pytrace=False)
    assert "File 'package.xml' is valid" in result.stdout
