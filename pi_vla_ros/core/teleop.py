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

"""Teleoperation core: a person's input in, one joint target in the action layout per tick out. ROS-free.

The target is never sent to a controller from here: the teleop node hands it to the action executor, whose
safety filter (:mod:`pi_vla_ros.core.executor`) limits it exactly as it limits a policy's chunks.

Semantics, tick by tick (``Teleop.tick(now)``):

1. Engagement. ``engage(measured)`` (the person took the robot: ``/pi_vla/intervention`` turned true) starts from
   the follower's measured joint positions; ``disengage()`` forgets everything. Until engaged, ``tick`` returns
   None. A joint that no input drives keeps its engage position (the other arm, the gripper of a twist-driven
   arm before the first gripper command), and the base's velocity target is 0.
2. Leader arms (``mode="leader"``, ALOHA style). Each leader (a JointState source with its own joint names) is
   mapped by name onto follower joints (:class:`LeaderMap`: ``follower = rename.get(name, prefix + name)``,
   then ``scale * leader + offset`` per follower joint). A message is taken whole or rejected whole
   (:class:`~pi_vla_ros.core.errors.RejectedInput`): ``leader_state_size`` (not one position per name),
   ``duplicate_leader_joint`` (a name twice, or a follower joint claimed by two leaders), ``unknown_leader_joint``
   (a name that maps to no follower joint and is not in ``ignore``), ``non_finite_leader`` (NaN/inf).
   Stale leader: every configured leader must have sent a valid message within ``leader_timeout_s`` (receive
   time); otherwise ``tick`` returns None (nothing is sent, so the executor's last command runs out and its
   watchdog holds) and raises ``stale_leader`` once per fresh->stale transition. Engaging, and again after a
   stale period, the leader must lie within ``max_engage_error`` rad of the follower's measured position on every
   mapped joint before anything is sent; until then ``tick`` returns None and raises ``leader_far`` once per
   attempt (the person matches the leader to the follower, so the follower never lunges toward a far leader).
3. End-effector twist (``mode="twist"``: keyboard, SpaceMouse). ``on_twist(v, now)`` takes a 6-vector
   (linear m/s, angular rad/s; ``non_finite_twist`` if any is NaN/inf), saturated in norm to ``max_linear`` and
   ``max_angular``. A twist older than ``twist_timeout_s`` is zero (the arm stops; not an error: a SpaceMouse at
   rest may stop publishing). Each tick the arm's TCP pose, computed from the last target, moves by the twist
   over one period (``frame="base"``: linear and angular velocity expressed in the URDF root frame, about the TCP
   point; ``frame="tool"``: expressed in the TCP frame), and :class:`ArmIK` solves for the joints. The joint
   step is then scaled down (all joints alike, so the path keeps its direction) to the URDF velocity limits.
   Because every tick starts from the pose of the last target, the desired pose never runs ahead of what the
   arm reached (at a joint limit or a singularity it stops there). ``on_gripper(x)``: the fraction open in
   [0, 1] (``bad_gripper_command`` otherwise) mapped linearly onto the gripper joint's URDF range, which the target
   approaches at the gripper's URDF velocity limit.
4. Mobile base: the target's base velocities are 0, except with ``arm="base"`` (twist mode, a profile with a
   base): then the twist's linear x (m/s) and angular z (rad/s) are the base's velocity targets (a differential
   drive has no other axes: the rest of the twist is ignored), zero once the twist is older than
   ``twist_timeout_s``; the arms and grippers keep their engage positions. The executor's filter applies the
   profile's base speed and acceleration limits, as for a policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.profiles import RobotProfile


@dataclass(frozen=True)
class LeaderSource:
    """How one leader's joint names map onto the follower (see the module docstring, point 2)."""

    prefix: str = ""
    rename: dict = field(default_factory=dict)   # leader name (or prefix + name) -> follower joint
    ignore: tuple[str, ...] = ()                  # leader joints the follower does not follow (finger joints)


