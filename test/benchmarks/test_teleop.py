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

"""The teleop benchmark's pieces run and report what they say (figures are the README's, not asserted)."""

from pi_vla_ros.benchmarks.teleop import ik_cost


def test_ik_cost_reports_percentiles():
    report = ik_cost(robots=("ur5e",), ticks=20)
    assert set(report) == {"ur5e"} and report["ur5e"]["ticks"] == 20
    assert 0 < report["ur5e"]["p50_us"] <= report["ur5e"]["p99_us"] <= report["ur5e"]["max_us"]
