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

"""The action executor's core: chunks in, one safe command per control tick out.

Semantics, tick by tick (``tick(now)``):

1. Inputs are validated on arrival, so a tick never meets bad data. ``on_state`` takes exactly one finite
   position per profile joint (in profile order, names checked when given) or raises RejectedInput
   (``state_joints``, ``state_size``, ``non_finite_state``) and keeps the previous state; ``on_chunk`` takes
   a Chunk of finite actions, one column per action dim, on strictly increasing finite times, or raises
   (``chunk_empty``, ``chunk_width``, ``non_finite_action``, ``non_increasing_time``, ``chunk_in_past``). A NaN can
   therefore never become the hold position nor a command, and ``tick`` never raises (a target that is
   somehow not finite holds instead).
2. Chunk timeline. A chunk's action i applies at ``stamp + i * dt``. Positions between actions are
   linearly interpolated, so any policy rate is resampled to the control rate. A new chunk replaces
   the current one from ``now`` on, cross-faded over ``blend_s`` so the switch never steps (the
   stale prefix of the new chunk, already in the past when it arrives, is simply never sampled). A chunk given
   with ``blend=False`` (a teleoperator's stream of targets, continuous from one to the next) replaces the current
   one at once: a cross-fade restarted every tick would only delay it (by about ``blend_s``).
3. Watchdog. With no chunk covering ``now`` (none yet, or the last one ran out or is older than
   ``chunk_timeout_s``) the executor holds: the arms' target is the last command (the measured state
   before anything was commanded), so a moving arm stops there at once (4d), and the base's is zero
   velocity. Each ready->hold transition is a watchdog trip; each held tick after the first chunk is a
   starvation tick. Commands start with the first tick after the first valid state; before it ``tick``
   returns None.
4. Safety filter (:class:`SafetyFilter`), per arm/gripper joint, in rad per tick: ``p`` the last command,
   ``s0`` the last step (``p`` minus the command before; 0 at the start, which is taken as rest),
   ``dt`` the control period, ``V = min(v_urdf * dt, max_step_per_tick)``, ``delta = a_profile * dt**2``.

   a. Position: the target is clipped to the URDF limits: ``x = clip(target, lower, upper)``.
   b. The step toward ``x`` (distance ``|x - p|``, direction ``sign(x - p)``, or the direction of motion
      when ``x == p``) is bounded, in this order, by the velocity limit ``v_urdf * dt``
      ("velocity"), by ``max_step_per_tick`` ("max_step"), by braking ("braking": the largest step from
      which decelerating by ``delta`` every tick comes to rest at or before the braking point; the
      discrete form of ``speed <= sqrt(2 * a * distance)``), then kept within ``delta`` of ``s0``
      ("acceleration": never speed up nor slow down harder than the limit).
   c. The braking point is where the target would come to rest if it braked at the acceleration limit
      from its own last step (at most ``V``) when it moves away from the command, the target itself
      when it stands or comes closer, and never beyond the position limit ahead. So a command that
      lags its target slows down in time and arrives on a standing target exactly, within every limit.
   d. No overshoot: the command never passes the target it moves toward. Where only a step harder
      than the acceleration limit avoids that (the target came toward the command, or slowed down or
      reversed, harder than the acceleration limit allows braking for; or a hold stops a moving arm), the
      command lands on the target ("target_stop"): the only case in which the acceleration limit is
      exceeded, and then the command is exactly the target. A command moving away from a target that
      jumped behind it decelerates at the limit (it moves away, never past).
   e. A target reachable within all of the above is commanded exactly (bit-identical); so a target
      sequence that itself keeps every limit (starting at rest from the command) passes unchanged.
   f. Finally the command is clipped to the position limits ("position" too; this changes it only when
      the measured state it started from lies beyond a limit, and then moves it inside at once).

   The base (velocity targets): clipped to ``base_limits`` and accelerated by at most its ``*_accel``
   limit per tick, so it ramps to zero on a hold ("base"). Float tolerance: limits hold to 1e-9.
5. Clamps are counted while a chunk is executed (a hold's own stop is not a clamp): ``safety_clamps`` =
   ticks where any limit changed a command by more than 1e-9; ``clamps_by_kind[kind]`` = such ticks per
   kind; ``clamps_by_joint[kind][joint]`` = ``{"count": ticks, "max": largest change}``, the change being
   how far that limit moved the command (rad, or m/s and rad/s for the base; for "position" how far the
   target lay beyond the limit; for "target_stop" how far the acceleration limit would have carried the
   command past the target).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.profiles import RobotProfile

CLAMP_KINDS = ("position", "velocity", "max_step", "braking", "acceleration", "target_stop", "base")
TOL = 1e-9          # a change smaller than this is float noise, not a clamp
_BIG = 1e30         # stands in for an infinite acceleration limit (keeps 0 * inf out of the braking maths)


@dataclass
class Chunk:
    times: np.ndarray       # [H] absolute seconds
    actions: np.ndarray     # [H, action_dim]

    @property
    def end(self) -> float:
        return float(self.times[-1])

    def sample(self, t: float) -> np.ndarray:
        """Linear interpolation in time; callers only ask for t inside [times[0], times[-1]]."""
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        i = min(max(i, 0), len(self.times) - 2) if len(self.times) > 1 else 0
        if len(self.times) == 1:
            return self.actions[0]
        t0, t1 = self.times[i], self.times[i + 1]
        w = float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0))
        return (1 - w) * self.actions[i] + w * self.actions[i + 1]


def _check_chunk(times: np.ndarray, actions: np.ndarray, width: int) -> None:
    if times.ndim != 1 or times.size == 0:
        raise RejectedInput("chunk_empty", "action chunk has no points")
    if actions.ndim != 2 or actions.shape != (times.size, width):
        raise RejectedInput("chunk_width", f"points have width {actions.shape[1:] if actions.ndim == 2 else '?'}"
                                           f", expected {width}")
    if not np.all(np.isfinite(actions)) or not np.all(np.isfinite(times)):
        raise RejectedInput("non_finite_action", "action chunk contains NaN/inf")
    if np.any(np.diff(times) <= 0):
        raise RejectedInput("non_increasing_time", "time_from_start must be strictly increasing")


def validate_chunk(profile: RobotProfile, names, times, actions) -> Chunk:
    """Turn the fields of an action-chunk message into a Chunk in the profile's layout, or reject."""
    names = list(names)
    expected = profile.action_names
    if sorted(names) != sorted(expected) or len(names) != len(set(names)):
        raise RejectedInput("chunk_joints", f"chunk joints {names} != profile action layout {list(expected)}")
    try:
        times = np.asarray(times, dtype=np.float64)
        actions = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError):  # ragged rows
        raise RejectedInput("chunk_width", "action chunk points have different widths") from None
    if times.size == 0:
        raise RejectedInput("chunk_empty", "action chunk has no points")
    _check_chunk(times, actions, len(names))
    order = [names.index(n) for n in expected]
    return Chunk(times=times, actions=actions[:, order])


