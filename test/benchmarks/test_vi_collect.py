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

"""The VI benchmark runs end to end and reports what it says (its figures are the README's, not asserted)."""

import json

import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.benchmarks.vi_collect import vi_bench  # noqa: E402


def test_vi_bench_reports_and_draws(tmp_path):
    report = vi_bench(("ur5e",), 1, out=tmp_path / "data", figure=tmp_path / "ep.png", report=tmp_path / "vi.json",
                      progress=False, log=lambda *_: None)
    saved = json.loads((tmp_path / "vi.json").read_text())
    assert saved["episodes"] == report["episodes"] == 1 and saved["per_profile"]["ur5e"]["episodes"] == 1
    assert saved["subtask_labels"] == saved["per_profile"]["ur5e"]["subtask_labels"] >= 1
    assert 0.0 <= saved["labels_within_share"] <= 1.0 and saved["wall_s"] > 0
    assert (tmp_path / "ep.png").stat().st_size > 10_000
