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

"""Scripted expert for the pick-and-place tasks, from privileged simulator state.

The expert picks the arm whose base is nearest the named cube, then follows a fixed script of TCP
waypoints (above the cube, down, close, lift, above the bowl, open, up, back home), each segment a
minimum-jerk path in Cartesian space with the gripper pointing straight down and its fingers aligned with
the cube's faces. Joint targets come from damped-least-squares IK on MuJoCo Jacobians (a private MjData,
warm-started from the previous solution), so actions are absolute joint positions in the profile's action
layout at the profile's policy rate. A mobile base first drives forward to ``task.base_goal`` (twist in the
last two action dims), then stops while the arm works.

Multi-step tasks (``task.subtasks``, e.g. both cubes into the bowl in a given order): the script above runs once
per subtask, in order, each planned from the state the previous one left (the arm that finished is back home; the
next subtask's cube picks its own arm). Whether the next subtask may start is the caller's: ``released`` (None:
every subtask at once after the previous; an int n: only subtasks with index < n, the expert holds still at
home until a person's instruction releases the next). Each plan is announced as it is made: an
:class:`Announcement` (subtask index and text, planned start, release and end times) appended to
``announcements`` and passed to every callable in ``listeners``, so a scripted instructor knows when a boundary
comes without watching the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from pi_vla_ros.sim.simulator import Simulator


def min_jerk(s: float) -> float:
    s = min(max(s, 0.0), 1.0)
    return s * s * s * (10 - 15 * s + 6 * s * s)


def slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    d = float(np.dot(q0, q1))
    if d < 0:
        q1, d = -q1, -d
    if d > 0.9995:
        q = q0 + s * (q1 - q0)
    else:
        th = math.acos(d)
        q = (math.sin((1 - s) * th) * q0 + math.sin(s * th) * q1) / math.sin(th)
    return q / np.linalg.norm(q)


def top_down_quat(yaw: float) -> np.ndarray:
    """TCP orientation pointing straight down (z = -world z) with the finger axis (y) at ``yaw``."""
    y = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    z = np.array([0.0, 0.0, -1.0])
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.column_stack([np.cross(y, z), y, z]).flatten())
    return q


@dataclass(frozen=True)
class Announcement:
    """A subtask's plan as the expert makes it (simulated times)."""

    subtask: int          # index into task.subtasks
    text: str             # the subtask as a person says it
    obj: str              # the cube it moves
    arm: str
    start: float          # the arm starts moving
    release: float        # the gripper has opened over the bowl: the cube should then rest there
    end: float            # the arm is back home: the next subtask can start


@dataclass
class Segment:
    duration: float
    pos: np.ndarray | None          # TCP target at the end (None: joint-space move home)
    quat: np.ndarray | None
    gripper: float                   # gripper opening at the end
    name: str = ""                   # what the segment does (a subtask label for recorded demos)


