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

"""Teleop core: leader mapping, Pinocchio IK against MuJoCo's kinematics, twist semantics, keyboard keys."""

import numpy as np
import pinocchio as pin
import pytest

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.teleop import ArmIK, KeyboardTwist, LeaderMap, LeaderSource, Teleop, TeleopConfig
from pi_vla_ros.profiles import load_profile

ALOHA_NAMES = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper", "left_finger",
               "right_finger"]


@pytest.fixture(scope="module")
def bimanual():
    return load_profile("bimanual")


def aloha_map(profile):
    sources = [LeaderSource("left_", ignore=("left_finger", "right_finger")),
               LeaderSource("right_", ignore=("left_finger", "right_finger"))]
    return LeaderMap(profile, sources, {"left_gripper": (0.04, 0.0), "right_gripper": (0.04, 0.0)})


def leader_teleop(profile, **config):
    return Teleop(profile, "leader", TeleopConfig(**config), leader=aloha_map(profile), n_leaders=2)


def home(profile):
    return np.array([float(profile.sim["home"].get(j, 0.0)) for j in profile.joints])


def test_leader_map_prefix_ignore_scale(bimanual):
    m = aloha_map(bimanual)
    out = m.targets(1, ALOHA_NAMES, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5, 0.01, -0.01])
    named = {bimanual.joints[i]: v for i, v in out.items()}
    assert named == {"right_waist": 0.1, "right_shoulder": 0.2, "right_elbow": 0.3, "right_forearm_roll": 0.4,
                     "right_wrist_angle": 0.5, "right_wrist_rotate": 0.6, "right_gripper": pytest.approx(0.02)}
    renamed = LeaderMap(bimanual, [LeaderSource(rename={"joint1": "left_waist", "arm/joint2": "left_elbow"},
                                                prefix="arm/")])
    assert renamed.targets(0, ["joint1", "joint2"], [1.0, 2.0]) == {0: 1.0, 2: 2.0}


@pytest.mark.parametrize("names,positions,reason", [
    (["waist", "shoulder"], [0.1], "leader_state_size"),
    (["waist", "waist"], [0.1, 0.2], "duplicate_leader_joint"),
    (["waist", "tail"], [0.1, 0.2], "unknown_leader_joint"),
    (["waist", "shoulder"], [0.1, float("nan")], "non_finite_leader"),
    (["waist", "shoulder"], [0.1, float("inf")], "non_finite_leader"),
    (["waist"], [[0.1, 0.2]], "leader_state_size"),
])
def test_leader_message_rejected_whole(bimanual, names, positions, reason):
    tel = leader_teleop(bimanual)
    tel.engage(home(bimanual))
    with pytest.raises(RejectedInput) as err:
        tel.on_leader(0, names, positions, 0.0)
    assert err.value.reason == reason
    assert tel._leader_values == {}      # nothing of a rejected message was taken


def test_two_leaders_cannot_drive_one_joint(bimanual):
    m = LeaderMap(bimanual, [LeaderSource("left_"), LeaderSource(rename={"w": "left_waist"})])
    m.targets(0, ["waist"], [0.1])
    with pytest.raises(RejectedInput) as err:
        m.targets(1, ["w"], [0.2])
    assert err.value.reason == "duplicate_leader_joint"


def leader_state(profile, q, side):
    idx = [profile.joints.index(f"{side}_{n}") for n in ALOHA_NAMES[:7]]
    values = list(q[idx])
    values[6] /= 0.04     # the leader's gripper reads 0..1
    return ALOHA_NAMES, values + [0.0, 0.0]


