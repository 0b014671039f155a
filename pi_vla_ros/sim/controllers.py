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

"""ROS-free controller semantics matching ros2_control (FACTS.md §9), on plain floats and numpy arrays.

The simulator samples these every physics step to get position targets; a ROS node converts
JointTrajectory / Float64MultiArray / Twist messages to the plain values taken here. Every controller
records ``last_command_seq`` (a process-wide increasing counter) when it accepts a command, so a
:class:`JointGroup` can let the most recently commanded interface drive, like switching controllers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

_SEQ = itertools.count(1)


class TrajectoryRejected(ValueError):
    """A trajectory that a JointTrajectoryController would refuse; ``reason`` is a short stable code."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


class CommandRejected(ValueError):
    """A forward/twist command that is refused; ``reason`` is a short stable code."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class TrajectoryPoint:
    time_from_start: float
    positions: Sequence[float]
    velocities: Sequence[float] | None = None
    accelerations: Sequence[float] | None = None


def _vector(values, n: int, what: str, reject) -> np.ndarray | None:
    """None/empty -> None; otherwise a float array of length n with finite values (or ``reject``)."""
    if values is None or len(values) == 0:
        return None
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.size != n:
        raise reject("wrong_size", f"{what} has {arr.size} values, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise reject("non_finite", f"{what} contains NaN or inf")
    return arr


def _quintic(p0, v0, a0, p1, v1, a1, T: float) -> np.ndarray:
    """Coefficients c[0..5] (each a joint vector) of p(tau) = sum c_k tau^k matching both end states."""
    c = np.zeros((6, p0.size))
    c[0], c[1], c[2] = p0, v0, a0 / 2
    T2, T3, T4, T5 = T * T, T ** 3, T ** 4, T ** 5
    c[3] = (20 * (p1 - p0) - (8 * v1 + 12 * v0) * T - (3 * a0 - a1) * T2) / (2 * T3)
    c[4] = (30 * (p0 - p1) + (14 * v1 + 16 * v0) * T + (3 * a0 - 2 * a1) * T2) / (2 * T4)
    c[5] = (12 * (p1 - p0) - 6 * (v1 + v0) * T - (a0 - a1) * T2) / (2 * T5)
    return c


def _segment(s0, s1, T: float) -> np.ndarray:
    """Polynomial for one segment between states (p, v|None, a|None); degree set by what both ends have."""
    (p0, v0, a0), (p1, v1, a1) = s0, s1
    c = np.zeros((6, p0.size))
    if v0 is None or v1 is None:  # positions only: linear
        c[0], c[1] = p0, (p1 - p0) / T
    elif a0 is None or a1 is None:  # + velocities: cubic (Hermite)
        c[0], c[1] = p0, v0
        c[2] = (3 * (p1 - p0) - (2 * v0 + v1) * T) / T ** 2
        c[3] = (2 * (p0 - p1) + (v0 + v1) * T) / T ** 3
    else:  # + accelerations: quintic
        c = _quintic(p0, v0, a0, p1, v1, a1, T)
    return c


class JointTrajectoryController:
    """ros2_controllers' JointTrajectoryController semantics (topic interface), ROS-free.

    ``accept(joint_names, points, stamp_s, now_s, current_positions, current_velocities=None)``:

    * ``points``: sequence of ``(time_from_start_s, positions, velocities|None, accelerations|None)`` tuples
      (or :class:`TrajectoryPoint`); velocities/accelerations may be omitted, None or empty.
    * Joints may come in any order; they are mapped by name. All of the controller's joints are required
      (no partial goals).
    * Rejections (raise :class:`TrajectoryRejected`; the active trajectory is then left untouched), checked
      in this order: ``empty`` (no joint names or no points), ``duplicate_joint``, ``unknown_joint``,
      ``missing_joint``, ``wrong_size`` (a positions vector not one value per joint, or a non-empty
      velocities/accelerations vector of the wrong length), ``non_finite`` (NaN/inf anywhere, or in the
      stamp), ``non_increasing_time`` (a negative time_from_start, or times not strictly increasing),
      ``nonzero_end_velocity`` (the last point has a non-zero velocity; JTC's default
      ``allow_nonzero_velocity_at_trajectory_end: false``), ``out_of_limits`` (a position outside the
      limits, only when the controller was given limits), ``stamp_in_past`` (stamp != 0 and
      stamp + last time_from_start < now: the whole trajectory would already be over).
    * Start time: ``stamp_s == 0`` means now (``now_s``); otherwise ``stamp_s`` itself, past or future.
      Point k is due at start + time_from_start[k].
    * Replacement: an accepted trajectory replaces the active one outright (no blending). Like JTC, the
      segment to the first point starts at the acceptance time from the state given at acceptance
      (``current_positions``, ``current_velocities`` or zero velocity, zero acceleration) and ends when the
      first point is due. So a future stamp makes the robot move from now on so as to reach the first point
      when it is due; a past stamp whose first points are already due starts mid-trajectory (a jump to the
      state due now, as JTC does), and a first point with time_from_start 0 and stamp 0 is jumped to.
    * Interpolation per segment, by what both end points carry: positions only -> linear; both with
      velocities -> cubic; both with velocities and accelerations -> quintic. The acceptance state counts
      as having velocities and accelerations, so the first segment follows the first point.
    * ``sample(t)``: positions at time t; after the last point is due, the last positions are held; before
      the acceptance time, the acceptance state. ``None`` when no trajectory was ever accepted.
    """

    def __init__(self, joint_names: Sequence[str], lower=None, upper=None,
                 allow_nonzero_velocity_at_trajectory_end: bool = False):
        self.joint_names = tuple(joint_names)
        self.lower = None if lower is None else np.asarray(lower, dtype=float)
        self.upper = None if upper is None else np.asarray(upper, dtype=float)
        self.allow_nonzero_end_velocity = allow_nonzero_velocity_at_trajectory_end
        self.reset()

    def reset(self) -> None:
        """Forget any trajectory (as after (re)activation)."""
        self.last_command_seq = 0
        self._times = None        # knot times (absolute seconds)
        self._coeffs = None       # [segments, 6, joints]
        self._start = None        # acceptance state positions
        self._end = None          # last point positions

    @property
    def has_trajectory(self) -> bool:
        return self._times is not None

    @property
    def end_time_s(self) -> float | None:
        """When the last point is due (absolute seconds), or None."""
        return None if self._times is None else float(self._times[-1])

    def accept(self, joint_names: Sequence[str], points, stamp_s: float, now_s: float, current_positions,
               current_velocities=None) -> None:
        n = len(self.joint_names)
        if len(joint_names) == 0 or len(points) == 0:
            raise TrajectoryRejected("empty", "trajectory has no joint names" if not joint_names
                                     else "trajectory has no points")
        if len(set(joint_names)) != len(joint_names):
            raise TrajectoryRejected("duplicate_joint", f"joint names repeat: {list(joint_names)}")
        unknown = [j for j in joint_names if j not in self.joint_names]
        if unknown:
            raise TrajectoryRejected("unknown_joint",
                                     f"joints {unknown} are not controlled here ({list(self.joint_names)})")
        missing = [j for j in self.joint_names if j not in joint_names]
        if missing:
            raise TrajectoryRejected("missing_joint", f"joints {missing} missing; partial goals are not accepted")
        order = [list(joint_names).index(j) for j in self.joint_names]  # message column of each of our joints

        states, times = [], []
        for k, pt in enumerate(points):
            t, pos, vel, acc = (tuple(pt) + (None, None))[:4] if not isinstance(pt, TrajectoryPoint) else (
                pt.time_from_start, pt.positions, pt.velocities, pt.accelerations)
            p = _vector(pos, n, f"point {k} positions", TrajectoryRejected)
            if p is None:
                raise TrajectoryRejected("wrong_size", f"point {k} has no positions")
            v = _vector(vel, n, f"point {k} velocities", TrajectoryRejected)
            a = _vector(acc, n, f"point {k} accelerations", TrajectoryRejected)
            states.append(tuple(None if x is None else x[order] for x in (p, v, a)))
            if not math.isfinite(float(t)):
                raise TrajectoryRejected("non_finite", f"point {k} time_from_start is not finite")
            times.append(float(t))
        if not (math.isfinite(stamp_s) and math.isfinite(now_s)):
            raise TrajectoryRejected("non_finite", "stamp or clock is not finite")
        if times[0] < 0 or any(b <= a for a, b in zip(times, times[1:])):
            raise TrajectoryRejected("non_increasing_time",
                                     f"time_from_start must be >= 0 and strictly increasing: {times}")
        v_end = states[-1][1]
        if not self.allow_nonzero_end_velocity and v_end is not None and np.any(v_end != 0):
            raise TrajectoryRejected("nonzero_end_velocity", "the last point must have zero velocity")
        if self.lower is not None:
            for k, (p, _, _) in enumerate(states):
                bad = [j for j, x, lo, hi in zip(self.joint_names, p, self.lower, self.upper) if not lo <= x <= hi]
                if bad:
                    raise TrajectoryRejected("out_of_limits", f"point {k}: joints {bad} outside their limits")
        start = now_s if stamp_s == 0 else stamp_s
        if stamp_s != 0 and start + times[-1] < now_s:
            raise TrajectoryRejected("stamp_in_past",
                                     f"trajectory ended at {start + times[-1]:.3f} s, now is {now_s:.3f} s")

        p0 = _vector(current_positions, n, "current positions", TrajectoryRejected)
        v0 = _vector(current_velocities, n, "current velocities", TrajectoryRejected)
        knots = [(now_s, (p0, np.zeros(n) if v0 is None else v0, np.zeros(n)))]
        knots += [(start + t, s) for t, s in zip(times, states)]
        if knots[1][0] <= now_s:  # first point already due: no segment from the acceptance state
            knots = knots[1:]
        self._times = np.array([t for t, _ in knots])
        self._coeffs = np.stack([_segment(s0, s1, t1 - t0) for (t0, s0), (t1, s1) in zip(knots, knots[1:])]) \
            if len(knots) > 1 else np.zeros((0, 6, n))
        self._start, self._end = p0.copy(), states[-1][0].copy()
        self.last_command_seq = next(_SEQ)

    def sample(self, now_s: float) -> np.ndarray | None:
        if self._times is None:
            return None
        ts = self._times
        if now_s >= ts[-1]:
            return self._end.copy()
        if now_s < ts[0]:
            return self._start.copy()
        i = int(np.searchsorted(ts, now_s, side="right")) - 1
        tau = now_s - ts[i]
        c = self._coeffs[i]
        return c[0] + tau * (c[1] + tau * (c[2] + tau * (c[3] + tau * (c[4] + tau * c[5]))))


class ForwardPositionController:
    """forward_command_controller for positions: one value per joint, in this controller's joint order.

    ``command(values)`` rejects with :class:`CommandRejected` ``wrong_size`` or ``non_finite`` (the previous
    command then stays). ``target()`` is the last accepted command, or None before the first one. No
    limits are applied here (as in ros2_control; the hardware/simulator clamps).
    """

    def __init__(self, joint_names: Sequence[str]):
        self.joint_names = tuple(joint_names)
        self.reset()

    def reset(self) -> None:
        self.last_command_seq = 0
        self._target = None

    def command(self, values) -> None:
        arr = _vector(values, len(self.joint_names), "command", CommandRejected)
        if arr is None:
            raise CommandRejected("wrong_size", f"empty command, expected {len(self.joint_names)} values")
        self._target = arr
        self.last_command_seq = next(_SEQ)

    def target(self) -> np.ndarray | None:
        return None if self._target is None else self._target.copy()


class TwistController:
    """A differential-drive base's cmd_vel input with a command timeout (Mobile ALOHA: 300 ms).

    ``command(linear_x, angular_z, now_s)`` (non-finite values: :class:`CommandRejected` ``non_finite``).
    ``velocity(now_s)`` is the last command while ``now_s - command time < timeout_s``, else (0, 0);
    also (0, 0) before any command. ``timeout_s <= 0`` disables the timeout.
    """

    def __init__(self, timeout_s: float):
        self.timeout_s = float(timeout_s)
        self.reset()

    def reset(self) -> None:
        self.last_command_seq = 0
        self._cmd = (0.0, 0.0)
        self._stamp = None

    def command(self, linear_x: float, angular_z: float, now_s: float) -> None:
        if not all(math.isfinite(float(x)) for x in (linear_x, angular_z, now_s)):
            raise CommandRejected("non_finite", "twist or time is not finite")
        self._cmd, self._stamp = (float(linear_x), float(angular_z)), float(now_s)
        self.last_command_seq = next(_SEQ)

    def velocity(self, now_s: float) -> tuple[float, float]:
        if self._stamp is None or (self.timeout_s > 0 and now_s - self._stamp >= self.timeout_s):
            return 0.0, 0.0
        return self._cmd


class JointGroup:
    """One controller group of a profile with both command interfaces, as on the real robot.

    ``trajectory`` (JointTrajectoryController) and ``position`` (ForwardPositionController) exist side by
    side; whichever accepted a command most recently drives the joints (like activating one controller and
    deactivating the other). Before any command the group holds ``hold`` (the pose at reset).
    """

    def __init__(self, name: str, joint_names: Sequence[str], lower=None, upper=None):
        self.name = name
        self.joint_names = tuple(joint_names)
        self.trajectory = JointTrajectoryController(joint_names, lower, upper)
        self.position = ForwardPositionController(joint_names)
        self.hold = np.zeros(len(self.joint_names))

    def reset(self, hold) -> None:
        self.trajectory.reset()
        self.position.reset()
        self.hold = np.asarray(hold, dtype=float).copy()

    @property
    def active(self) -> str | None:
        """'trajectory', 'position' or None (holding)."""
        t, p = self.trajectory.last_command_seq, self.position.last_command_seq
        if t == p == 0:
            return None
        return "trajectory" if t > p else "position"

    def target(self, now_s: float) -> np.ndarray:
        which = self.active
        if which == "trajectory":
            return self.trajectory.sample(now_s)
        if which == "position":
            return self.position.target()
        return self.hold.copy()
