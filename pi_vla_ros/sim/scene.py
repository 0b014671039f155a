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

"""Builds the MuJoCo model of a profile: its URDF (parsed by MuJoCo itself) plus the world around it.

What is added to the URDF robot, all configured by the profile's ``sim:`` section:
  * floor, table, lights, and the task's objects (``tasks.py``);
  * one position actuator per profile joint; its control range is inherited from the joint range, which
    MuJoCo reads from the URDF ``<limit>`` (never re-typed), and its force is limited to the URDF effort;
  * gravity compensation on the robot bodies (real arm controllers compensate gravity internally, so the
    position servos only have to track), and armature (reflected rotor inertia, which also keeps stiff
    servos stable at the 2 ms physics step);
  * a MuJoCo camera on every profile camera's ``<camera>_link`` (REP 103 body frame: x forward, z up);
  * for a mobile base: planar joints ``base_x``, ``base_y``, ``base_yaw`` on the URDF root; the simulator
    drives them kinematically from the commanded twist (the base and wheels do not collide);
  * one inactive weld per (gripper, object) pair used by :class:`Grasp`.

Collision groups: robot geoms touch the world (table, objects) but never each other, so primitive shapes
that overlap near joints cannot lock the arm; the URDF's visual geoms never collide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from pi_vla_ros.profiles import RobotProfile
from pi_vla_ros.sim.tasks import PickPlaceTask

ROBOT_CONTACT = dict(contype=2, conaffinity=1)
BASE_JOINTS = ("base_x", "base_y", "base_yaw")
# Camera frame (MuJoCo: looks along -z, y up) expressed in a REP 103 camera body frame (x forward, z up).
_CAM_MAT = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _cam_quat() -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, _CAM_MAT.flatten())
    return q


def per_joint(table: dict, joint: str, fallback: float) -> float:
    """Value for ``joint`` from a ``{default: x, <joint>: y}`` table."""
    return float(table.get(joint, table.get("default", fallback)))


def with_mujoco_compiler(urdf_xml: str) -> str:
    """Tell MuJoCo's URDF importer to keep fixed links as bodies (cameras, TCPs) and keep visual geoms."""
    i = urdf_xml.index("<robot")
    j = urdf_xml.index(">", i) + 1
    ext = '<mujoco><compiler fusestatic="false" discardvisual="false" strippath="false"/></mujoco>'
    return urdf_xml[:j] + ext + urdf_xml[j:]


@dataclass
class Arm:
    """One arm as the expert and the grasp logic see it."""

    name: str
    joints: tuple[str, ...]
    gripper: str
    tcp_body: int
    qadr: np.ndarray          # qpos addresses of ``joints``
    dadr: np.ndarray          # dof addresses of ``joints``
    gripper_range: tuple[float, float]


@dataclass
class Scene:
    model: mujoco.MjModel
    qadr: np.ndarray                     # qpos address of every profile joint (profile order)
    dadr: np.ndarray                     # dof address of every profile joint
    actuators: np.ndarray                # actuator id of every profile joint
    arms: list[Arm]
    cameras: dict[str, int]
    base_qadr: np.ndarray | None = None  # base_x, base_y, base_yaw
    base_dadr: np.ndarray | None = None
    wheel_qadr: np.ndarray | None = None  # left, right
    wheel_dadr: np.ndarray | None = None
    wheel_radius: float = 0.0
    wheel_separation: float = 0.0
    welds: dict[tuple[str, str], int] = field(default_factory=dict)  # (gripper joint, object) -> eq id
    urdf_joints: tuple[str, ...] = ()    # every joint the URDF defines (incl. mimic fingers, wheels)


def _table(spec: mujoco.MjSpec, cfg: dict) -> None:
    cx, cy = cfg.get("center", (0.0, 0.0))
    sx, sy = cfg.get("size", (1.0, 1.0))
    top, floor = float(cfg.get("top_z", 0.0)), float(cfg.get("floor_z", -0.75))
    tex = spec.add_texture(name="floor_tex", type=mujoco.mjtTexture.mjTEXTURE_2D,
                           builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, rgb1=[0.42, 0.44, 0.47],
                           rgb2=[0.36, 0.38, 0.41], width=256, height=256)
    mat = spec.add_material(name="floor_mat", texrepeat=[6, 6], reflectance=0.0)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[4, 4, 0.1], pos=[0, 0, floor],
                            material="floor_mat", contype=1, conaffinity=3)
    table = spec.worldbody.add_body(name="table", pos=[cx, cy, top])
    table.add_geom(name="table_top", type=mujoco.mjtGeom.mjGEOM_BOX, size=[sx / 2, sy / 2, 0.02], pos=[0, 0, -0.02],
                   rgba=[0.62, 0.5, 0.38, 1], friction=[1.0, 0.01, 0.001], contype=1, conaffinity=3)
    leg_h = (top - 0.04) - floor
    for dx in (-1, 1):
        for dy in (-1, 1):
            table.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.025, 0.025, leg_h / 2], contype=0, conaffinity=0,
                           pos=[dx * (sx / 2 - 0.05), dy * (sy / 2 - 0.05), -0.04 - leg_h / 2], rgba=[0.3, 0.3, 0.3, 1])


