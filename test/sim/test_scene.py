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

"""The URDFs and the MuJoCo model built from them."""

import importlib.util
import math

import mujoco
import numpy as np
import pytest

from pi_vla_ros.profiles import load_profile, share_dir


def test_urdf_limits_are_the_model_limits(sim_for, profile_name):
    sim = sim_for(profile_name)
    m, p = sim.model, sim.profile
    for j in p.joints:
        lim = p.limits[j]  # parsed from the URDF by urdf_parser_py
        jid, aid = m.joint(j).id, m.actuator(j).id
        np.testing.assert_allclose(m.jnt_range[jid], [lim.lower, lim.upper], err_msg=j)
        np.testing.assert_allclose(m.actuator_ctrlrange[aid], [lim.lower, lim.upper], err_msg=j)
        np.testing.assert_allclose(m.jnt_actfrcrange[jid], [-lim.effort, lim.effort], err_msg=j)
        assert m.jnt_limited[jid] and m.actuator_ctrllimited[aid] and m.jnt_actfrclimited[jid]


def test_ur5e_limits_and_kinematics_are_the_real_robot():
    p = load_profile("ur5e")
    arm = p.joints[:6]
    assert all(p.limits[j].velocity == pytest.approx(math.pi) for j in arm)
    assert [p.limits[j].upper for j in arm] == pytest.approx([2 * math.pi] * 2 + [math.pi] + [2 * math.pi] * 3)
    assert [p.limits[j].lower for j in arm] == pytest.approx([-2 * math.pi] * 2 + [-math.pi] + [-2 * math.pi] * 3)
    assert [p.limits[j].effort for j in arm] == [150, 150, 150, 28, 28, 28]
    from pi_vla_ros.sim.scene import with_mujoco_compiler
    m = mujoco.MjSpec.from_string(with_mujoco_compiler(p.urdf_xml())).compile()
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    # All joints at zero: tool0 at (-(a2 + a3), -(d4 + d6), d1 - d5) in UR's "base" frame, which is
    # base_link turned by pi about z.
    np.testing.assert_allclose(d.xpos[m.body("tool0").id], [0.8172, 0.2329, 0.0628], atol=1e-6)


def test_cameras_sit_on_their_links(sim_for, profile_name):
    sim = sim_for(profile_name)
    for cam in sim.profile.cameras:
        cid = sim.model.camera(cam.name).id
        assert sim.model.cam_bodyid[cid] == sim.model.body(f"{cam.name}_link").id


def test_mobile_base_has_planar_joints_and_continuous_wheels(sim_for):
    m = sim_for("mobile_manipulator").model
    for name in ("base_x", "base_y", "base_yaw"):
        assert m.joint(name).id >= 0
    for wheel in ("left_wheel_joint", "right_wheel_joint"):
        assert not m.jnt_limited[m.joint(wheel).id]


def test_urdf_files_match_their_generator():
    path = share_dir() / "urdf" / "generate_urdfs.py"
    spec = importlib.util.spec_from_file_location("generate_urdfs", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name in ("ur5e", "bimanual", "mobile_manipulator"):
        assert getattr(gen, name)() == (share_dir() / "urdf" / f"{name}.urdf").read_text(), \
            f"urdf/{name}.urdf is stale: run python urdf/generate_urdfs.py"
