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

"""Node helpers that need no graph: the bounded log behind reports; a node process's exit code."""

import os
import subprocess
import sys
import textwrap

import pytest

from pi_vla_ros.nodes.common import RecentLog


def test_recent_log_keeps_absolute_indices_and_bounded_memory():
    log = RecentLog(keep=3)
    for i in range(10):
        log.append(i)
    assert len(log) == 10 and list(log) == [7, 8, 9]        # trimmed to `keep` whenever it holds a tenth more
    assert log[-1] == 9 and log[9] == 9 and log[8:] == [8, 9] and log[10:] == []
    assert log[0:10][-1] == 9 and bool(log)
    with pytest.raises(IndexError, match="dropped"):
        log[0]
    assert not RecentLog()


# A node whose timer, on its first call, interrupts its own process and then fails the way rclpy does when the
# KeyboardInterrupt lands while it converts a taken message (pybind11 turns it into this RuntimeError).
_NODE_THAT_FAILS = textwrap.dedent("""
    import os, signal, sys
    from pi_vla_ros.nodes.common import run_node
    from pi_vla_ros.ros import Node

    class Failing(Node):
        def __init__(self, quiet_qos_events=False):
            super().__init__("failing_" + str(os.getpid()))
            self.create_timer(0.01, self.tick)

        def tick(self):
            if sys.argv[1] == "interrupted":
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    signal.sigtimedwait([], 0.5)   # nothing to wait for: the handler runs here
                except KeyboardInterrupt:
                    pass
            raise RuntimeError("Unable to convert call argument '0' to Python object")

    sys.exit(run_node(Failing, args=[]))
""")


@pytest.mark.parametrize("case, code", [("interrupted", 0), ("fault", 1)])
def test_an_error_caused_by_ctrl_c_is_a_clean_exit_and_any_other_is_not(case, code):
    env = dict(os.environ, ROS_DOMAIN_ID=str(60 + os.getpid() % 100), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    done = subprocess.run([sys.executable, "-c", _NODE_THAT_FAILS, case], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == code, done.stderr
    assert ("fatal: Unable to convert" in done.stderr) == (code == 1), done.stderr