def _lights(spec: mujoco.MjSpec, center, top: float) -> None:
    # No shadows: at these resolutions the shadow map only adds blotches a small policy would have to ignore.
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]
    directional = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    spec.worldbody.add_light(name="top", type=directional, pos=[center[0], center[1], top + 2],
                             dir=[0.2, 0.3, -1.0], diffuse=[0.55, 0.55, 0.55], castshadow=False)
    spec.worldbody.add_light(name="fill", type=directional, pos=[center[0], center[1], top + 2],
                             dir=[-0.3, -0.2, -1.0], diffuse=[0.25, 0.25, 0.25], castshadow=False)


def build_scene(profile: RobotProfile, task: PickPlaceTask) -> Scene:
    sim = profile.sim
    spec = mujoco.MjSpec.from_string(with_mujoco_compiler(profile.urdf_xml()))
    spec.option.timestep = float(sim.get("physics_dt", 0.002))
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST  # servo damping handled implicitly
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.visual.global_.offwidth = max([640] + [c.width for c in profile.cameras])
    spec.visual.global_.offheight = max([480] + [c.height for c in profile.cameras])

    urdf_joints = tuple(j.name for j in spec.joints)
    robot_bodies = [b for b in spec.bodies if b.name != "world"]
    for body in robot_bodies:
        body.gravcomp = 1.0
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:  # URDF collision geoms; visual ones import as 0/0
            geom.contype, geom.conaffinity = ROBOT_CONTACT["contype"], ROBOT_CONTACT["conaffinity"]

    base_cfg = sim.get("base")
    if base_cfg is not None:
        root = spec.body(base_cfg.get("body", "base_link"))
        for name, kind, axis in zip(BASE_JOINTS, ("slide", "slide", "hinge"), ((1, 0, 0), (0, 1, 0), (0, 0, 1))):
            root.add_joint(name=name, type=getattr(mujoco.mjtJoint, f"mjJNT_{kind.upper()}"), axis=list(axis))
        for bname in base_cfg.get("noncolliding_bodies", ()):  # kinematic base: it must not push anything
            for geom in spec.body(bname).geoms:
                geom.contype = geom.conaffinity = 0

    act = sim.get("actuators", {})
    kp, armature = act.get("kp", {}), act.get("armature", {})
    for name in profile.joints:
        j = spec.joint(name)
        j.armature = per_joint(armature, name, 0.0)
        a = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=per_joint(kp, name, 100.0), dampratio=float(act.get("dampratio", 1.0)), inheritrange=True)

    cam_cfg, quat = sim.get("cameras", {}), _cam_quat()
    for cam in profile.cameras:
        spec.body(f"{cam.name}_link").add_camera(name=cam.name, quat=quat,
                                                 fovy=float(cam_cfg.get(cam.name, {}).get("fovy", 60.0)))

    table = sim.get("table", {})
    _table(spec, table)
    _lights(spec, table.get("center", (0, 0)), float(table.get("top_z", 0.0)))
    task.add_to_spec(spec)

    arms_cfg = sim.get("arms", [])
    welds = {}
    for arm in arms_cfg:
        for obj in task.object_names:
            eq = spec.add_equality(name=f"grasp_{arm['gripper']}_{obj}", type=mujoco.mjtEq.mjEQ_WELD,
                                   objtype=mujoco.mjtObj.mjOBJ_BODY, name1=arm["tcp"], name2=obj, active=False)
            eq.solref = [0.01, 1.0]
            welds[(arm["gripper"], obj)] = eq

    model = spec.compile()
    jid = [model.joint(n).id for n in profile.joints]
    scene = Scene(
        model=model,
        qadr=model.jnt_qposadr[jid].copy(),
        dadr=model.jnt_dofadr[jid].copy(),
        actuators=np.array([model.actuator(n).id for n in profile.joints]),
        arms=[],
        cameras={c.name: model.camera(c.name).id for c in profile.cameras},
        welds={k: model.equality(e.name).id for k, e in welds.items()},
        urdf_joints=urdf_joints,
    )
    for arm in arms_cfg:
        ids = [model.joint(n).id for n in arm["joints"]]
        g = model.joint(arm["gripper"])
        scene.arms.append(Arm(arm.get("name", arm["gripper"]), tuple(arm["joints"]), arm["gripper"],
                              model.body(arm["tcp"]).id, model.jnt_qposadr[ids].copy(), model.jnt_dofadr[ids].copy(),
                              (float(g.range[0]), float(g.range[1]))))
    if base_cfg is not None:
        bid = [model.joint(n).id for n in BASE_JOINTS]
        wid = [model.joint(n).id for n in base_cfg["wheels"]]
        scene.base_qadr, scene.base_dadr = model.jnt_qposadr[bid].copy(), model.jnt_dofadr[bid].copy()
        scene.wheel_qadr, scene.wheel_dadr = model.jnt_qposadr[wid].copy(), model.jnt_dofadr[wid].copy()
        # Drive geometry from the URDF: wheel bodies' lateral offsets and their (cylinder) radius.
        wb = [model.jnt_bodyid[i] for i in wid]
        scene.wheel_separation = float(abs(model.body_pos[wb[0]][1] - model.body_pos[wb[1]][1]))
        scene.wheel_radius = float(model.geom_size[model.body_geomadr[wb[0]]][0])
    return scene


