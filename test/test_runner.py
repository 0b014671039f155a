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

"""The graph in one process, in real time: the stepping thread's scheduling during the run and after it."""

import os

from pi_vla_ros.runner import GraphRunner


def _policy() -> int:
    return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK


def test_real_time_run_steps_at_the_executors_priority_and_gives_the_thread_back(monkeypatch):
    monkeypatch.setenv("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))      # a real-time graph is discoverable: ours
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    before = (_policy(), os.sched_getparam(0).sched_priority)
    with GraphRunner("ur5e", realtime=True, allow_untrained=True, policy="pi06_tiny") as run:
        during = (_policy(), os.sched_getparam(0).sched_priority)
        run.spin_for(0.2)
        assert run.sim_time() >= 0.2
    assert (_policy(), os.sched_getparam(0).sched_priority) == before      # the caller's thread as it was
    if os.geteuid() == 0:        # elsewhere (no CAP_SYS_NICE, no rtprio limit) the executor warns instead
        assert during == (os.SCHED_FIFO, 50)