class ScriptedExpert:
    """``act()`` returns the action for the current sim time; call once per policy tick.

    Tunables (profile ``sim.expert``): ``grasp_z`` TCP height above the cube centre when closing,
    ``approach`` / ``lift`` heights above the cube, ``release_z`` TCP height above the table at release,
    ``speed`` / ``accel`` peak TCP speed (m/s) and acceleration (m/s^2), ``gripper_time`` (s) to open or
    close (slow enough for the URDF gripper velocity), ``settle`` (s) to wait after it, ``close_lift`` (m) how far
    the TCP rises while the gripper closes (0: it holds still; > 0: the motion never pauses, which a policy learned
    from the demos needs, as in a pause nothing it observes tells it how long it has waited), ``retries`` how many
    times a subtask's grasp is tried again when the cube did not come up with the lift (the script is planned
    anew from where the arm and the cube are, and announced again), ``fumble_p`` the probability that a subtask's
    first grasp is deliberately off by ``fumble_offset`` (m) across the fingers (drawn from the episode's seed):
    demonstrations that show a missed grasp and its retry, which clean scripted demos never do.
    """

    def __init__(self, sim: Simulator, from_current_state: bool = False):
        """from_current_state: take over mid-episode (a correction) from wherever the robot is, instead of from the
        home pose an episode starts in.
        """
        self.sim = sim
        self.from_current_state = from_current_state
        self.cfg = {"grasp_z": 0.012, "approach": 0.1, "lift": 0.12, "release_z": 0.1, "speed": 0.4,
                    "accel": 1.0, "gripper_time": 0.8, "settle": 0.2, "close_lift": 0.0,
                    "retries": 2, "fumble_p": 0.0, "fumble_offset": 0.035,
                    **sim.profile.sim.get("expert", {})}
        self.rate = sim.profile.policy_rate_hz
        self.ik = mujoco.MjData(sim.model)
        self.released: int | None = None
        self.listeners: list = []
        self.reset()

    # ---- planning ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a new episode (call after ``sim.reset``); the plan is made once the base has arrived."""
        sim = self.sim
        start = sim.joint_positions() if self.from_current_state else sim.home
        self.action = np.concatenate([start, np.zeros(len(sim.profile.base_dims))])
        self.joint_index = {j: i for i, j in enumerate(sim.profile.joints)}
        self.subtask = min(sim.task.current, len(sim.task.subtasks) - 1)  # a takeover resumes where the task is
        self.obj = sim.task.subtasks[self.subtask].obj
        self._select_arm()
        self.t0 = None            # when the current subtask's arm script started
        self.segments: list[Segment] = []
        self.announcements: list[Announcement] = []
        self._q_home_from = None
        self.done = False
        self._rng = np.random.default_rng([self.sim.seed, 7])   # fumbles: the same episode seed, the same demo
        self.retried = 0          # grasps tried again in this episode

    def _select_arm(self) -> None:
        self.arm = self._choose_arm(self.obj)
        self.arm_idx = np.array([self.joint_index[j] for j in self.arm.joints])
        self.grip_idx = self.joint_index[self.arm.gripper]
        self.q = self.action[self.arm_idx].copy()
        self.grip0 = float(self.action[self.grip_idx])
        self.attempt = 0          # grasps of this subtask so far

    def _choose_arm(self, obj: str):
        """The arm whose shoulder (first joint) is nearest the cube in the plane."""
        d, m = self.sim.data, self.sim.model
        c = self.sim.object_poses()[obj][0]
        dist = [np.linalg.norm(d.xanchor[m.joint(a.joints[0]).id][:2] - c[:2]) for a in self.sim.scene.arms]
        return self.sim.scene.arms[int(np.argmin(dist))]

    def _may_start(self, k: int) -> bool:
        return self.released is None or k < self.released

    def _plan(self) -> None:
        sim, cfg, d = self.sim, self.cfg, self.sim.data
        c_pos, c_quat = (x.copy() for x in sim.object_poses()[self.obj])
        # Finger axis along a cube face, the one closest to the current finger axis (no wrist flips).
        home_y = d.xmat[self.arm.tcp_body].reshape(3, 3)[:, 1]
        home_yaw = math.atan2(home_y[1], home_y[0])
        cube_yaw = 2 * math.atan2(c_quat[3], c_quat[0])
        yaw = min((cube_yaw + k * math.pi / 2 for k in range(-4, 5)),
                  key=lambda a: abs(math.remainder(a - home_yaw, 2 * math.pi)))
        down = top_down_quat(yaw)
        lo, hi = self.arm.gripper_range
        bowl = np.array([*sim.task.place_xy(self.obj), sim.task.top_z])
        off = np.zeros(3)
        self.attempt += 1
        if self.attempt == 1 and cfg["fumble_p"] > 0 and self._rng.random() < cfg["fumble_p"]:
            across = yaw + math.pi / 2 * self._rng.choice([-1, 1])     # off the fingers' closing line
            off = cfg["fumble_offset"] * np.array([math.cos(across), math.sin(across), 0.0])
        grasp = c_pos + [0, 0, cfg["grasp_z"]] + off
        closed = grasp + [0, 0, cfg["close_lift"]]
        above_cube = c_pos + [0, 0, cfg["approach"]] + off
        lifted = c_pos + [0, 0, cfg["lift"]]
        release = bowl + [0, 0, cfg["release_z"]]
        above_bowl = release + [0, 0, max(0.0, lifted[2] - release[2])]
        self.tcp0 = (d.xpos[self.arm.tcp_body].copy(), d.xquat[self.arm.tcp_body].copy())
        gt = cfg["gripper_time"]
        self.segments = [
            self._move(self.tcp0[0], above_cube, down, hi, min_t=1.2, name="reach"),
            self._move(above_cube, grasp, down, hi, name="reach"),
            Segment(gt + cfg["settle"], closed, down, lo, "grasp"),  # close
            self._move(closed, lifted, down, lo, name="carry"),
            self._move(lifted, above_bowl, down, lo, name="carry"),
            self._move(above_bowl, release, down, lo, min_t=0.4, name="carry"),
            Segment(gt + cfg["settle"], release, down, hi, "release"),  # open
            self._move(release, release + [0, 0, 0.08], down, hi, min_t=0.5, name="retreat"),
            Segment(1.5, None, None, hi, "retreat"),                  # joint-space back home
        ]
        self.t0 = sim.time
        self._q_home_from = None
        ends = np.cumsum([seg.duration for seg in self.segments]) + self.t0
        self._cube_z0, self._lifted_at = float(c_pos[2]), float(ends[3])   # ends[3]: the end of the lift
        a = Announcement(self.subtask, sim.task.subtasks[self.subtask].text, self.obj, self.arm.name, self.t0,
                         float(ends[6]), float(ends[-1]))
        self.announcements.append(a)
        for listener in self.listeners:
            listener(a)

    def _move(self, a, b, quat, grip, min_t: float = 0.6, name: str = "") -> Segment:
        # A minimum-jerk move of length L over T peaks at 1.875 L/T (speed) and 5.77 L/T^2 (acceleration).
        length = float(np.linalg.norm(np.subtract(b, a)))
        t = max(min_t, 1.875 * length / self.cfg["speed"], math.sqrt(5.77 * length / self.cfg["accel"]))
        return Segment(t, np.array(b), quat, grip, name)

    def phase(self) -> str:
        """The current segment's name: "drive" while a mobile base drives, "wait" while the next subtask is not
        released, "done" after the last subtask's script.
        """
        if self.done:
            return "done"
        if self.t0 is None:
            return "drive" if self.sim.task.base_goal is not None and not self._arrived() else "wait"
        tau = self.sim.time - self.t0
        for seg in self.segments:
            if tau < seg.duration:
                return seg.name
            tau -= seg.duration
        return "wait"

    # ---- acting --------------------------------------------------------------------------------------
    def act(self) -> np.ndarray:
        sim = self.sim
        if self.t0 is None:
            if not self._may_start(self.subtask):   # not even the base moves before the first instruction
                return self._hold()
            if sim.task.base_goal is not None and not self._arrived():
                self.action[-2:] = self._drive()
                return self.action.copy()
            self._plan()
        elif self._grasp_missed() and self.attempt <= self.cfg["retries"]:
            self.retried += 1
            self.grip0 = float(self.action[self.grip_idx])   # the new reach opens the gripper from where it is
            self._plan()
        elif self._script_over() and self.subtask + 1 < len(sim.task.subtasks):
            if not self._may_start(self.subtask + 1):
                return self._hold()
            self.subtask += 1
            self.obj = sim.task.subtasks[self.subtask].obj
            self._select_arm()
            self._plan()
        t = sim.time + 1.0 / self.rate  # the target for the end of this tick
        if sim.profile.base_dims:
            self.action[-2:] = 0.0  # base stopped while the arm works
        tau = t - self.t0
        prev_pos, prev_quat, prev_grip = self.tcp0[0], self.tcp0[1], self.grip0
        q_start = self.q
        for seg in self.segments:
            if tau <= seg.duration:
                s = min_jerk(tau / seg.duration)
                if seg.pos is None:  # home in joint space from wherever the last IK left the arm
                    if self._q_home_from is None:
                        self._q_home_from = self.q.copy()
                    self.q = self._q_home_from + s * (sim.home[self.arm_idx] - self._q_home_from)
                else:
                    pos = prev_pos + s * (seg.pos - prev_pos)
                    self.q = self._ik(pos, slerp(prev_quat, seg.quat, s), q_start)
                grip = prev_grip + s * (seg.gripper - prev_grip)
                break
            tau -= seg.duration
            if seg.pos is not None:
                prev_pos, prev_quat = seg.pos, seg.quat
            prev_grip = seg.gripper
        else:
            self.done = True
            grip = prev_grip
        self.action[self.arm_idx] = self.q
        self.action[self.grip_idx] = grip
        return self.action.copy()

    def _grasp_missed(self) -> bool:
        """At the tick the lift ends: the cube did not rise with the gripper (by half the lift)."""
        lift = self.cfg["lift"] - self.cfg["grasp_z"]
        return (self._lifted_at - 0.5 / self.rate <= self.sim.time < self._lifted_at + 0.5 / self.rate
                and self.sim.object_poses()[self.obj][0][2] < self._cube_z0 + 0.5 * lift)

    def _script_over(self) -> bool:
        total = sum(s.duration for s in self.segments)
        return self.t0 is not None and self.sim.time + 1.0 / self.rate - self.t0 > total

    def _hold(self) -> np.ndarray:
        if self.sim.profile.base_dims:
            self.action[-2:] = 0.0
        return self.action.copy()

    def _goal_error(self) -> float:
        pose = self.sim.base_pose()
        goal = np.array(self.sim.task.base_goal)
        return float(np.dot(goal - pose[:2], [math.cos(pose[2]), math.sin(pose[2])]))

    def _arrived(self) -> bool:
        return abs(self._goal_error()) < 0.004 and abs(self.sim.base_velocity()[0]) < 0.02

    def _drive(self) -> np.ndarray:
        """P-control of the base to the goal along its heading, with a heading correction."""
        err, pose = self._goal_error(), self.sim.base_pose()
        lim = self.sim.profile.base_limits
        # Decelerate so as to stop at the goal: v <= sqrt(2 a d), with a margin for the 20 ms ticks.
        accel = lim.get("linear_x_accel", 1.0)
        speed = min(0.8 * lim.get("linear_x", 0.5), math.sqrt(1.2 * accel * abs(err)), 3.0 * abs(err) + 0.01)
        v = math.copysign(speed, err)
        v_prev = self.action[-2]  # ramp the command too, so the demos respect the base's acceleration limit
        v = min(max(v, v_prev - accel / self.rate), v_prev + accel / self.rate)
        return np.array([v, -2.0 * math.remainder(pose[2], 2 * math.pi)])

    def _ik(self, pos: np.ndarray, quat: np.ndarray, q_init: np.ndarray, iters: int = 25) -> np.ndarray:
        """Damped least squares on the arm joints for the TCP pose; joint limits are respected by clamping."""
        m, ik, arm = self.sim.model, self.ik, self.arm
        ik.qpos[:] = self.sim.data.qpos  # base pose, the other arm, objects
        q = q_init.copy()
        lo, hi = m.jnt_range[[m.joint(j).id for j in arm.joints]].T
        jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        err = np.zeros(6)
        q_cur, dq_rot = np.zeros(4), np.zeros(3)
        for _ in range(iters):
            ik.qpos[arm.qadr] = q
            mujoco.mj_kinematics(m, ik)
            mujoco.mj_comPos(m, ik)
            err[:3] = pos - ik.xpos[arm.tcp_body]
            mujoco.mju_mat2Quat(q_cur, ik.xmat[arm.tcp_body])
            mujoco.mju_subQuat(dq_rot, quat, q_cur)               # in the TCP frame
            err[3:] = ik.xmat[arm.tcp_body].reshape(3, 3) @ dq_rot  # to world
            if np.linalg.norm(err[:3]) < 1e-4 and np.linalg.norm(err[3:]) < 1e-3:
                break
            mujoco.mj_jacBody(m, ik, jacp, jacr, arm.tcp_body)
            J = np.vstack([jacp[:, arm.dadr], jacr[:, arm.dadr]])
            dq = J.T @ np.linalg.solve(J @ J.T + 1e-4 * np.eye(6), err)
            dq *= min(1.0, 0.2 / (np.abs(dq).max() + 1e-12))  # small steps: stay on the warm-started branch
            q = np.clip(q + dq, lo, hi)
        return q


