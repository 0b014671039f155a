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

"""Teleop through the graph in lockstep: leader arms and a TCP twist reach their targets in the simulator, every
command the controllers get comes from the executor within the limits, bad input is counted and held.
"""

import numpy as np
import pinocchio as pin
import pytest

from pi_vla_ros.ros import Node, msgs
from test.nodes.conftest import Tap, controller_topics, finite_command

ALOHA = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper", "left_finger",
         "right_finger"]


class Person:
    """The test's teleoperator: a node with the leader, twist, gripper and intervention publishers."""

    def __init__(self, run):
        self.run = run
        self.node = Node("test_person", **run.node_options())
        run.add_node(self.node)
        pub = self.node.create_publisher
        self.left = pub(msgs.JointState, "/leader_left/joint_states", 10)
        self.right = pub(msgs.JointState, "/leader_right/joint_states", 10)
        self.twist_pub = pub(msgs.Twist, "/pi_vla/teleop/twist", 10)
        self.gripper_pub = pub(msgs.Float64, "/pi_vla/teleop/gripper", 10)
        self.intervention_pub = pub(msgs.Bool, "/pi_vla/intervention", 10)

    def intervene(self, on: bool = True) -> None:
        self.intervention_pub.publish(msgs.Bool(data=on))

    def leaders(self, q, joints, names=ALOHA) -> None:
        for side, pub in (("left", self.left), ("right", self.right)):
            values = [q[joints.index(f"{side}_{n}")] for n in ALOHA[:7]]
            values[6] /= 0.04                      # the leader's gripper reads 0..1
            pub.publish(msgs.JointState(name=list(names), position=[float(v) for v in values] + [0.0, 0.0]))

    def twist(self, v) -> None:
        v = [float(x) for x in v]
        self.twist_pub.publish(msgs.Twist(linear=msgs.Vector3(x=v[0], y=v[1], z=v[2]),
                                          angular=msgs.Vector3(x=v[3], y=v[4], z=v[5])))


def teleop_graph(make_graph, mode, robot="bimanual", **params):
    run = make_graph(robot, teleop=mode, skip=("pi_vla_policy",), overrides={"pi_vla_teleop": params})
    return run, Person(run), Tap(run, controller_topics(run))


def commanded(run, tap) -> np.ndarray:
    """[ticks, joints] positions the controllers were sent, in profile joint order (one message per tick each)."""
    profile = run.sim.profile
    out = None
    for ctrl in profile.controllers:
        if ctrl.interface == "twist":
            continue
        rows = [list(m.points[0].positions) if hasattr(m, "points") else list(m.data)
                for _, m in tap.messages[ctrl.topic]]
        if out is None:
            out = np.zeros((len(rows), len(profile.joints)))
        n = min(len(out), len(rows))
        out = out[:n]
        out[:, [profile.joints.index(j) for j in ctrl.joints]] = np.asarray(rows)[:n]
    return out


def assert_within_limits(run, tap) -> None:
    profile = run.sim.profile
    q = commanded(run, tap)
    assert len(q) > 50 and np.all(np.isfinite(q))
    assert np.all(q >= profile.lower() - 1e-9) and np.all(q <= profile.upper() + 1e-9)
    step = np.abs(np.diff(q, axis=0))
    dt = 1.0 / profile.control_rate_hz
    assert np.all(step <= np.minimum(profile.velocity() * dt, profile.max_step_per_tick) + 1e-9)
    for received in tap.messages.values():
        assert all(finite_command(m) for _, m in received)


def min_jerk(s):
    s = np.clip(s, 0.0, 1.0)
    return 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5


def test_leader_arms_drive_the_follower_through_the_executor(make_graph):
    """The leader mapping is the one config/bimanual.yaml ships (two ALOHA leaders, finger joints ignored)."""
    run, person, tap = teleop_graph(make_graph, "leader")
    profile, sim = run.sim.profile, run.sim.sim
    joints = list(profile.joints)
    start = sim.joint_positions()
    delta = np.zeros(len(joints))
    for side, sign in (("left", 1), ("right", -1)):
        for joint, d in (("waist", 0.5), ("shoulder", 0.3), ("elbow", -0.35), ("wrist_angle", -0.4),
                         ("wrist_rotate", 0.6), ("gripper", -0.03)):
            delta[joints.index(f"{side}_{joint}")] = d * (sign if joint == "waist" else 1)
    goal = start + delta
    person.intervene()
    t0 = 0.3
    while run.sim_time() < 4.0:        # the leaders move there in 2 s and stay
        t = run.sim_time()
        person.leaders(start + min_jerk((t - t0) / 2.0) * delta, joints)
        run.spin_for(0.02)
    np.testing.assert_allclose(sim.joint_positions(), goal, atol=0.01)
    executor, teleop = run.node("pi_vla_executor"), run.node("pi_vla_teleop")
    assert executor.teleop_commands > 150 and teleop.sent == executor.teleop_commands
    assert executor.rejections.counter.as_dict() == {} and teleop.rejections.counter.as_dict() == {}
    # the teleop node itself never publishes to a controller: only the executor does
    assert not {p.topic_name for p in teleop.publishers} & set(controller_topics(run))
    assert_within_limits(run, tap)


