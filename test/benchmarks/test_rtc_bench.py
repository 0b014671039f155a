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

"""The RTC latency benchmark runs and reports each mode (the figures themselves are measured, never asserted)."""

from pi_vla_ros.benchmarks.rtc_bench import main, measure


def test_reports_every_mode(tmp_path):
    report = measure("pi05_tiny", "ur5e", chunks=2, warmup=0, frozen=5, overlap=20)
    assert set(report["latency"]) == {"none", "guidance", "training"}
    assert all(v["p50_ms"] > 0 and v["p95_ms"] >= v["p50_ms"] for v in report["latency"].values())
    assert main(["--policy", "pi0_tiny", "--profile", "ur5e", "--chunks", "1", "--out", str(tmp_path / "r.json")]) == 0
    assert (tmp_path / "r.json").is_file()
