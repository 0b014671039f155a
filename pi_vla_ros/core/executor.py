"""The action executor's core: chunks in, one safe command per control tick out.

Semantics, tick by tick (``tick(now)``):

1. Chunk timeline. A chunk's action i applies at ``stamp + i * dt``. Positions between actions are
   linearly interpolated, so any policy rate is resampled to the control rate. A new chunk replaces
   the current one from ``now`` on, cross-faded over ``blend_s`` so the switch never steps (the
   stale prefix of the new chunk, already in the past when it arrives, is simply never sampled).
2. Watchdog. With no chunk covering ``now`` (none yet, or the last one ran out or is older than
   ``chunk_timeout_s``) the executor holds: arms keep the last commanded position (the measured one
   before anything was commanded) and the base gets zero velocity. Each ready->hold transition is a
   watchdog trip; each held tick after the first chunk is a starvation tick.
3. Safety filter. The target is clipped to the URDF position limits, then the step is limited by
   the URDF velocity limit, the profile's acceleration limit and ``max_step_per_tick``. A tick where
   any of these changed the target counts as a clamp. Non-finite targets never pass: hold instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.profiles import RobotProfile


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


def validate_chunk(profile: RobotProfile, names, times, actions) -> Chunk:
    """Turn the fields of an action-chunk message into a Chunk in the profile's layout, or reject."""
    names = list(names)
    expected = profile.action_names
    if sorted(names) != sorted(expected) or len(names) != len(set(names)):
        raise RejectedInput("chunk_joints", f"chunk joints {names} != profile action layout {list(expected)}")
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        raise RejectedInput("chunk_empty", "action chunk has no points")
    try:
        actions = np.asarray(actions, dtype=np.float64)
    except ValueError:  # ragged rows
        raise RejectedInput("chunk_width", "action chunk points have different widths") from None
    if actions.ndim != 2 or actions.shape != (times.size, len(names)):
        raise RejectedInput("chunk_width", f"points have width {actions.shape[1:] if actions.ndim == 2 else '?'}"
                                           f", expected {len(names)}")
    if np.any(np.diff(times) <= 0):
        raise RejectedInput("non_increasing_time", "time_from_start must be strictly increasing")
    if not np.all(np.isfinite(actions)) or not np.all(np.isfinite(times)):
        raise RejectedInput("non_finite_action", "action chunk contains NaN/inf")
    order = [names.index(n) for n in expected]
    return Chunk(times=times, actions=actions[:, order])


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
    safety_clamps: int = 0
    chunks_accepted: int = 0
    clamps_by_kind: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    positions: np.ndarray            # [n_joints] arm/gripper joint targets in profile joint order
    base: np.ndarray                 # [len(base_dims)] base velocity command (empty without a base)
    holding: bool                    # True when the watchdog is holding position


class ActionExecutor:
    def __init__(self, profile: RobotProfile, config: ExecutorConfig | None = None):
        self.profile = profile
        self.config = config or ExecutorConfig(control_rate_hz=profile.control_rate_hz)
        self.dt = 1.0 / self.config.control_rate_hz
        self.n_joints = len(profile.joints)
        self.lower, self.upper = profile.lower(), profile.upper()
        self.vmax, self.amax = profile.velocity(), profile.acceleration()
        self.max_step = profile.max_step_per_tick
        bl = profile.base_limits
        self.base_vmax = np.array([bl.get(d, np.inf) for d in profile.base_dims])
        self.base_amax = np.array([bl.get(f"{d}_accel", np.inf) for d in profile.base_dims])
        self.stats = ExecutorStats()
        self._chunk: Chunk | None = None
        self._previous: Chunk | None = None   # the chunk being faded out
        self._switch_time = -np.inf
        self._last_cmd: np.ndarray | None = None
        self._last_vel = np.zeros(self.n_joints)
        self._last_base = np.zeros(len(profile.base_dims))
        self._holding = True
        self._measured: np.ndarray | None = None

    # -- inputs ---------------------------------------------------------------------------------
    def on_state(self, positions: np.ndarray) -> None:
        self._measured = np.asarray(positions, dtype=np.float64)

    def on_chunk(self, chunk: Chunk, now: float) -> None:
        if chunk.end < now:
            raise RejectedInput("chunk_in_past", f"chunk ends at {chunk.end:.3f} s, before now ({now:.3f} s)")
        if self._chunk is not None and self._covers(self._chunk, now):
            self._previous, self._switch_time = self._chunk, now
        else:
            self._previous = None
        self._chunk = chunk
        self.stats.chunks_accepted += 1

    @property
    def holding(self) -> bool:
        return self._holding

    @property
    def ready(self) -> bool:
        """True once there is a measured state to hold (commands start then)."""
        return self._measured is not None or self._last_cmd is not None

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
        """One control tick. Returns None until a measured state has arrived."""
        if not self.ready:
            return None
        self.stats.ticks += 1
        hold_pos = self._last_cmd if self._last_cmd is not None else self._measured
        target = self._target(now)
        if target is not None and not np.all(np.isfinite(target)):
            target = None
        if target is None:
            if not self._holding and self._chunk is not None:
                self.stats.watchdog_trips += 1
            if self._chunk is not None:
                self.stats.starvation_ticks += 1
            self._holding = True
            arm = hold_pos.copy()
            base_target = np.zeros_like(self._last_base)
        else:
            self._holding = False
            arm, base_target = target[: self.n_joints], target[self.n_joints:]
        cmd, base = self._filter(arm, hold_pos, base_target)
        self._last_cmd, self._last_base = cmd, base
        self.stats.commands += 1
        return Command(positions=cmd, base=base, holding=self._holding)

    def _filter(self, target: np.ndarray, prev: np.ndarray, base_target: np.ndarray):
        kinds = []
        clipped = np.clip(target, self.lower, self.upper)
        if np.any(np.abs(clipped - target) > 1e-9):
            kinds.append("position")
        vel = (clipped - prev) / self.dt
        v_lim = np.clip(vel, -self.vmax, self.vmax)
        if np.any(np.abs(v_lim - vel) > 1e-9):
            kinds.append("velocity")
        a_lo, a_hi = self._last_vel - self.amax * self.dt, self._last_vel + self.amax * self.dt
        v_acc = np.clip(v_lim, a_lo, a_hi)
        if np.any(np.abs(v_acc - v_lim) > 1e-9):
            kinds.append("acceleration")
        step = np.clip(v_acc * self.dt, -self.max_step, self.max_step)
        if np.any(np.abs(step - v_acc * self.dt) > 1e-12):
            kinds.append("max_step")
        cmd = np.clip(prev + step, self.lower, self.upper)
        self._last_vel = (cmd - prev) / self.dt
        base = base_target
        if base.size:
            b = np.clip(base_target, -self.base_vmax, self.base_vmax)
            b = np.clip(b, self._last_base - self.base_amax * self.dt, self._last_base + self.base_amax * self.dt)
            if np.any(np.abs(b - base_target) > 1e-9):
                kinds.append("base")
            base = b
        if kinds and not self._holding:
            self.stats.safety_clamps += 1
            for k in kinds:
                self.stats.clamps_by_kind[k] = self.stats.clamps_by_kind.get(k, 0) + 1
        return cmd, base