def test_leader_follows_goes_stale_and_reengages(bimanual):
    tel = leader_teleop(bimanual, leader_timeout_s=0.1, max_engage_error=0.3)
    q = home(bimanual)
    assert tel.tick(0.0) is None                       # not engaged
    tel.engage(q)
    assert tel.tick(0.0) is None                       # no leader heard yet: nothing owed, no error
    goal = q + 0.1
    for side, source in (("left", 0), ("right", 1)):
        tel.on_leader(source, *leader_state(bimanual, goal, side), now=0.0)
    np.testing.assert_allclose(tel.tick(0.02), goal)   # every joint, both arms, grippers rescaled
    # the right leader falls silent: one stale_leader, then silence (the executor holds)
    tel.on_leader(0, *leader_state(bimanual, goal, "left"), now=0.15)
    with pytest.raises(RejectedInput) as err:
        tel.tick(0.15)
    assert err.value.reason == "stale_leader" and "[1]" in str(err.value)
    assert tel.tick(0.17) is None and tel.tick(0.19) is None
    # it comes back, far from where the follower now is: leader_far once, nothing sent until it is matched
    tel.on_state(goal)
    far = goal.copy()
    far[bimanual.joints.index("right_elbow")] += 0.5
    for source, side in ((0, "left"), (1, "right")):
        tel.on_leader(source, *leader_state(bimanual, far, side), now=0.2)
    with pytest.raises(RejectedInput) as err:
        tel.tick(0.2)
    assert err.value.reason == "leader_far" and "right_elbow" in str(err.value)
    assert tel.tick(0.2) is None
    for source, side in ((0, "left"), (1, "right")):
        tel.on_leader(source, *leader_state(bimanual, goal, side), now=0.22)
    np.testing.assert_allclose(tel.tick(0.22), goal)
    # once matched, the leader is followed wherever it goes
    for source, side in ((0, "left"), (1, "right")):
        tel.on_leader(source, *leader_state(bimanual, far, side), now=0.24)
    np.testing.assert_allclose(tel.tick(0.24), far)
    tel.disengage()
    assert tel.tick(0.26) is None


@pytest.mark.parametrize("robot", ["ur5e", "bimanual", "mobile_manipulator"])
def test_fk_matches_mujoco(robot):
    """Pinocchio's URDF kinematics agree with MuJoCo's own parse of the same URDF (the simulator's)."""
    import mujoco

    from pi_vla_ros.sim.simulator import Simulator

    profile = load_profile(robot)
    sim = Simulator(profile)
    rng = np.random.default_rng(0)
    for arm in profile.sim["arms"]:
        ik = ArmIK(profile.urdf_xml(), tuple(arm["joints"]), arm["tcp"])
        idx = [profile.joints.index(j) for j in arm["joints"]]
        tcp, root = sim.model.body(arm["tcp"]).id, sim.model.body(profile.sim.get("base", {}).get("body", "world")).id
        for _ in range(5):
            q = sim.home.copy()
            q[idx] += rng.uniform(-0.5, 0.5, len(idx))
            sim.data.qpos[sim.scene.qadr] = q
            mujoco.mj_forward(sim.model, sim.data)
            rot = sim.data.xmat[root].reshape(3, 3)
            pose = ik.fk(q[idx])
            np.testing.assert_allclose(pose.translation, rot.T @ (sim.data.xpos[tcp] - sim.data.xpos[root]), atol=1e-9)
            np.testing.assert_allclose(pose.rotation, rot.T @ sim.data.xmat[tcp].reshape(3, 3), atol=1e-9)
    sim.close()


def test_ik_reaches_a_reachable_pose(bimanual):
    arm = bimanual.sim["arms"][1]
    ik = ArmIK(bimanual.urdf_xml(), tuple(arm["joints"]), arm["tcp"])
    q_home = home(bimanual)[[bimanual.joints.index(j) for j in arm["joints"]]]
    rng = np.random.default_rng(1)
    for _ in range(10):
        q_goal = q_home + rng.uniform(-0.3, 0.3, 6)
        goal = ik.fk(q_goal)
        q = q_home
        for _ in range(5):           # a few ticks' worth of iterations from 0.3 rad away
            q = ik.solve(goal, q)
        reached = ik.fk(q)
        np.testing.assert_allclose(reached.translation, goal.translation, atol=1e-6)
        assert np.linalg.norm(pin.log3(reached.rotation.T @ goal.rotation)) < 1e-6


