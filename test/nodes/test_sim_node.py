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

"""The simulator node alone: its controller topics behave like ros2_control's on the real robot."""

import json

import numpy as np
import pytest

from pi_vla_ros.nodes.common import to_duration, to_stamp
from pi_vla_ros.nodes.sim_node import SimNode
from pi_vla_ros.ros import Node, Parameter, SingleThreadedExecutor, msgs
from pi_vla_ros.runner import drain, isolated_context

ARM = ["left_waist", "left_shoulder", "left_elbow", "left_forearm_roll", "left_wrist_angle", "left_wrist_rotate"]


@pytest.fixture
def sim():
    context = isolated_context()
    node = SimNode(context=context, parameter_overrides=[Parameter("profile", value="bimanual"),
                                                         Parameter("seed", value=3), Parameter("lockstep", value=True)])
    tester = Node("tester", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(tester)

    def spin_until(t):
        drain(executor)
        while node.sim.time < t - 1e-9:
            node.step()
            drain(executor)

    yield node, tester, spin_until
    node.destroy_node()
    tester.destroy_node()
    context.try_shutdown()


def _traj(names, times, positions, stamp=0.0):
    return msgs.JointTrajectory(header=msgs.Header(stamp=to_stamp(stamp)), joint_names=names, points=[
        msgs.JointTrajectoryPoint(positions=list(p), time_from_start=to_duration(t)) for t, p in zip(times, positions)])


def _arm(node):
    return node.sim.joint_positions()[:6]


def test_trajectory_topic_semantics(sim):
    node, tester, spin_until = sim
    pub = tester.create_publisher(msgs.JointTrajectory, "/left_arm_controller/joint_trajectory", 10)
    spin_until(0.1)
    home = _arm(node)
    goal = home + np.array([0.3, -0.2, 0.2, 0.1, 0.1, 0.1])

    bad = [
        (_traj(ARM, [0.5, 0.5], [goal, goal]), "non_increasing_time"),
        (_traj(ARM[:-1], [0.5], [goal[:-1]]), "missing_joint"),
        (_traj(ARM + ["tail"], [0.5], [list(goal) + [0.0]]), "unknown_joint"),
        (_traj(ARM, [0.05], [goal], stamp=0.01), "stamp_in_past"),       # would have ended at 0.06 s < now
        (_traj(ARM, [0.5], [[np.nan] * 6]), "non_finite"),
    ]
    for msg, _ in bad:
        pub.publish(msg)
    spin_until(0.2)
    counts = node.rejections.counter.as_dict()
    for _, reason in bad:
        assert counts.get(reason) == 1, counts
    np.testing.assert_allclose(_arm(node), home, atol=2e-3)              # nothing moved

    pub.publish(_traj(ARM, [1.0], [goal]))                               # stamp 0: start now, arrive in 1 s
    spin_until(0.7)
    mid = _arm(node)
    assert 0.2 < (mid[0] - home[0]) / 0.3 < 0.8                          # linear in time, roughly halfway
    # a new trajectory replaces the active one outright
    pub.publish(_traj(ARM[::-1], [0.4], [home[::-1]]))                   # any joint order, mapped by name
    spin_until(1.6)
    np.testing.assert_allclose(_arm(node), home, atol=2e-2)
    # a future stamp: nothing happens before it, then the move is made
    start = node.sim.time + 0.5
    pub.publish(_traj(ARM, [0.3], [goal], stamp=start))
    spin_until(start + 0.8)
    np.testing.assert_allclose(_arm(node), goal, atol=2e-2)


def test_forward_position_and_status(sim):
    node, tester, spin_until = sim
    status = []
    tester.create_subscription(msgs.String, "/sim/status", lambda m: status.append(json.loads(m.data)), 10)
    pub = tester.create_publisher(msgs.Float64MultiArray, "/left_arm_position_controller/commands", 10)
    spin_until(0.1)
    pub.publish(msgs.Float64MultiArray(data=[0.0] * 5))                  # wrong size
    target = _arm(node) + 0.1
    pub.publish(msgs.Float64MultiArray(data=target.tolist()))
    spin_until(1.0)
    assert node.rejections.counter.as_dict() == {"wrong_size": 1}
    np.testing.assert_allclose(_arm(node), target, atol=2e-2)
    assert status and status[-1]["instruction"] == node.sim.instruction and status[-1]["success"] is False
