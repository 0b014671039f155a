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

"""`pi-vla compare`: evaluation reports side by side with 95% Wilson intervals."""

import json

import pytest

from pi_vla_ros.cli import main
from pi_vla_ros.evaluation.compare import compare


def _report(path, successes, episodes=50, **extra):
    path.write_text(json.dumps({"policy": "pi05_ki_sim", "checkpoint": f"runs/{path.stem}", "episodes": episodes,
                                "successes": successes, "success_rate": successes / episodes, **extra}))
    return str(path)


def test_rates_come_with_their_wilson_interval_and_a_chart(tmp_path):
    a = _report(tmp_path / "a.json", 26, wrong_object_rate=0.0)
    b = _report(tmp_path / "b.json", 50, swap_instruction=True)
    rows = compare([a, b], ["combined"], out=str(tmp_path / "chart.png"))
    assert rows[0]["label"] == "combined" and rows[0]["rate"] == 0.52
    assert rows[0]["ci95"] == (0.385, 0.652)                    # Wilson, 26 of 50
    assert rows[1]["label"] == "b (swapped)" and rows[1]["ci95"][1] == 1.0 and rows[1]["ci95"][0] > 0.9
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_what_is_no_report_is_one_error(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"loss": 1.0}')
    (tmp_path / "y.json").write_text("not json")
    bad = _report(tmp_path / "z.json", 60)
    for path, why in ((tmp_path / "x.json", "not an evaluation report"), (tmp_path / "y.json", "not JSON"),
                      (bad, "60 successes of 50"), (tmp_path / "none.json", "No such file")):
        assert main(["compare", str(path)]) == 2
        assert why in capsys.readouterr().err
    with pytest.raises(ValueError, match="2 labels for 1 reports"):
        compare([_report(tmp_path / "a.json", 1)], ["one", "two"])