def twist_teleop(profile, arm=0, **config):
    return Teleop(profile, "twist", TeleopConfig(rate_hz=profile.control_rate_hz, **config),
                  arm=profile.sim["arms"][arm])


@pytest.mark.parametrize("frame", ["base", "tool"])
def test_twist_moves_the_tcp_straight_at_the_commanded_speed(bimanual, frame):
    tel = twist_teleop(bimanual, frame=frame)
    q = home(bimanual)
    tel.engage(q)
    idx = tel.arm_idx
    start = tel.ik.fk(q[idx])
    v = np.array([0.04, -0.03, 0.02])
    steps = []
    for k in range(50):                         # 1 s at 50 Hz
        t = k * 0.02
        tel.on_twist([*v, 0, 0, 0], t)
        before = tel.target[idx].copy()
        out = tel.tick(t)
        steps.append(np.abs(out[idx] - before))
        assert out.shape == (bimanual.action_dim,)
    end = tel.ik.fk(out[idx])
    expected = v if frame == "base" else start.rotation @ v
    np.testing.assert_allclose(end.translation - start.translation, expected * 1.0, atol=1e-6)
    assert np.linalg.norm(pin.log3(start.rotation.T @ end.rotation)) < 1e-6   # orientation held
    assert np.all(np.max(steps, axis=0) <= bimanual.velocity()[idx] * 0.02 + 1e-12)
    # the other arm and both grippers never moved
    others = np.setdiff1d(np.arange(len(bimanual.joints)), idx)
    np.testing.assert_array_equal(out[others], q[others])


def test_twist_rotation_about_the_tcp(bimanual):
    tel = twist_teleop(bimanual)
    q = home(bimanual)
    tel.engage(q)
    start = tel.ik.fk(q[tel.arm_idx])
    for k in range(25):                         # 0.5 s at 0.4 rad/s about the root's z: 0.2 rad
        tel.on_twist([0, 0, 0, 0, 0, 0.4], k * 0.02)
        out = tel.tick(k * 0.02)
    end = tel.ik.fk(out[tel.arm_idx])
    np.testing.assert_allclose(end.translation, start.translation, atol=1e-6)
    np.testing.assert_allclose(pin.log3(end.rotation @ start.rotation.T), [0, 0, 0.2], atol=1e-6)


def test_twist_saturates_times_out_and_rejects_nan(bimanual):
    tel = twist_teleop(bimanual, max_linear=0.1, max_angular=0.5, twist_timeout_s=0.25)
    tel.engage(home(bimanual))
    tel.on_twist([3.0, 4.0, 0, 0, 0, 2.0], 0.0)
    np.testing.assert_allclose(tel._twist, [0.06, 0.08, 0, 0, 0, 0.5])
    for bad in ([np.nan, 0, 0, 0, 0, 0], [0, 0, 0, np.inf, 0, 0]):
        with pytest.raises(RejectedInput) as err:
            tel.on_twist(bad, 0.01)
        assert err.value.reason == "non_finite_twist"
    np.testing.assert_allclose(tel._twist, [0.06, 0.08, 0, 0, 0, 0.5])   # the last good twist stands
    moving = tel.tick(0.25).copy()
    assert np.all(tel.tick(0.3) == moving)                              # older than 0.25 s: zero, the arm stops


def test_twist_stops_at_the_limit_without_winding_up(bimanual):
    """Pushed far beyond reach for 4 s, then reversed: it moves back on the next tick (the goal never ran ahead)."""
    tel = twist_teleop(bimanual)
    tel.engage(home(bimanual))
    idx = tel.arm_idx
    for k in range(200):
        tel.on_twist([0.2, 0, 0, 0, 0, 0], k * 0.02)
        out = tel.tick(k * 0.02)
        assert np.all(out[idx] >= bimanual.lower()[idx] - 1e-12) and np.all(out[idx] <= bimanual.upper()[idx] + 1e-12)
    x_far = tel.ik.fk(out[idx]).translation[0]
    tel.on_twist([-0.2, 0, 0, 0, 0, 0], 4.0)
    back = tel.tick(4.0)
    assert tel.ik.fk(back[idx]).translation[0] < x_far - 1e-3