def stop_distance(step: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Distance covered taking `step` now and then `delta` less every tick until at rest (0 for step <= 0)."""
    k = np.maximum(np.ceil(step / delta) - 1, 0)      # ticks after this one with a positive step
    return np.where(step > 0, (k + 1) * step - delta * k * (k + 1) / 2, 0.0)


def braking_step(distance: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The largest step whose stop_distance is at most `distance`: about sqrt(2 * delta * distance), exact in
    discrete time (the inverse of the piecewise-linear stop_distance).
    """
    j = np.ceil((np.sqrt(1 + 8 * np.maximum(distance, 0) / delta) - 1) / 2)
    k = np.maximum(j - 1, 0)
    return np.maximum(distance, 0) / (k + 1) + delta * k / 2


class SafetyFilter:
    """Targets in, commands within every limit out; the semantics are the module docstring's point 4."""

    def __init__(self, profile: RobotProfile, dt: float, start: np.ndarray):
        self.dt, self.joints, self.base_dims = dt, tuple(profile.joints), tuple(profile.base_dims)
        self.lower, self.upper = profile.lower(), profile.upper()
        self.v_step = profile.velocity() * dt
        self.max_step = profile.max_step_per_tick
        self.delta = np.clip(profile.acceleration() * dt * dt, 1e-12, _BIG)   # > 0: no 0/0 in the braking maths
        self.v_cap = np.minimum(self.v_step, self.max_step)
        bl = profile.base_limits
        self.base_vmax = np.array([bl.get(d, np.inf) for d in profile.base_dims])
        self.base_dv = np.array([bl.get(f"{d}_accel", np.inf) for d in profile.base_dims]) * dt
        self.position = np.asarray(start, dtype=np.float64).copy()   # the last command
        self.step = np.zeros_like(self.position)                      # the last step (at rest at the start)
        self.target = self.position.copy()                            # the last (clipped) target
        self.base = np.zeros(len(self.base_dims))

    def __call__(self, target: np.ndarray, base_target: np.ndarray):
        """(arm command, base command, {kind: [per joint or base dim] change}) for one tick."""
        p, delta = self.position, self.delta
        x = np.clip(target, self.lower, self.upper)
        e = x - p
        d = np.where(e != 0, np.sign(e), np.sign(self.step))         # toward the target
        dist, u = np.abs(e), d * self.step                            # u: last step's speed toward it
        w = np.minimum(d * (x - self.target), self.v_cap)             # the target's own speed away from p
        ahead = np.where(d > 0, self.upper - p, p - self.lower)       # room before the position limit ahead
        brake = braking_step(np.minimum(dist + stop_distance(w - delta, delta), ahead), delta)
        s1 = np.minimum(dist, self.v_step)
        s2 = np.minimum(s1, self.max_step)
        s3 = np.minimum(s2, brake)
        s4 = np.clip(s3, u - delta, u + delta)
        s5 = np.minimum(s4, dist)                                     # never past the target
        cmd = np.where(s5 >= dist - 1e-12, x, p + d * s5)             # on the target: exactly the target
        out = np.clip(cmd, self.lower, self.upper)
        changes = {"position": np.abs(target - x) + np.abs(out - cmd), "velocity": dist - s1, "max_step": s1 - s2,
                   "braking": s2 - s3, "acceleration": np.abs(s4 - s3), "target_stop": s4 - s5}
        self.step, self.position, self.target = out - p, out.copy(), x
        b = np.clip(base_target, -self.base_vmax, self.base_vmax)
        b = np.clip(b, self.base - self.base_dv, self.base + self.base_dv)
        changes["base"] = np.abs(b - base_target)
        self.base = b
        return out, b, changes


@dataclass
class ExecutorConfig:
    control_rate_hz: float = 50.0
    blend_s: float = 0.06            # cross-fade between an old and a new chunk
    chunk_timeout_s: float = 2.0     # a chunk older than this (by its stamp) is not executed


@dataclass
class ExecutorStats:
    ticks: int = 0
    commands: int = 0
    starvation_ticks: int = 0
    watchdog_trips: int = 0
    last_trip: str = ""              # why the last hold began: what the chunk covered and when
    safety_clamps: int = 0           # ticks where any limit changed a command
    chunks_accepted: int = 0
    clamps_by_kind: dict = field(default_factory=dict)    # kind -> ticks where it changed a command
    clamps_by_joint: dict = field(default_factory=dict)   # kind -> joint -> {"count": ticks, "max": change}

    def add_clamps(self, changes: dict[str, np.ndarray], names: dict[str, tuple[str, ...]]) -> None:
        """Count one tick's changes (see the module docstring, point 5)."""
        hit = False
        for kind, change in changes.items():
            idx = np.flatnonzero(change > TOL)
            if idx.size == 0:
                continue
            hit = True
            self.clamps_by_kind[kind] = self.clamps_by_kind.get(kind, 0) + 1
            per_joint = self.clamps_by_joint.setdefault(kind, {})
            for i in idx:
                entry = per_joint.setdefault(names[kind][i], {"count": 0, "max": 0.0})
                entry["count"] += 1
                entry["max"] = max(entry["max"], float(change[i]))
        self.safety_clamps += int(hit)


@dataclass(frozen=True)
class Command:
    positions: np.ndarray            # [n_joints] arm/gripper joint targets in profile joint order
    base: np.ndarray                 # [len(base_dims)] base velocity command (empty without a base)
    holding: bool                    # True when the watchdog is holding position


class ActionExecutor:
    """Chunks and measured states in, one filtered Command per tick out (the module docstring's semantics)."""

    def __init__(self, profile: RobotProfile, config: ExecutorConfig | None = None):
        self.profile = profile
        self.config = config or ExecutorConfig(control_rate_hz=profile.control_rate_hz)
        self.dt = 1.0 / self.config.control_rate_hz
        self.n_joints = len(profile.joints)
        self.action_dim = self.n_joints + len(profile.base_dims)
        self.stats = ExecutorStats()
        self.filter: SafetyFilter | None = None    # made at the first command, from the measured state
        self._names = {k: tuple(profile.base_dims) if k == "base" else tuple(profile.joints) for k in CLAMP_KINDS}
        self._chunk: Chunk | None = None
        self._previous: Chunk | None = None   # the chunk being faded out
        self._switch_time = -np.inf
        self._holding = True
        self._measured: np.ndarray | None = None

    # -- inputs ---------------------------------------------------------------------------------
    def on_state(self, positions, names=None) -> None:
        """The measured arm/gripper positions in profile joint order.

        `names`, if given, must be exactly the profile's joints in that order. Rejected input raises
        RejectedInput and leaves the state as it was.
        """
        if names is not None and list(names) != list(self.profile.joints):
            raise RejectedInput("state_joints", f"joint names {list(names)} != profile joints "
                                                f"{list(self.profile.joints)}")
        try:
            p = np.asarray(positions, dtype=np.float64)
        except (TypeError, ValueError):
            raise RejectedInput("state_size", "joint positions are not a flat list of numbers") from None
        if p.shape != (self.n_joints,):
            raise RejectedInput("state_size", f"{p.size} positions for {self.n_joints} joints")
        if not np.all(np.isfinite(p)):
            bad = [j for j, v in zip(self.profile.joints, p) if not np.isfinite(v)]
            raise RejectedInput("non_finite_state", f"joint state has NaN/inf for {bad}")
        self._measured = p

    def on_chunk(self, chunk: Chunk, now: float, blend: bool = True) -> None:
        _check_chunk(np.asarray(chunk.times), np.asarray(chunk.actions), self.action_dim)
        if chunk.end < now:
            raise RejectedInput("chunk_in_past", f"chunk ends at {chunk.end:.3f} s, before now ({now:.3f} s)")
        if blend and self._chunk is not None and self._covers(self._chunk, now):
            self._previous, self._switch_time = self._chunk, now
        else:
            self._previous = None
        self._chunk = chunk
        self.stats.chunks_accepted += 1

    def idle(self) -> None:
        """The episode ended: drop every chunk and hold the last command from the next tick on (braking within the
        limits if the arm was moving). Holding while idle is not starvation: no chunk is owed.
        """
        self._chunk = self._previous = None

    @property
    def holding(self) -> bool:
        return self._holding

    @property
    def ready(self) -> bool:
        """True once there is a measured state to hold (commands start then)."""
        return self._measured is not None or self.filter is not None

    # -- the tick -------------------------------------------------------------------------------
    def _covers(self, chunk: Chunk, t: float) -> bool:
        return chunk.times[0] - 1e-9 <= t <= chunk.end + 1e-9 and t - chunk.times[0] <= self.config.chunk_timeout_s

    def _target(self, now: float) -> np.ndarray | None:
        if self._chunk is None or not self._covers(self._chunk, now):
            return None
        target = self._chunk.sample(now)
        if self._previous is not None and now - self._switch_time < self.config.blend_s:
            if self._covers(self._previous, now):
                w = (now - self._switch_time) / self.config.blend_s
                target = w * target + (1 - w) * self._previous.sample(now)
        return target

    def tick(self, now: float) -> Command | None:
        """One control tick. Returns None until a measured state has arrived; never raises."""
        if not self.ready:
            return None
        self.stats.ticks += 1
        if self.filter is None:
            self.filter = SafetyFilter(self.profile, self.dt, self._measured)
        target = self._target(now)
        if target is not None and (target.shape != (self.action_dim,) or not np.all(np.isfinite(target))):
            target = None   # cannot happen with validated chunks; hold rather than trust it
        if target is None:
            if not self._holding and self._chunk is not None:
                self.stats.watchdog_trips += 1
                c = self._chunk
                self.stats.last_trip = (f"at {now:.3f} s no chunk covers now: the latest spans {c.times[0]:.3f}-"
                                        f"{c.end:.3f} s (timeout {self.config.chunk_timeout_s} s after its start)")
            if self._chunk is not None:
                self.stats.starvation_ticks += 1
            self._holding = True
            arm, base_target = self.filter.position.copy(), np.zeros(len(self.profile.base_dims))
        else:
            self._holding = False
            arm, base_target = target[: self.n_joints], target[self.n_joints:]
        cmd, base, changes = self.filter(arm, base_target)
        if not self._holding:
            self.stats.add_clamps(changes, self._names)
        self.stats.commands += 1
        return Command(positions=cmd, base=base, holding=self._holding)
