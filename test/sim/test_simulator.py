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

"""Simulator: rendering, episodes, controllers driving the joints, the mobile base."""

import numpy as np
import pytest


def test_render_shape_and_content(sim_for, profile_name):
    sim = sim_for(profile_name)
    for cam in sim.profile.cameras:
        img = sim.render(cam.name)
        assert img.shape == (cam.height, cam.width, 3) and img.dtype == np.uint8
        assert img.std() > 10, f"{cam.name} looks blank"


def _count(img, rgb):
    """Pixels clearly of one primary colour (0 red, 1 green, 2 blue)."""
    img = img.astype(int)
    others = [c for c in range(3) if c != rgb]
    return int(np.sum((img[..., rgb] > 120) & (img[..., rgb] > 2 * img[..., others].max(-1))))


def test_cam_high_sees_the_objects(sim_for, profile_name):
    sim = sim_for(profile_name)
    if sim.profile.name == "mobile_manipulator":
        sim.data.qpos[sim.scene.base_qadr] = 0.0  # at the table
        import mujoco
        mujoco.mj_forward(sim.model, sim.data)
    img = sim.render("cam_high")
    for colour in (0, 1, 2):  # red cube, green bowl, blue cube
        assert _count(img, colour) >= 3, colour


def test_reset_is_deterministic_and_the_target_can_be_swapped(sim_for):
    sim = sim_for("bimanual")
    a = sim.reset(5)
    poses_a = {k: v[0] for k, v in sim.object_poses().items()}
    b = sim.reset(5)
    assert a == b and all(np.array_equal(poses_a[k], v[0]) for k, v in sim.object_poses().items())
    other = "blue_cube" if sim.target_object == "red_cube" else "red_cube"
    c = sim.reset(5, target_object=other)
    assert sim.target_object == other and sim.task.cube(other).color in c
    assert all(np.array_equal(poses_a[k], v[0]) for k, v in sim.object_poses().items())
    with pytest.raises(KeyError):
        sim.reset(5, target_object="green_cube")
    instructions = {sim.reset(s) for s in range(30)}
    assert len(instructions) > 5  # several phrasings
    assert all(("red" in i) != ("blue" in i) for i in instructions)


def test_home_is_held_without_commands(sim_for, profile_name):
    sim = sim_for(profile_name)
    t0 = sim.time
    sim.step(500)
    assert sim.time == pytest.approx(t0 + 500 * sim.physics_dt)
    np.testing.assert_allclose(sim.joint_positions(), sim.home, atol=2e-3)
    assert not sim.success() and not sim.wrong_object_moved()


def test_trajectory_then_forward_position_drive_the_arm(sim_for):
    sim = sim_for("ur5e")
    group = sim.controllers["scaled_joint_trajectory_controller"]
    goal = sim.home[:6] + [0.3, -0.2, 0.2, 0.1, 0.1, 0.3]
    group.trajectory.accept(list(group.joint_names), [(1.0, goal)], 0.0, sim.time, sim.joint_positions()[:6])
    sim.step(250)  # 0.5 s: about halfway
    mid = sim.joint_positions()[:6]
    assert np.all(np.abs(mid - (sim.home[:6] + goal) / 2) < 0.05)
    sim.step(500)
    np.testing.assert_allclose(sim.joint_positions()[:6], goal, atol=5e-3)
    group.position.command(sim.home[:6])  # streaming controller takes over
    sim.step(500)
    np.testing.assert_allclose(sim.joint_positions()[:6], sim.home[:6], atol=5e-3)
    sim.controllers["gripper_controller"].position.command([0.0])
    sim.step(500)
    assert sim.joint_positions()[6] < 0.002


def test_apply_action_checks_its_shape(sim_for):
    sim = sim_for("bimanual")
    with pytest.raises(ValueError):
        sim.apply_action(np.zeros(7))


def test_mobile_base_follows_twist_and_stops_after_timeout(sim_for):
    sim = sim_for("mobile_manipulator")
    x0 = sim.base_pose()[0]
    twist = sim.controllers["mobile_base"]
    for _ in range(20):  # 2 s of 0.2 m/s commands at 10 Hz
        twist.command(0.2, 0.0, sim.time)
        sim.step(50)
    assert sim.base_velocity()[0] == pytest.approx(0.2)
    moved = sim.base_pose()[0] - x0
    assert 0.2 * 2 - 0.05 < moved < 0.2 * 2  # the acceleration limit costs a few cm
    sim.step(500)  # no more commands: stops once the 0.3 s timeout has passed
    assert sim.base_velocity()[0] == 0.0
    x1 = sim.base_pose()[0]
    sim.step(100)
    assert sim.base_pose()[0] == pytest.approx(x1)


def test_urdf_joint_positions_cover_mimic_fingers_and_wheels(sim_for):
    sim = sim_for("mobile_manipulator")
    q = sim.urdf_joint_positions()
    assert set(sim.profile.joints) <= set(q)
    assert {"left_gripper_mimic", "left_wheel_joint", "right_wheel_joint"} <= set(q)
    assert "base_x" not in q and not any(n.endswith("_free") for n in q)
    assert q["left_gripper_mimic"] == pytest.approx(q["left_gripper"], abs=1e-3)