def test_leader_must_match_the_follower_and_stale_leader_holds(make_graph):
    run, person, tap = teleop_graph(make_graph, "leader", leader_timeout_s=0.1)
    profile, sim = run.sim.profile, run.sim.sim
    joints = list(profile.joints)
    start = sim.joint_positions()
    far = start.copy()
    far[joints.index("left_elbow")] += 0.6
    person.intervene()
    for _ in range(25):                # 0.5 s of a leader far from the follower: refused, counted once
        person.leaders(far, joints)
        run.spin_for(0.02)
    teleop, executor = run.node("pi_vla_teleop"), run.node("pi_vla_executor")
    assert teleop.rejections.counter.as_dict() == {"leader_far": 1} and teleop.sent == 0
    np.testing.assert_allclose(sim.joint_positions(), start, atol=2e-3)
    moved = start.copy()
    moved[joints.index("left_elbow")] += 0.2
    for k in range(50):                # matched, then moved
        person.leaders(start + min(k / 40, 1.0) * (moved - start), joints)
        run.spin_for(0.02)
    assert teleop.sent > 0
    # unknown leader joints: rejected whole and counted; the follower keeps its last good target
    person.leaders(moved, joints, names=["waist", "tail"] + ALOHA[2:])
    run.spin_for(0.02)
    assert teleop.rejections.counter.as_dict()["unknown_leader_joint"] == 2
    # the leaders fall silent: stale_leader once, then the executor's last command runs out and it holds
    run.spin_for(1.0)
    assert teleop.rejections.counter.as_dict()["stale_leader"] == 1
    assert executor.core.holding and executor.core.stats.watchdog_trips == 1
    q = commanded(run, tap)
    np.testing.assert_array_equal(q[-30:], np.repeat(q[-1:], 30, axis=0))   # the last 0.6 s: one held command
    np.testing.assert_allclose(sim.joint_positions(), moved, atol=0.01)
    assert_within_limits(run, tap)


def tcp_pose(sim, body):
    return sim.data.xpos[body].copy(), sim.data.xmat[body].reshape(3, 3).copy()


@pytest.mark.parametrize("robot,arm", [("bimanual", "right"), ("ur5e", "arm")])
def test_twist_reaches_a_target_pose(make_graph, robot, arm):
    """A person steering the TCP (position and orientation) to a goal pose by looking at where it is."""
    run, person, tap = teleop_graph(make_graph, "twist", robot=robot, twist_arm=arm)
    sim = run.sim.sim
    spec = next(a for a in sim.profile.sim["arms"] if a["name"] == arm)
    body = sim.model.body(spec["tcp"]).id   # fixed-base robots: the URDF root is MuJoCo's world
    p0, r0 = tcp_pose(sim, body)
    p_goal, r_goal = p0 + [0.06, -0.05, -0.08], pin.exp3(np.array([0.0, 0.0, 0.3])) @ r0
    person.intervene()
    person.gripper_pub.publish(msgs.Float64(data=0.0))   # and close the gripper
    while run.sim_time() < 4.0:
        p, r = tcp_pose(sim, body)
        person.twist(np.concatenate([2.0 * (p_goal - p), 2.0 * pin.log3(r_goal @ r.T)]))
        run.spin_for(0.02)
    p, r = tcp_pose(sim, body)
    assert np.linalg.norm(p - p_goal) < 0.005
    assert np.linalg.norm(pin.log3(r_goal @ r.T)) < 0.02
    gripper = sim.profile.joints.index(spec["gripper"])
    assert sim.joint_positions()[gripper] < sim.profile.limits[spec["gripper"]].lower + 0.005
    assert run.node("pi_vla_executor").teleop_commands > 150
    assert_within_limits(run, tap)


