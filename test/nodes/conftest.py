"""Graph fixtures: whole node graphs on the seam's virtual clock (deterministic, faster than real time)."""

import os

import numpy as np
import pytest

os.environ.setdefault("PI_VLA_FORCE_SEAM", "1")

from pi_vla_ros.runner import GraphRunner  # noqa: E402


class Tap:
    """A test node recording every message on some topics, with the sim time it arrived."""

    def __init__(self, runner, topics: dict):
        from pi_vla_ros.ros import Node

        self.node = Node("test_tap", parameter_overrides=[])
        self.messages = {t: [] for t in topics}
        for topic, msg_type in topics.items():
            self.node.create_subscription(msg_type, topic,
                                          lambda m, t=topic: self.messages[t].append((runner.sim_time(), m)), 100)
        runner.executor.add_node(self.node)


def controller_topics(runner):
    from pi_vla_ros.ros import msgs

    ex = runner.node("pi_vla_executor")
    return {pub.topic_name: {"trajectory": msgs.JointTrajectory, "position": msgs.Float64MultiArray,
                             "twist": msgs.Twist}[interface] for _, interface, pub in ex._outputs}


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