class LeaderMap:
    """Leader JointStates -> follower joint positions (profile joint indices)."""

    def __init__(self, profile: RobotProfile, sources: list[LeaderSource], linear: dict | None = None):
        self.joints = tuple(profile.joints)
        self.sources = list(sources)
        self.linear = {}   # follower index -> (scale, offset)
        for joint, (scale, offset) in (linear or {}).items():
            if joint not in self.joints:
                raise ValueError(f"leader scale for {joint!r}: not a joint of profile {profile.name!r}")
            self.linear[self.joints.index(joint)] = (float(scale), float(offset))
        self.owner: dict[int, int] = {}   # follower index -> the source that drives it (the first to send it)

    def follower(self, source: int, name: str) -> str:
        s = self.sources[source]
        return s.rename.get(s.prefix + name, s.rename.get(name, s.prefix + name))

    def targets(self, source: int, names, positions) -> dict[int, float]:
        """One leader message -> {follower joint index: target}, or RejectedInput (nothing taken)."""
        names = list(names)
        try:
            p = np.asarray(positions, dtype=np.float64)
        except (TypeError, ValueError):
            raise RejectedInput("leader_state_size", "leader positions are not a flat list of numbers") from None
        if p.shape != (len(names),):
            raise RejectedInput("leader_state_size", f"{p.size} leader positions for {len(names)} names")
        if len(set(names)) != len(names):
            raise RejectedInput("duplicate_leader_joint", f"leader joint names repeat: {names}")
        ignore = self.sources[source].ignore
        out: dict[int, float] = {}
        unknown = []
        for name, value in zip(names, p):
            if name in ignore:
                continue
            joint = self.follower(source, name)
            if joint not in self.joints:
                unknown.append(name)
                continue
            i = self.joints.index(joint)
            if self.owner.get(i, source) != source or i in out:
                raise RejectedInput("duplicate_leader_joint", f"follower joint {joint!r} is driven by two leader "
                                                              f"joints")
            out[i] = value
        if unknown:
            raise RejectedInput("unknown_leader_joint", f"leader joints {unknown} map to no follower joint (add them "
                                                        f"to leader_ignore or leader_rename)")
        bad = [self.joints[i] for i, v in out.items() if not np.isfinite(v)]
        if bad:
            raise RejectedInput("non_finite_leader", f"leader state has NaN/inf for {bad}")
        for i in out:
            self.owner[i] = source
        scale = self.linear
        return {i: (scale[i][0] * v + scale[i][1] if i in scale else float(v)) for i, v in out.items()}


