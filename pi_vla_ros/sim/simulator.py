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

"""``Simulator``: a profile's robot in MuJoCo, driven through ros2_control-like controllers. ROS-free.

Each physics step every controller group is sampled at the current sim time and its position targets go
to the joints' position actuators; a mobile base integrates its (timed-out, velocity- and acceleration-
limited) twist kinematically. A ROS node publishes ``/clock``, ``/joint_states`` and camera images from
this object and feeds controller messages into ``controllers[name]``.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from pi_vla_ros.profiles import RobotProfile, load_profile
from pi_vla_ros.sim.controllers import JointGroup, TwistController
from pi_vla_ros.sim.scene import Grasp, build_scene
from pi_vla_ros.sim.tasks import make_task


class Simulator:
    """The simulated robot, its task and its controllers.

    ``controllers``: one entry per profile controller name. Joint groups are :class:`JointGroup` (both a
    ``.trajectory`` and a ``.position`` controller; the most recently commanded one drives), a mobile base
    is a :class:`TwistController`. Joint vectors are in the profile's joint order (``profile.joints``).
    """

    def __init__(self, profile: RobotProfile | str, seed: int = 0, task: str | None = None):
        """``task``: a task type of :data:`pi_vla_ros.sim.tasks.TASKS` instead of the profile's (e.g.
        ``pick_place_sequence``, the multi-step task on the same objects).
        """
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        p = self.profile
        self.task = make_task(p.task, float(p.sim.get("table", {}).get("top_z", 0.0)), task)
        self.scene = build_scene(p, self.task)
        self.model = self.scene.model
        self.data = mujoco.MjData(self.model)
        self.grasp = Grasp(self.scene, self.data, self.task, p.sim.get("grasp"))
        self.task.bind(self.model, self.data, self.grasp.held)
        lower, upper = p.lower(), p.upper()
        self.controllers: dict[str, JointGroup | TwistController] = {}
        self._groups: list[tuple[JointGroup, np.ndarray, np.ndarray]] = []  # group, actuator ids, joint indices
        self._twist: TwistController | None = None
        for c in p.controllers:
            if c.interface == "twist":
                self._twist = self.controllers[c.name] = TwistController(c.timeout_s)
                continue
            idx = np.array([p.joints.index(j) for j in c.joints])
            group = JointGroup(c.name, c.joints, lower[idx], upper[idx])
            self.controllers[c.name] = group
            self._groups.append((group, self.scene.actuators[idx], idx))
        home = p.sim.get("home", {})
        self.home = np.array([float(home.get(j, 0.0)) for j in p.joints])
        m = self.model
        self._mimic = [(m.jnt_qposadr[m.eq_obj1id[e]], m.jnt_qposadr[m.eq_obj2id[e]], m.eq_data[e, :2].copy())
                       for e in range(m.neq) if m.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT]
        self._urdf_joints = [(n, self.model.jnt_qposadr[self.model.joint(n).id]) for n in self.scene.urdf_joints]
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._rng = np.random.default_rng(seed)
        self.seed = seed
        self.base_vel = np.zeros(2)          # achieved (linear_x, angular_z)
        lim = p.base_limits
        self._base_lim = tuple(float(lim.get(k, math.inf))
                               for k in ("linear_x", "angular_z", "linear_x_accel", "angular_z_accel"))
        self.instruction = ""
        self.reset(seed)

    # ---- time ----------------------------------------------------------------------------------------
    @property
    def physics_dt(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def time(self) -> float:
        return float(self.data.time)

    # ---- episodes ------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, target_object: str | None = None) -> str:
        """New episode: robot at home, objects placed from ``seed`` (None: continue this simulator's
        random stream), controllers reset to hold home. Returns the instruction.
        """
        if seed is not None:
            self._rng, self.seed = np.random.default_rng(seed), seed
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        self.grasp.release_all()
        d.qpos[self.scene.qadr] = self.home
        for child, parent, (offset, scale) in self._mimic:  # URDF mimic joints start consistent
            d.qpos[child] = offset + scale * d.qpos[parent]
        self.instruction = self.task.reset(self._rng, target_object)
        if self.scene.base_qadr is not None:
            d.qpos[self.scene.base_qadr] = self.task.base_start or (0.0, 0.0, 0.0)
            # Base pose and wheel angles integrated by _drive_base (x, y, yaw, left, right).
            self._odom = [*d.qpos[self.scene.base_qadr], *d.qpos[self.scene.wheel_qadr]]
            self._odom_qadr = [*self.scene.base_qadr, *self.scene.wheel_qadr]
            self._odom_dadr = [*self.scene.base_dadr, *self.scene.wheel_dadr]
        self.base_vel[:] = 0.0
        d.ctrl[self.scene.actuators] = self.home
        for group, _, idx in self._groups:
            group.reset(self.home[idx])
        if self._twist is not None:
            self._twist.reset()
        mujoco.mj_forward(m, d)
        self.task.record_start()
        return self.instruction

    def step(self, n: int = 1) -> None:
        """Advance ``n`` physics steps; the controllers are sampled at every step."""
        m, d = self.model, self.data
        for _ in range(n):
            t = d.time
            for group, act, _ in self._groups:
                d.ctrl[act] = group.target(t)
            if self._twist is not None:
                self._drive_base(*self._twist.velocity(t))
            self.grasp.update()
            mujoco.mj_step(m, d)
        self.task.update(d.time)  # per-subtask progress, judged as it happens

    def apply_action(self, action) -> None:
        """Drive the robot from one action-layout vector: absolute joint targets streamed to each group's
        forward position controller, plus (mobile) base linear_x / angular_z as a twist command.
        """
        a = np.asarray(action, dtype=float)
        if a.shape != (self.profile.action_dim,):
            raise ValueError(f"action has shape {a.shape}, expected ({self.profile.action_dim},)")
        for group, _, idx in self._groups:
            group.position.command(a[idx])
        if self._twist is not None:
            n = len(self.profile.joints)
            self._twist.command(a[n], a[n + 1], self.time)

    def _drive_base(self, v_cmd: float, w_cmd: float) -> None:
        """Kinematic differential drive: the twist, limited in speed and acceleration, is integrated here
        and written as the base joints' position (at the start of the step) and velocity, so that mj_step
        moves them exactly as commanded whatever the arms push. Plain floats: this runs every step.
        """
        s, d, dt = self.scene, self.data, self.physics_dt
        v_max, w_max, a_v, a_w = self._base_lim
        v0, w0 = self.base_vel
        v = v0 + min(max(min(max(v_cmd, -v_max), v_max) - v0, -a_v * dt), a_v * dt)
        w = w0 + min(max(min(max(w_cmd, -w_max), w_max) - w0, -a_w * dt), a_w * dt)
        self.base_vel[:] = v, w
        x, y, yaw, left, right = self._odom
        half = w * s.wheel_separation / 2
        vel = (v * math.cos(yaw), v * math.sin(yaw), w, (v - half) / s.wheel_radius, (v + half) / s.wheel_radius)
        for qadr, dadr, q, qd in zip(self._odom_qadr, self._odom_dadr, self._odom, vel):
            d.qpos[qadr], d.qvel[dadr] = q, qd
        self._odom = [q + qd * dt for q, qd in zip(self._odom, vel)]

    # ---- state ---------------------------------------------------------------------------------------
    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self.scene.qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self.scene.dadr].copy()

    def joint_efforts(self) -> np.ndarray:
        """Actuator torque/force on each joint (gravity compensation excluded)."""
        return self.data.qfrc_actuator[self.scene.dadr].copy()

    def joint_state(self) -> dict[str, tuple[float, float, float]]:
        """name -> (position, velocity, effort), profile joints only."""
        return {j: (float(p), float(v), float(e)) for j, p, v, e in
                zip(self.profile.joints, self.joint_positions(), self.joint_velocities(), self.joint_efforts())}

    def urdf_joint_positions(self) -> dict[str, float]:
        """Every 1-DoF URDF joint, incl. mimic fingers and wheels (for robot_state_publisher / RViz)."""
        return {name: float(self.data.qpos[adr]) for name, adr in self._urdf_joints}

    def base_pose(self) -> np.ndarray | None:
        """(x, y, yaw) of a mobile base in the world (odometry is exact in simulation), else None."""
        return None if self.scene.base_qadr is None else self.data.qpos[self.scene.base_qadr].copy()

    def base_velocity(self) -> np.ndarray | None:
        """Achieved (linear_x, angular_z) of a mobile base, else None."""
        return None if self.scene.base_qadr is None else self.base_vel.copy()

    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return self.task.object_poses()

    def success(self) -> bool:
        return self.task.success()

    def wrong_object_moved(self) -> bool:
        return self.task.wrong_object_moved()

    @property
    def target_object(self) -> str:
        return self.task.target_object

    # ---- cameras -------------------------------------------------------------------------------------
    def render(self, camera_name: str) -> np.ndarray:
        """RGB image (height x width x 3, uint8) from a profile camera, at the profile's resolution."""
        cam = self.profile.camera(camera_name)
        key = (cam.width, cam.height)
        if key not in self._renderers:  # lazily: needs a GL context (MUJOCO_GL=egl when headless)
            self._renderers[key] = mujoco.Renderer(self.model, height=cam.height, width=cam.width)
        r = self._renderers[key]
        r.update_scene(self.data, camera=self.scene.cameras[camera_name])
        return r.render()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
