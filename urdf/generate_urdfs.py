#!/usr/bin/env python3

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

"""Writes the three plain URDFs in this folder (ur5e, bimanual, mobile_manipulator).

The URDFs are the source of truth that everything reads (profiles, simulator, robot_state_publisher);
this script only keeps the shared parts (the ViperX-like arm, the grippers) in one place, the way a
xacro macro would. Run it after editing: ``python urdf/generate_urdfs.py``.

Geometry is primitive shapes approximating the real robots; the kinematics are the real ones:
UR5e from Universal_Robots_ROS2_Description (d1 0.1625, a2 -0.425, a3 -0.3922, d4 0.1333, d5 0.0997,
d6 0.0996), the arms from Interbotix's vx300s description. Conventions:
  * ``*_tcp_link``: the pinch point between the fingers; z = approach direction, y = finger closing axis.
  * ``cam_*_link``: REP 103 camera body frame, x forward (the viewing direction), z up.
  * gripper joints are the opening of one finger in metres (0 = closed); the second finger mimics it.
"""

from __future__ import annotations

from math import asin, atan2, pi, sqrt
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

MATERIALS = {
    "ur_grey": "0.75 0.77 0.8 1", "ur_blue": "0.25 0.45 0.75 1", "dark": "0.15 0.15 0.17 1",
    "black": "0.06 0.06 0.07 1", "alu": "0.6 0.62 0.65 1", "finger": "0.3 0.3 0.32 1",
    "camera": "0.1 0.1 0.1 1", "base_white": "0.85 0.85 0.82 1", "rubber": "0.1 0.1 0.1 1",
}


def f(*v) -> str:
    return " ".join(f"{x:.10g}" if abs(x) > 1e-12 else "0" for x in v)