class ArmIK:
    """Inverse kinematics of one arm from the URDF, with Pinocchio.

    Pinocchio (PyPI ``pin``) rather than ikpy: it parses the whole URDF tree (two arms, a wheeled base, mimic
    fingers) into one model, reduces it to one arm's joints exactly, and computes frame Jacobians and SE(3)
    logarithms analytically in C++ (ikpy handles single chains and solves with a generic scipy optimizer).
    The solver is damped least squares on Pinocchio's frame Jacobian, within the URDF position limits.
    """

    def __init__(self, urdf_xml: str, joints: tuple[str, ...], tcp: str, iterations: int = 10,
                 damping: float = 1e-4, tolerance: float = 1e-9):
        import pinocchio as pin

        self.pin = pin
        full = pin.buildModelFromXML(urdf_xml)
        missing = [j for j in joints if not full.existJointName(j)]
        if missing or not full.existFrame(tcp):
            raise ValueError(f"URDF has no joints {missing} or no frame {tcp!r}")
        lock = [full.getJointId(n) for n in full.names[1:] if n not in joints]
        self.model = pin.buildReducedModel(full, lock, pin.neutral(full))
        order = list(self.model.names[1:])
        # the reduced model keeps the URDF's joint order: map it onto ours
        self.perm = np.array([order.index(j) for j in joints])
        self.data = self.model.createData()
        self.frame = self.model.getFrameId(tcp)
        self.lower = self.model.lowerPositionLimit[self.perm]
        self.upper = self.model.upperPositionLimit[self.perm]
        self.iterations, self.damping, self.tolerance = iterations, damping, tolerance

    def _q(self, q: np.ndarray) -> np.ndarray:
        out = np.empty(len(self.perm))
        out[self.perm] = q
        return out

    def fk(self, q: np.ndarray):
        """The TCP pose (pinocchio.SE3, in the URDF root frame) at joint positions ``q`` (our joint order)."""
        self.pin.framesForwardKinematics(self.model, self.data, self._q(q))
        return self.data.oMf[self.frame].copy()

    def solve(self, goal, q0: np.ndarray) -> np.ndarray:
        """Joint positions near ``q0`` whose TCP pose is ``goal`` (as near as the limits allow)."""
        pin, model, data = self.pin, self.model, self.data
        q = self._q(np.clip(q0, self.lower, self.upper))
        lo, hi = model.lowerPositionLimit, model.upperPositionLimit
        for _ in range(self.iterations):
            pin.framesForwardKinematics(model, data, q)
            error_pose = data.oMf[self.frame].actInv(goal)      # the goal seen from the TCP
            err = pin.log6(error_pose).vector
            if err @ err < self.tolerance ** 2:
                break
            jac = pin.Jlog6(error_pose) @ pin.computeFrameJacobian(model, data, q, self.frame, pin.LOCAL)
            dq = jac.T @ np.linalg.solve(jac @ jac.T + self.damping * np.eye(6), err)
            q = np.clip(pin.integrate(model, q, dq), lo, hi)
        return q[self.perm]


@dataclass
class TeleopConfig:
    rate_hz: float = 50.0
    leader_timeout_s: float = 0.1
    max_engage_error: float = 0.3    # rad
    twist_timeout_s: float = 0.25
    max_linear: float = 0.2          # m/s
    max_angular: float = 1.0         # rad/s
    frame: str = "base"              # "base" or "tool"


