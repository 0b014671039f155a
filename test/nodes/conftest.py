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

"""Graph fixtures: whole node graphs on real rclpy in lockstep simulated time (deterministic, faster than real time)."""

import numpy as np
import pytest

from pi_vla_ros.runner import GraphRunner


class Tap:
    """A test node recording every message on some topics, with the sim time it arrived."""

    def __init__(self, runner, topics: dict):
        from pi_vla_ros.ros import Node

        self.node = Node(f"test_tap_{len(runner.nodes)}", **runner.node_options())
        self.messages = {t: [] for t in topics}
        for topic, msg_type in topics.items():
            self.node.create_subscription(msg_type, topic,
                                          lambda m, t=topic: self.messages[t].append((runner.sim_time(), m)), 100)
        runner.add_node(self.node)


class Rosout(Tap):
    """Every node's log lines, as they went out on /rosout (rcl_interfaces/Log)."""

    def __init__(self, runner):
        from rcl_interfaces.msg import Log

        super().__init__(runner, {"/rosout": Log})

    def lines(self, text: str = "", level: int = 30) -> list[str]:
        """Log lines at ``level`` (30: WARN) or above that contain ``text``."""
        return [m.msg for _, m in self.messages["/rosout"] if m.level >= level and text in m.msg]


def controller_topics(runner):
    """The controller topics the executor streams to (the profile's interfaces), with their message types."""
    from pi_vla_ros.ros import msgs

    types = {"trajectory": msgs.JointTrajectory, "position": msgs.Float64MultiArray, "twist": msgs.Twist}
    return {ctrl.topic: types[ctrl.interface] for ctrl in runner.sim.profile.controllers}


@pytest.fixture
def make_graph():
    runners = []

    def _make(robot="bimanual", **kwargs):
        kwargs.setdefault("allow_untrained", True)
        kwargs.setdefault("realtime", False)
        runner = GraphRunner(robot, **kwargs)
        runners.append(runner)
        return runner

    yield _make
    for r in runners:
        r.close()


def finite_command(msg) -> bool:
    if hasattr(msg, "points"):
        return all(np.all(np.isfinite(p.positions)) for p in msg.points)
    if hasattr(msg, "data"):
        return bool(np.all(np.isfinite(msg.data)))
    return bool(np.isfinite([msg.linear.x, msg.angular.z]).all())
