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

"""``pi-vla teleop``'s session, in lockstep: the graph starts without a policy, runs and reports its counters."""

from pi_vla_ros import teleop_session


def test_session_without_a_policy_holds_and_reports():
    report = teleop_session.run("bimanual", "twist", duration=0.5, keyboard=False, realtime=False,
                                overrides={"pi_vla_teleop": {"twist_arm": "right"}})
    assert report["stopped_by"] == "duration" and abs(report["sim_s"] - 0.5) < 1e-6
    assert report["teleop_sent"] == report["executor_teleop_commands"] == 0     # nobody took the robot
    assert report["executor_commands"] >= 24                                    # the executor held, every tick
    assert report["rejected"] == {"pi_vla_teleop": {}, "pi_vla_executor": {}}