class Teleop:
    """A person's input -> joint targets in the action layout (the module docstring's semantics)."""

    def __init__(self, profile: RobotProfile, mode: str, config: TeleopConfig | None = None, *,
                 leader: LeaderMap | None = None, n_leaders: int = 0, arm: dict | str | None = None):
        """``leader`` and ``n_leaders`` (how many leader sources must be fresh) for ``mode="leader"``; ``arm``, a
        profile ``sim.arms`` entry (name, joints, gripper, tcp), or ``"base"``, for ``mode="twist"``.
        """
        if mode not in ("leader", "twist"):
            raise ValueError(f"teleop mode {mode!r}: expected 'leader' or 'twist'")
        self.profile, self.mode, self.config = profile, mode, config or TeleopConfig()
        self.dt = 1.0 / self.config.rate_hz
        self.joints = tuple(profile.joints)
        self.leader, self.n_leaders = leader, n_leaders
        if mode == "leader" and (leader is None or n_leaders < 1):
            raise ValueError("leader teleop needs a LeaderMap and at least one leader")
        self.drives_base = mode == "twist" and arm == "base"
        if self.drives_base and list(profile.base_dims) != ["linear_x", "angular_z"]:
            raise ValueError(f"profile {profile.name!r} has no differential-drive base to teleoperate")
        if mode == "twist" and not self.drives_base:
            if not isinstance(arm, dict):
                raise ValueError("twist teleop needs an arm (name, joints, gripper, tcp) or 'base'")
            self.arm_idx = np.array([self.joints.index(j) for j in arm["joints"]])
            self.gripper_idx = self.joints.index(arm["gripper"]) if arm.get("gripper") else None
            self.ik = ArmIK(profile.urdf_xml(), tuple(arm["joints"]), arm["tcp"])
            self.v_step = profile.velocity()[self.arm_idx] * self.dt
        self.measured: np.ndarray | None = None
        self._leader_values: dict[int, float] = {}   # the leaders' latest mapped positions (kept across hand-overs)
        self._leader_seen: dict[int, float] = {}     # leader source -> receive time of its last valid message
        self._stale = False
        self.disengage()

    # -- hand-over ------------------------------------------------------------------------------
    def engage(self, measured) -> None:
        self.measured = np.asarray(measured, dtype=np.float64).copy()
        self.target = self.measured.copy()
        self.engaged = True
        self._matched = False   # leader: within max_engage_error of the follower yet?
        self._far_reported = False

    def disengage(self) -> None:
        """The person gave the robot back: no target until the next engage; no old twist or gripper survives."""
        self.engaged = False
        self.target = None
        self.base = np.zeros(len(self.profile.base_dims))
        self._twist = np.zeros(6)
        self._twist_time = -np.inf
        self._gripper: float | None = None

    def on_state(self, measured) -> None:
        """The follower's latest measured positions (the engage check after a stale period compares to them)."""
        self.measured = np.asarray(measured, dtype=np.float64).copy()

    # -- inputs ---------------------------------------------------------------------------------
    def on_leader(self, source: int, names, positions, now: float) -> None:
        values = self.leader.targets(source, names, positions)   # raises before anything is taken
        self._leader_values.update(values)
        self._leader_seen[source] = now

    def on_twist(self, twist, now: float) -> None:
        v = np.asarray(twist, dtype=np.float64).reshape(6)
        if not np.all(np.isfinite(v)):
            raise RejectedInput("non_finite_twist", f"twist has NaN/inf: {v.tolist()}")
        c = self.config
        for part, vmax in ((slice(0, 3), c.max_linear), (slice(3, 6), c.max_angular)):
            norm = np.linalg.norm(v[part])
            if norm > vmax:
                v[part] *= vmax / norm
        self._twist, self._twist_time = v, now

    def on_gripper(self, fraction_open: float) -> None:
        x = float(fraction_open)
        if not 0.0 <= x <= 1.0:   # NaN fails this too
            raise RejectedInput("bad_gripper_command", f"gripper command {x} is not a fraction open in [0, 1]")
        self._gripper = x

    # -- the tick -------------------------------------------------------------------------------
    def tick(self, now: float) -> np.ndarray | None:
        """The target (action layout: joints, then base velocities) for this tick, or None: send nothing.

        Raises RejectedInput (``stale_leader``, ``leader_far``) on the tick a leader turns stale or an engage
        attempt meets a far leader; the caller counts it and sends nothing that tick.
        """
        if not self.engaged:
            return None
        arm = self._leader_tick(now) if self.mode == "leader" else self._twist_tick(now)
        return None if arm is None else np.concatenate([arm, self.base])

    def _leader_tick(self, now: float) -> np.ndarray | None:
        timeout = self.config.leader_timeout_s
        fresh = (len(self._leader_seen) == self.n_leaders
                 and all(now - t <= timeout + 1e-9 for t in self._leader_seen.values()))
        if not fresh:
            # before a leader's first message nothing is owed yet; once one has been heard, silence is a fault
            if self._leader_seen and not self._stale:
                self._stale, self._matched = True, False
                late = sorted(i for i in range(self.n_leaders) if now - self._leader_seen.get(i, -np.inf) > timeout)
                raise RejectedInput("stale_leader", f"no valid state from leader(s) {late} for {timeout} s: "
                                                    f"holding")
            return None
        if self._stale:
            self._stale, self._far_reported = False, False
        idx = np.fromiter(self._leader_values, dtype=int)
        values = np.fromiter(self._leader_values.values(), dtype=np.float64)
        if not self._matched:
            error = np.abs(values - self.measured[idx])
            if error.size and error.max() > self.config.max_engage_error:
                if not self._far_reported:
                    self._far_reported = True
                    worst = int(np.argmax(error))
                    raise RejectedInput("leader_far", f"leader is {error[worst]:.3f} rad from the follower at "
                                                      f"{self.joints[idx[worst]]} (max_engage_error "
                                                      f"{self.config.max_engage_error}): match the leader to the "
                                                      f"follower to take over")
                return None
            self._matched = True
        self.target[idx] = values
        return self.target.copy()

    def _twist_tick(self, now: float) -> np.ndarray:
        twist = self._twist if now - self._twist_time <= self.config.twist_timeout_s + 1e-9 else np.zeros(6)
        if self.drives_base:
            self.base = np.array([twist[0], twist[5]])
            return self.target.copy()
        pin = self.ik.pin
        q0 = self.target[self.arm_idx]
        if np.any(twist):
            pose = self.ik.fk(q0)
            d = twist * self.dt
            if self.config.frame == "tool":
                goal = pose * pin.exp6(pin.Motion(d[:3], d[3:]))
            else:   # root-aligned axes about the TCP point
                goal = pin.SE3(pin.exp3(d[3:]) @ pose.rotation, pose.translation + d[:3])
            step = self.ik.solve(goal, q0) - q0
            worst = np.max(np.abs(step) / self.v_step)
            self.target[self.arm_idx] = q0 + (step / worst if worst > 1.0 else step)
        if self._gripper is not None and self.gripper_idx is not None:
            g = self.gripper_idx
            lim = self.profile.limits[self.joints[g]]
            goal = lim.lower + self._gripper * (lim.upper - lim.lower)
            step = lim.velocity * self.dt   # a key press is a step command: ramp it at the URDF velocity limit
            self.target[g] += np.clip(goal - self.target[g], -step, step)
        return self.target.copy()