def look_at_rpy(eye, target, up=(0, 0, 1)) -> tuple[float, float, float]:
    """URDF rpy of a frame at ``eye`` whose x axis points at ``target`` and whose z axis is near ``up``."""
    x = np.subtract(target, eye, dtype=float)
    x /= np.linalg.norm(x)
    y = np.cross(up, x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    r = np.column_stack([x, y, z])
    return atan2(r[2, 1], r[2, 2]), asin(-r[2, 0]), atan2(r[1, 0], r[0, 0])


def shape_xml(shape) -> str:
    kind, *dims = shape
    if kind == "box":
        return f'<box size="{f(*dims)}"/>'
    if kind == "cyl":  # (radius, length), axis along the geometry frame's z
        return f'<cylinder radius="{f(dims[0])}" length="{f(dims[1])}"/>'
    return f'<sphere radius="{f(dims[0])}"/>'


def shape_inertia(shape, m: float) -> tuple[float, float, float]:
    kind, *d = shape
    if kind == "box":
        x, y, z = d
        return m * (y * y + z * z) / 12, m * (x * x + z * z) / 12, m * (x * x + y * y) / 12
    if kind == "cyl":
        r, h = d
        side = m * (3 * r * r + h * h) / 12
        return side, side, m * r * r / 2
    return (0.4 * m * d[0] ** 2,) * 3


def link(name: str, mass: float = 0.0, geoms=(), visual_only=()) -> str:
    """A link whose inertia is that of its first geom (uniform density), with visual+collision per geom.

    ``geoms``: (shape, xyz, rpy, material). ``visual_only``: same, drawn but not collided (cosmetics).
    """
    out = [f'  <link name="{name}">']
    if mass > 0 and geoms:
        shape, xyz, rpy, _ = geoms[0]
        ixx, iyy, izz = shape_inertia(shape, mass)
        out.append(f'    <inertial><origin xyz="{f(*xyz)}" rpy="{f(*rpy)}"/><mass value="{f(mass)}"/>'
                   f'<inertia ixx="{f(ixx)}" ixy="0" ixz="0" iyy="{f(iyy)}" iyz="0" izz="{f(izz)}"/></inertial>')
    for (shape, xyz, rpy, mat), collide in [(g, True) for g in geoms] + [(g, False) for g in visual_only]:
        origin = f'<origin xyz="{f(*xyz)}" rpy="{f(*rpy)}"/>'
        out.append(f'    <visual>{origin}<geometry>{shape_xml(shape)}</geometry><material name="{mat}"/></visual>')
        if collide:
            out.append(f"    <collision>{origin}<geometry>{shape_xml(shape)}</geometry></collision>")
    out.append("  </link>")
    return "\n".join(out)


def joint(name, kind, parent, child, xyz=(0, 0, 0), rpy=(0, 0, 0), axis=None, limit=None, mimic=None,
          damping=None) -> str:
    out = [f'  <joint name="{name}" type="{kind}">',
           f'    <parent link="{parent}"/><child link="{child}"/>',
           f'    <origin xyz="{f(*xyz)}" rpy="{f(*rpy)}"/>']
    if axis is not None:
        out.append(f'    <axis xyz="{f(*axis)}"/>')
    if limit is not None:
        lo, hi, vel, eff = limit
        lims = f'lower="{f(lo)}" upper="{f(hi)}" ' if lo is not None else ""
        out.append(f'    <limit {lims}velocity="{f(vel)}" effort="{f(eff)}"/>')
    if mimic:
        out.append(f'    <mimic joint="{mimic}" multiplier="1" offset="0"/>')
    if damping is not None:
        out.append(f'    <dynamics damping="{f(damping)}" friction="0"/>')
    out.append("  </joint>")
    return "\n".join(out)


def camera_link(name: str) -> str:
    # Small housing behind the optical centre; the frame itself is the camera pose.
    return link(name, 0.0, (), visual_only=[(("box", 0.02, 0.04, 0.02), (-0.012, 0, 0), (0, 0, 0), "camera")])


def robot(name: str, parts: list[str]) -> str:
    mats = "\n".join(f'  <material name="{k}"><color rgba="{v}"/></material>' for k, v in MATERIALS.items())
    return (f'<?xml version="1.0"?>\n<!-- Generated by urdf/generate_urdfs.py: edit that script, then rerun it. -->\n'
            f'<robot name="{name}">\n{mats}\n' + "\n".join(parts) + "\n</robot>\n")


# ----------------------------------------------------------------------------------------------------------
# UR5e + parallel gripper
# ----------------------------------------------------------------------------------------------------------

V_UR = pi  # 180 deg/s on every joint (FACTS §9)


def ur5e_arm() -> list[str]:
    d1, a2, a3, d4, d5, d6 = 0.1625, -0.425, -0.3922, 0.1333, 0.0997, 0.0996
    X = (0, pi / 2, 0)  # rpy that lays a cylinder along the link's x axis
    Y = (pi / 2, 0, 0)  # ... along y
    parts = [
        link("base_link", 0.0, (), [(("cyl", 0.09, 0.01), (0, 0, 0.005), (0, 0, 0), "dark")]),
        joint("base_link-base_link_inertia", "fixed", "base_link", "base_link_inertia", rpy=(0, 0, pi)),
        link("base_link_inertia", 4.0, [(("cyl", 0.075, 0.09), (0, 0, 0.045), (0, 0, 0), "ur_grey")]),
        joint("shoulder_pan_joint", "revolute", "base_link_inertia", "shoulder_link", (0, 0, d1), axis=(0, 0, 1),
              limit=(-2 * pi, 2 * pi, V_UR, 150.0)),
        link("shoulder_link", 3.761, [(("cyl", 0.06, 0.135), (0, 0, -0.01), (0, 0, 0), "ur_blue")]),
        joint("shoulder_lift_joint", "revolute", "shoulder_link", "upper_arm_link", rpy=(pi / 2, 0, 0),
              axis=(0, 0, 1), limit=(-2 * pi, 2 * pi, V_UR, 150.0)),
        link("upper_arm_link", 8.058, [
            (("cyl", 0.045, 0.425), (a2 / 2, 0, 0.138), X, "ur_grey"),
            (("cyl", 0.06, 0.13), (0, 0, 0.1), (0, 0, 0), "ur_blue"),
            (("cyl", 0.05, 0.13), (a2, 0, 0.09), (0, 0, 0), "ur_blue")]),
        joint("elbow_joint", "revolute", "upper_arm_link", "forearm_link", (a2, 0, 0), axis=(0, 0, 1),
              limit=(-pi, pi, V_UR, 150.0)),
        link("forearm_link", 2.846, [
            (("cyl", 0.038, -a3), (a3 / 2, 0, 0.02), X, "ur_grey"),
            (("cyl", 0.04, 0.12), (a3, 0, 0.08), (0, 0, 0), "ur_blue")]),
        joint("wrist_1_joint", "revolute", "forearm_link", "wrist_1_link", (a3, 0, d4), axis=(0, 0, 1),
              limit=(-2 * pi, 2 * pi, V_UR, 28.0)),
        link("wrist_1_link", 1.37, [(("cyl", 0.04, 0.1), (0, -0.05, 0), Y, "ur_grey")]),
        joint("wrist_2_joint", "revolute", "wrist_1_link", "wrist_2_link", (0, -d5, 0), (pi / 2, 0, 0),
              axis=(0, 0, 1), limit=(-2 * pi, 2 * pi, V_UR, 28.0)),
        link("wrist_2_link", 1.3, [(("cyl", 0.04, 0.09), (0, 0.045, 0), Y, "ur_blue")]),
        joint("wrist_3_joint", "revolute", "wrist_2_link", "wrist_3_link", (0, d6, 0), (pi / 2, pi, pi),
              axis=(0, 0, 1), limit=(-2 * pi, 2 * pi, V_UR, 28.0)),
        link("wrist_3_link", 0.365, [(("cyl", 0.0375, 0.025), (0, 0, -0.0125), (0, 0, 0), "ur_grey")]),
        joint("wrist_3-flange", "fixed", "wrist_3_link", "flange", rpy=(0, -pi / 2, -pi / 2)),
        link("flange"),
        joint("flange-tool0", "fixed", "flange", "tool0", rpy=(pi / 2, 0, pi / 2)),
        link("tool0"),
    ]
    # Parallel gripper on the flange (tool0 z = approach). Fingers slide along tool y.
    fz = 0.07  # finger joint plane along the approach axis
    finger = ("box", 0.02, 0.012, 0.06)
    parts += [
        joint("tool0-gripper_base", "fixed", "tool0", "gripper_base_link"),
        link("gripper_base_link", 0.6, [
            (("box", 0.05, 0.11, 0.05), (0, 0, 0.045), (0, 0, 0), "dark"),
            (("cyl", 0.035, 0.02), (0, 0, 0.01), (0, 0, 0), "black")]),
        joint("gripper_joint", "prismatic", "gripper_base_link", "gripper_finger_a_link", (0, 0, fz),
              axis=(0, 1, 0), limit=(0.0, 0.04, 0.1, 40.0)),
        link("gripper_finger_a_link", 0.05, [(finger, (0, 0.006, 0.03), (0, 0, 0), "finger")]),
        joint("gripper_mimic_joint", "prismatic", "gripper_base_link", "gripper_finger_b_link", (0, 0, fz),
              axis=(0, -1, 0), limit=(0.0, 0.04, 0.1, 40.0), mimic="gripper_joint"),
        link("gripper_finger_b_link", 0.05, [(finger, (0, -0.006, 0.03), (0, 0, 0), "finger")]),
        joint("gripper_base-tcp", "fixed", "gripper_base_link", "tcp_link", (0, 0, 0.10)),
        link("tcp_link"),
        # Wrist camera on the palm, beside the fingers, looking along the approach axis at the pinch point.
        joint("gripper_base-cam_wrist", "fixed", "gripper_base_link", "cam_wrist_link", (-0.05, 0, 0.03),
              look_at_rpy((-0.05, 0, 0.03), (0, 0, 0.16), up=(-1, 0, 0))),
        camera_link("cam_wrist_link"),
    ]
    return parts


def ur5e() -> str:
    cam_eye, cam_target = (1.05, 0.0, 0.75), (0.4, 0.0, 0.0)  # across the table, looking back at the robot
    parts = [
        link("world"),
        # The robot stands on the table top (world z = 0); its workspace is +x.
        joint("world-base_link", "fixed", "world", "base_link"),
        *ur5e_arm(),
        joint("world-cam_high", "fixed", "world", "cam_high_link", cam_eye, look_at_rpy(cam_eye, cam_target)),
        camera_link("cam_high_link"),
    ]
    return robot("ur5e", parts)


# ----------------------------------------------------------------------------------------------------------
# ViperX 300s-like arm (ALOHA follower), Interbotix kinematics and limits
# ----------------------------------------------------------------------------------------------------------

V_VX = pi


def vx300s_arm(p: str, parent: str, xyz, yaw: float, cam: str) -> list[str]:
    """One arm with prefix ``p`` (``left_`` / ``right_``) mounted on ``parent`` at ``xyz`` facing ``yaw``."""
    X = (0, pi / 2, 0)
    up_len = sqrt(0.3 ** 2 + 0.05955 ** 2)
    finger = ("box", 0.05, 0.01, 0.022)
    return [
        joint(f"{p}mount", "fixed", parent, f"{p}base_link", xyz, (0, 0, yaw)),
        link(f"{p}base_link", 0.97, [(("box", 0.12, 0.12, 0.065), (0, 0, 0.0325), (0, 0, 0), "black")]),
        joint(f"{p}waist", "revolute", f"{p}base_link", f"{p}shoulder_link", (0, 0, 0.079), axis=(0, 0, 1),
              limit=(-pi, pi, V_VX, 10.0)),
        link(f"{p}shoulder_link", 0.8, [(("cyl", 0.045, 0.06), (0, 0, 0.015), (0, 0, 0), "dark")]),
        joint(f"{p}shoulder", "revolute", f"{p}shoulder_link", f"{p}upper_arm_link", (0, 0, 0.04805),
              axis=(0, 1, 0), limit=(-1.85005, 1.25664, V_VX, 20.0)),
        link(f"{p}upper_arm_link", 0.79, [
            (("cyl", 0.025, up_len), (0.05955 / 2, 0, 0.15), (0, atan2(0.05955, 0.3), 0), "black"),
            (("cyl", 0.03, 0.07), (0, 0, 0), (pi / 2, 0, 0), "dark")]),
        joint(f"{p}elbow", "revolute", f"{p}upper_arm_link", f"{p}upper_forearm_link", (0.05955, 0, 0.3),
              axis=(0, 1, 0), limit=(-1.76278, 1.6057, V_VX, 15.0)),
        link(f"{p}upper_forearm_link", 0.32, [
            (("cyl", 0.024, 0.2), (0.1, 0, 0), X, "black"),
            (("cyl", 0.028, 0.065), (0, 0, 0), (pi / 2, 0, 0), "dark")]),
        joint(f"{p}forearm_roll", "revolute", f"{p}upper_forearm_link", f"{p}lower_forearm_link", (0.2, 0, 0),
              axis=(1, 0, 0), limit=(-pi, pi, V_VX, 2.0)),
        link(f"{p}lower_forearm_link", 0.41, [(("cyl", 0.022, 0.1), (0.05, 0, 0), X, "black")]),
        joint(f"{p}wrist_angle", "revolute", f"{p}lower_forearm_link", f"{p}wrist_link", (0.1, 0, 0),
              axis=(0, 1, 0), limit=(-1.8675, 2.23402, V_VX, 5.0)),
        link(f"{p}wrist_link", 0.115, [(("box", 0.06, 0.05, 0.04), (0.035, 0, 0), (0, 0, 0), "dark")]),
        joint(f"{p}wrist_rotate", "revolute", f"{p}wrist_link", f"{p}gripper_link", (0.069744, 0, 0),
              axis=(1, 0, 0), limit=(-pi, pi, V_VX, 1.0)),
        link(f"{p}gripper_link", 0.25, [
            (("box", 0.035, 0.1, 0.04), (0.055, 0, 0), (0, 0, 0), "dark"),
            (("cyl", 0.025, 0.04), (0.02, 0, 0), X, "black")]),
        joint(f"{p}gripper", "prismatic", f"{p}gripper_link", f"{p}finger_a_link", (0.0743, 0, 0),
              axis=(0, 1, 0), limit=(0.0, 0.04, 0.1, 10.0)),
        link(f"{p}finger_a_link", 0.034, [(finger, (0.025, 0.005, 0), (0, 0, 0), "finger")]),
        joint(f"{p}gripper_mimic", "prismatic", f"{p}gripper_link", f"{p}finger_b_link", (0.0743, 0, 0),
              axis=(0, -1, 0), limit=(0.0, 0.04, 0.1, 10.0), mimic=f"{p}gripper"),
        link(f"{p}finger_b_link", 0.034, [(finger, (0.025, -0.005, 0), (0, 0, 0), "finger")]),
        # TCP: z along the approach (gripper x), y along the finger closing axis.
        joint(f"{p}gripper-tcp", "fixed", f"{p}gripper_link", f"{p}tcp_link", (0.1, 0, 0), (0, pi / 2, 0)),
        link(f"{p}tcp_link"),
        # Wrist camera on top of the gripper, looking past the fingers (ALOHA's wrist cameras).
        joint(f"{p}gripper-{cam}", "fixed", f"{p}gripper_link", f"{cam}_link", (0.02, 0, 0.065),
              look_at_rpy((0.02, 0, 0.065), (0.17, 0, -0.01))),
        camera_link(f"{cam}_link"),
    ]


def bimanual() -> str:
    # ALOHA-style: arms on the table top (world z = 0) facing each other across it along x.
    cam_eye, cam_target = (0.0, -0.62, 0.62), (0.0, 0.02, 0.0)
    parts = [
        link("world"),
        *vx300s_arm("left_", "world", (-0.47, 0, 0), 0.0, "cam_left_wrist"),
        *vx300s_arm("right_", "world", (0.47, 0, 0), pi, "cam_right_wrist"),
        joint("world-cam_high", "fixed", "world", "cam_high_link", cam_eye, look_at_rpy(cam_eye, cam_target)),
        camera_link("cam_high_link"),
    ]
    return robot("bimanual", parts)


def mobile_manipulator() -> str:
    # Mobile ALOHA-like: base_link on the floor between the drive wheels, x forward. Both arms sit side by
    # side at the front, facing forward, just above table height (0.70 m); cam_high on a mast behind them.
    wheel_r, wheel_y, mount_z = 0.08, 0.23, 0.72
    cam_eye, cam_target = (-0.05, 0.0, 1.25), (0.62, 0.0, 0.70)
    wheel = (("cyl", wheel_r, 0.05), (0, 0, 0), (pi / 2, 0, 0), "rubber")
    parts = [
        link("base_link", 30.0, [(("box", 0.56, 0.42, 0.16), (0, 0, 0.17), (0, 0, 0), "base_white")], visual_only=[
            (("box", 0.08, 0.3, mount_z - 0.25), (-0.1, 0, (mount_z + 0.25) / 2), (0, 0, 0), "alu"),
            (("box", 0.42, 0.62, 0.02), (0.1, 0, mount_z - 0.01), (0, 0, 0), "alu"),
            (("cyl", 0.015, 1.25 - mount_z), (-0.08, 0, (1.25 + mount_z) / 2), (0, 0, 0), "alu")]),
        joint("left_wheel_joint", "continuous", "base_link", "left_wheel_link", (0, wheel_y, wheel_r),
              axis=(0, 1, 0), limit=(None, None, 20.0, 50.0)),
        link("left_wheel_link", 1.0, [wheel]),
        joint("right_wheel_joint", "continuous", "base_link", "right_wheel_link", (0, -wheel_y, wheel_r),
              axis=(0, 1, 0), limit=(None, None, 20.0, 50.0)),
        link("right_wheel_link", 1.0, [wheel]),
        joint("front_caster_joint", "fixed", "base_link", "front_caster_link", (0.22, 0, 0.035)),
        link("front_caster_link", 0.2, [(("sphere", 0.035), (0, 0, 0), (0, 0, 0), "rubber")]),
        joint("rear_caster_joint", "fixed", "base_link", "rear_caster_link", (-0.22, 0, 0.035)),
        link("rear_caster_link", 0.2, [(("sphere", 0.035), (0, 0, 0), (0, 0, 0), "rubber")]),
        *vx300s_arm("left_", "base_link", (0.2, 0.2, mount_z), 0.0, "cam_left_wrist"),
        *vx300s_arm("right_", "base_link", (0.2, -0.2, mount_z), 0.0, "cam_right_wrist"),
        joint("base-cam_high", "fixed", "base_link", "cam_high_link", cam_eye, look_at_rpy(cam_eye, cam_target)),
        camera_link("cam_high_link"),
    ]
    return robot("mobile_manipulator", parts)


if __name__ == "__main__":
    for name, make in (("ur5e", ur5e), ("bimanual", bimanual), ("mobile_manipulator", mobile_manipulator)):
        (HERE / f"{name}.urdf").write_text(make())
        print("wrote", HERE / f"{name}.urdf")