def run_episode(sim: Simulator, seed: int, target_object: str | None = None, time_limit_s: float | None = None,
                stop_on_success: bool = True, on_tick=None) -> dict:
    """Reset with ``seed`` and let the expert act at the policy rate until success (or the script ends)
    or ``time_limit_s`` (default: the task's). ``on_tick(sim, action)`` is called before each action is
    applied (for recording). Returns success, wrong_object_moved, time_s, ticks, the instruction, the arm of the
    last subtask, when each subtask was detected done, and the expert's announcements.
    """
    instruction = sim.reset(seed, target_object)
    expert = ScriptedExpert(sim)
    limit = sim.task.time_limit_s if time_limit_s is None else time_limit_s
    n_sub = max(1, round(1.0 / (sim.profile.policy_rate_hz * sim.physics_dt)))
    ticks = 0
    success = False
    while sim.time < limit - 1e-9:
        action = expert.act()
        if on_tick is not None:
            on_tick(sim, action)
        sim.apply_action(action)
        sim.step(n_sub)
        ticks += 1
        success = sim.success()
        if (success and stop_on_success) or (expert.done and not stop_on_success):
            break
    return {"success": success, "wrong_object_moved": sim.wrong_object_moved(), "time_s": sim.time, "ticks": ticks,
            "instruction": instruction, "target_object": sim.target_object, "arm": expert.arm.name,
            "subtask_done_at": list(sim.task.subtask_done_at), "announcements": expert.announcements}