# Terminal keys -> twist axes (linear x y z, angular x y z) and sign; see KeyboardTwist.
KEY_AXES = {"w": (0, 1), "s": (0, -1), "a": (1, 1), "d": (1, -1), "q": (2, 1), "e": (2, -1),
            "u": (3, 1), "o": (3, -1), "i": (4, 1), "k": (4, -1), "j": (5, 1), "l": (5, -1)}
KEY_HELP = """keys: w/s +-x  a/d +-y  q/e up/down (m, robot base frame)  u/o roll  i/k pitch  j/l yaw
      g close gripper  h open gripper  +/- speed  SPACE take / give back the robot  x quit"""


class KeyboardTwist:
    """Terminal keys -> (twist, gripper, intervention). ROS-free, so it is tested without a terminal.

    A terminal reports key presses (and auto-repeats a held key), never releases, so a key moves the TCP along
    its axis for ``step_s`` after each press: a tap jogs ``speed * step_s``, a held key moves steadily, letting go
    stops within ``step_s``. ``speed`` scales both the linear (m/s) and the angular (rad/s, x5) rate.
    """

    def __init__(self, linear_speed: float = 0.05, step_s: float = 0.1):
        self.linear_speed, self.step_s = linear_speed, step_s
        self._axis: tuple[int, int] | None = None
        self._until = -np.inf
        self.gripper: float | None = None   # fraction open, once a gripper key was pressed
        self.intervention = False
        self.quit = False

    def on_key(self, key: str, now: float) -> None:
        if key in KEY_AXES:
            self._axis, self._until = KEY_AXES[key], now + self.step_s
        elif key == "g":
            self.gripper = 0.0
        elif key == "h":
            self.gripper = 1.0
        elif key in "+=":
            self.linear_speed = min(self.linear_speed * 1.5, 0.5)
        elif key in "-_":
            self.linear_speed = max(self.linear_speed / 1.5, 0.005)
        elif key == " ":
            self.intervention = not self.intervention
        elif key in ("x", "\x03", "\x04"):   # x, Ctrl-C, Ctrl-D
            self.quit = True

    def twist(self, now: float) -> np.ndarray:
        v = np.zeros(6)
        if self._axis is not None and now < self._until:
            axis, sign = self._axis
            v[axis] = sign * self.linear_speed * (1.0 if axis < 3 else 5.0)
        return v