def test_bad_twist_and_hand_back(make_graph):
    run, person, tap = teleop_graph(make_graph, "twist", twist_arm="left")
    sim = run.sim.sim
    teleop, executor = run.node("pi_vla_teleop"), run.node("pi_vla_executor")
    person.intervene()
    for k in range(50):
        person.twist([0.05, 0, 0, 0, 0, 0] if k % 5 else [np.nan, 0, 0, 0, 0, 0])
        run.spin_for(0.02)
    person.gripper_pub.publish(msgs.Float64(data=2.0))
    run.spin_for(0.02)
    assert teleop.rejections.counter.as_dict() == {"non_finite_twist": 10, "bad_gripper_command": 1}
    # the person gives the robot back: teleop stops, nothing of the twist survives, the executor holds (no policy)
    person.intervene(False)
    run.spin_for(0.5)                    # the executor holds where the arm was measured; it settles there
    sent, q = teleop.sent, sim.joint_positions()
    for _ in range(50):
        person.twist([0.05, 0, 0, 0, 0, 0])
        run.spin_for(0.02)
    assert teleop.sent == sent and not executor.intervening and executor.core.holding
    np.testing.assert_allclose(sim.joint_positions(), q, atol=1e-4)
    assert_within_limits(run, tap)


def test_twist_drives_the_mobile_base(make_graph):
    run, person, tap = teleop_graph(make_graph, "twist", robot="mobile_manipulator", twist_arm="base")
    sim = run.sim.sim
    q0, x0 = sim.joint_positions(), sim.base_pose()
    person.intervene()
    for _ in range(100):                 # 2 s at 0.2 m/s
        person.twist([0.2, 0, 0, 0, 0, 0])
        run.spin_for(0.02)
    run.spin_for(1.0)                    # the twist times out; the base decelerates at its limit and stops
    moved = sim.base_pose() - x0
    assert 0.35 < moved[0] < 0.5 and abs(moved[2]) < 1e-3
    np.testing.assert_allclose(sim.base_velocity(), [0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(sim.joint_positions(), q0, atol=2e-3)
    twists = [m for _, m in tap.messages["/mobile_base/cmd_vel"]]
    accel = np.abs(np.diff([m.linear.x for m in twists]))
    assert max(m.linear.x for m in twists) == pytest.approx(0.2) and accel.max() <= 1.0 * 0.02 + 1e-9
    assert_within_limits(run, tap)


def test_executor_checks_teleop_commands_like_chunks(make_graph):
    """A teleop command is validated like a chunk and filtered like one; outside an intervention it is dropped."""
    from pi_vla_ros.nodes.common import to_duration, to_stamp

    run = make_graph("bimanual", skip=("pi_vla_policy",))
    person, tap = Person(run), Tap(run, controller_topics(run))
    profile, executor = run.sim.profile, run.node("pi_vla_executor")
    pub = person.node.create_publisher(msgs.JointTrajectory, "/pi_vla/teleop/command", 10)

    def send(values, names=profile.action_names):
        pub.publish(msgs.JointTrajectory(
            header=msgs.Header(stamp=to_stamp(run.sim_time())), joint_names=list(names),
            points=[msgs.JointTrajectoryPoint(positions=[float(v) for v in values], time_from_start=to_duration(t))
                    for t in (0.0, 0.1)]))

    run.spin_for(0.2)
    q = run.sim.sim.joint_positions()
    jump = q.copy()
    jump[profile.joints.index("left_waist")] += 1.0      # 1 rad away: the filter spreads it over many ticks
    send(jump)                                           # no intervention yet: dropped
    run.spin_for(0.1)
    assert executor.teleop_commands == 0
    person.intervene()
    run.spin_for(0.04)
    n_before = sum(len(m) for m in tap.messages.values())
    run.spin_for(0.1)
    assert sum(len(m) for m in tap.messages.values()) == n_before   # a person has it, no teleop yet: silent
    bad = jump.copy()
    bad[3] = np.nan
    send(bad)
    send(jump[::-1], names=list(profile.action_names)[::-1])   # another order: mapped by name, accepted
    for _ in range(60):
        send(jump)
        run.spin_for(0.02)
    assert executor.rejections.counter.as_dict() == {"non_finite_action": 1}
    assert executor.teleop_commands == 61
    waist = commanded(run, tap)[:, profile.joints.index("left_waist")]
    assert waist[-1] > q[profile.joints.index("left_waist")] + 0.5
    assert executor.core.stats.clamps_by_kind.get("velocity", 0) + executor.core.stats.clamps_by_kind.get(
        "acceleration", 0) > 0                           # the jump was limited, not passed through
    assert_within_limits(run, tap)