class Grasp:
    """Robust grasping: a weld attaches an object to a gripper's TCP when the fingers close on it.

    Attach (gripper not holding anything): the commanded opening is below ``close_fraction`` of the
    gripper's range, the object's centre is within ``tolerance`` (m) of the TCP, and the measured finger
    opening says the fingers are stopped by the object (half its size + ``band``) rather than closed on air.
    The weld keeps the relative pose at the moment of attachment. Release: the commanded opening rises
    above ``close_fraction`` of the range; the object then falls under gravity. Finger contacts stay on, so
    the pictures show the fingers really closing on the object.
    """

    def __init__(self, scene: Scene, data: mujoco.MjData, task: PickPlaceTask, cfg: dict | None = None):
        cfg = cfg or {}
        self.scene, self.data, self.task = scene, data, task
        self.tolerance = float(cfg.get("tolerance", 0.03))
        self.close_fraction = float(cfg.get("close_fraction", 0.5))
        self.band = tuple(cfg.get("band", (-0.008, 0.006)))
        m = scene.model
        self._gq = {a.gripper: m.jnt_qposadr[m.joint(a.gripper).id] for a in scene.arms}
        self._ga = {a.gripper: m.actuator(a.gripper).id for a in scene.arms}
        self._obj = {n: m.body(n).id for n in task.object_names}
        self.holding: dict[str, str | None] = {a.gripper: None for a in scene.arms}
        # Per gripper since construction: commanded closings, and those that took hold of a cube. An episode's
        # difference says whether a grasp missed and was tried again (evaluation reports it).
        self.closings = {a.gripper: 0 for a in scene.arms}
        self.attached = {a.gripper: 0 for a in scene.arms}
        self._was_closing = {a.gripper: False for a in scene.arms}
        # Sim time since which each gripper has been commanded closed without holding a cube (None: open, or
        # holding): a grasp that stays empty past the fingers' closing time missed (corrections start there).
        self.closed_empty_since: dict[str, float | None] = {a.gripper: None for a in scene.arms}

    def held(self) -> set[str]:
        return {o for o in self.holding.values() if o is not None}

    def release_all(self) -> None:
        for eq in self.scene.welds.values():
            self.data.eq_active[eq] = 0
        self.holding = {g: None for g in self.holding}
        self.closed_empty_since = {g: None for g in self.holding}

    def missed(self, after_s: float) -> str | None:
        """A gripper that has been closed on nothing for at least ``after_s`` of sim time (a missed grasp), or None."""
        now = float(self.data.time)
        return next((g for g, t in self.closed_empty_since.items() if t is not None and now - t >= after_s), None)

    def update(self) -> None:
        d = self.data
        for arm in self.scene.arms:
            g = arm.gripper
            lo, hi = arm.gripper_range
            closing = bool(d.ctrl[self._ga[g]] < lo + self.close_fraction * (hi - lo))
            self.closings[g] += int(closing and not self._was_closing[g])
            self._was_closing[g] = closing
            empty = closing and self.holding[g] is None
            if not empty:
                self.closed_empty_since[g] = None
            elif self.closed_empty_since[g] is None:
                self.closed_empty_since[g] = float(d.time)
            held = self.holding[g]
            if held is not None:
                if not closing:
                    d.eq_active[self.scene.welds[(g, held)]] = 0
                    self.holding[g] = None
                continue
            if not closing:
                continue
            opening = d.qpos[self._gq[g]]
            p_tcp, r_tcp = d.xpos[arm.tcp_body], d.xmat[arm.tcp_body].reshape(3, 3)
            for name, b in self._obj.items():
                if name in self.held() or np.linalg.norm(d.xpos[b] - p_tcp) > self.tolerance:
                    continue
                half = self.task.cube(name).size / 2
                if not half + self.band[0] <= opening <= half + self.band[1]:
                    continue
                self._attach(g, arm.tcp_body, name, b, p_tcp, r_tcp)
                break

    def _attach(self, gripper: str, tcp: int, name: str, body: int, p_tcp, r_tcp) -> None:
        d, m = self.data, self.scene.model
        eq = self.scene.welds[(gripper, name)]
        # eq_data: anchor (in body2) | relpos of body2 in body1 | relquat body1->body2 | torquescale.
        rel_q = np.zeros(4)
        inv = np.zeros(4)
        mujoco.mju_negQuat(inv, d.xquat[tcp])
        mujoco.mju_mulQuat(rel_q, inv, d.xquat[body])
        m.eq_data[eq, 0:3] = 0.0
        m.eq_data[eq, 3:6] = r_tcp.T @ (d.xpos[body] - p_tcp)
        m.eq_data[eq, 6:10] = rel_q
        m.eq_data[eq, 10] = 1.0
        d.eq_active[eq] = 1
        self.holding[gripper] = name
        self.attached[gripper] += 1
        self.closed_empty_since[gripper] = None