def test_gripper_command(bimanual):
    tel = twist_teleop(bimanual)
    tel.engage(home(bimanual))
    g = bimanual.joints.index("left_gripper")
    tel.on_gripper(0.25)
    steps = [tel.tick(0.02 * k)[g] for k in range(20)]
    np.testing.assert_allclose(steps[:5], 0.04 - 0.002 * np.arange(1, 6))   # at the URDF 0.1 m/s
    assert steps[-1] == pytest.approx(0.01)            # then holds a quarter of the URDF range 0..0.04
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(RejectedInput) as err:
            tel.on_gripper(bad)
        assert err.value.reason == "bad_gripper_command"
    assert tel.tick(0.5)[g] == pytest.approx(0.01)
    tel.disengage()
    tel.engage(home(bimanual))
    assert tel.tick(0.04)[g] == pytest.approx(0.04)    # a new engagement starts from the follower, not the old command


def test_mobile_base_target_is_zero_unless_the_twist_drives_it():
    profile = load_profile("mobile_manipulator")
    tel = twist_teleop(profile)
    tel.engage(home(profile))
    tel.on_twist([0.05, 0, 0, 0, 0, 0], 0.0)
    out = tel.tick(0.0)
    assert out.shape == (16,) and np.all(out[14:] == 0.0)
    base = Teleop(profile, "twist", TeleopConfig(max_linear=0.3), arm="base")
    base.engage(home(profile))
    base.on_twist([0.2, 0.1, 0.0, 0.0, 0.0, 0.4], 0.0)     # linear y: no such axis on a differential drive
    out = base.tick(0.0)
    np.testing.assert_allclose(out[14:], [0.2, 0.4])
    np.testing.assert_array_equal(out[:14], home(profile))  # the arms hold
    assert np.all(base.tick(0.3)[14:] == 0.0)               # the twist timed out: the base stops
    with pytest.raises(ValueError):
        Teleop(load_profile("bimanual"), "twist", arm="base")


def test_config_errors(bimanual):
    with pytest.raises(ValueError):
        Teleop(bimanual, "joystick")
    with pytest.raises(ValueError):
        Teleop(bimanual, "leader")
    with pytest.raises(ValueError):
        LeaderMap(bimanual, [LeaderSource()], {"tail": (1.0, 0.0)})
    with pytest.raises(ValueError):
        ArmIK(bimanual.urdf_xml(), ("left_waist",), "no_such_frame")


def test_keyboard_keys():
    kb = KeyboardTwist(linear_speed=0.05, step_s=0.1)
    assert not np.any(kb.twist(0.0))
    kb.on_key("w", 0.0)
    np.testing.assert_allclose(kb.twist(0.05), [0.05, 0, 0, 0, 0, 0])
    assert not np.any(kb.twist(0.1))                    # one press moves for step_s
    kb.on_key("e", 0.2)
    kb.on_key("e", 0.28)                                # auto-repeat of a held key keeps it moving
    np.testing.assert_allclose(kb.twist(0.35), [0, 0, -0.05, 0, 0, 0])
    kb.on_key("j", 0.4)
    np.testing.assert_allclose(kb.twist(0.4), [0, 0, 0, 0, 0, 0.25])   # rotation: 5x, rad/s
    kb.on_key("+", 0.5)
    kb.on_key("a", 0.5)
    np.testing.assert_allclose(kb.twist(0.5), [0, 0.075, 0, 0, 0, 0])
    kb.on_key("g", 0.6)
    assert kb.gripper == 0.0
    kb.on_key("h", 0.6)
    assert kb.gripper == 1.0
    assert not kb.intervention
    kb.on_key(" ", 0.7)
    assert kb.intervention
    kb.on_key(" ", 0.8)
    assert not kb.intervention and not kb.quit
    kb.on_key("x", 0.9)
    assert kb.quit
