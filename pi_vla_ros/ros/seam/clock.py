"""rclpy.clock, plus the seam-only virtual time switch.

Virtual time (seam only): ``use_virtual_time()`` replaces the process's SYSTEM and STEADY time with
one virtual nanosecond counter starting at 0. Nothing advances it but the SingleThreadedExecutor,
which, when no callback is ready, jumps it to the earliest deadline among its timers that run on
host time (SYSTEM/STEADY clocks, and ROS clocks without sim time, which then read the same
counter). So a graph whose simulator steps on a STEADY timer and publishes /clock, with every other
node on use_sim_time, runs deterministically and as fast as the CPU allows::

    with use_virtual_time():
        rclpy.init(); ...; executor.spin_until(lambda: done)

Enable it before creating nodes: timers created earlier hold real-time deadlines.
"""

from __future__ import annotations

import time as _time

from pi_vla_ros.ros.seam.time import ClockType, Time

__all__ = ["Clock", "ClockType", "ROSClock", "use_virtual_time", "virtual_time_active"]

_virtual_ns: int | None = None  # None: real time


class use_virtual_time:
    """Switch SYSTEM/STEADY time to a virtual clock at 0 now; ``close()`` or leaving ``with`` undoes it."""

    def __init__(self):
        global _virtual_ns
        self._previous = _virtual_ns
        _virtual_ns = 0

    def close(self) -> None:
        global _virtual_ns
        _virtual_ns = self._previous

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def virtual_time_active() -> bool:
    return _virtual_ns is not None


def advance_virtual_time(to_ns: int) -> None:
    """Move virtual time forward to ``to_ns`` (never backwards). Executors call this; tests may too."""
    global _virtual_ns
    if _virtual_ns is None:
        raise RuntimeError("virtual time is not active")
    _virtual_ns = max(_virtual_ns, int(to_ns))


def _host_ns(clock_type: ClockType) -> int:
    if _virtual_ns is not None:
        return _virtual_ns
    return _time.monotonic_ns() if clock_type == ClockType.STEADY_TIME else _time.time_ns()


class Clock:
    def __new__(cls, *, clock_type: ClockType = ClockType.SYSTEM_TIME):
        # rclpy: Clock(clock_type=ROS_TIME) gives a ROSClock.
        if cls is Clock and clock_type == ClockType.ROS_TIME:
            return super().__new__(ROSClock)
        return super().__new__(cls)

    def __init__(self, *, clock_type: ClockType = ClockType.SYSTEM_TIME):
        if clock_type not in (ClockType.ROS_TIME, ClockType.SYSTEM_TIME, ClockType.STEADY_TIME):
            raise TypeError(f"invalid clock type {clock_type!r}")
        self._clock_type = ClockType(clock_type)

    @property
    def clock_type(self) -> ClockType:
        return self._clock_type

    def now(self) -> Time:
        return Time(nanoseconds=self._now_ns(), clock_type=self._clock_type)

    def _now_ns(self) -> int:
        return _host_ns(self._clock_type)

    def _follows_host(self) -> bool:
        """True when this clock reads host (or virtual) time, so executors may sleep/jump towards it."""
        return True

    def __repr__(self):
        return f"Clock(clock_type={self._clock_type.name})"


class ROSClock(Clock):
    """ROS time: system time, or, while sim time is active, the last time set by the TimeSource (/clock)."""

    def __init__(self, *, clock_type: ClockType = ClockType.ROS_TIME):
        super().__init__(clock_type=ClockType.ROS_TIME)
        self._active = False
        self._override_ns = 0  # rcl: ROS time reads 0 until the first /clock message

    @property
    def ros_time_is_active(self) -> bool:
        return self._active

    def _set_ros_time_is_active(self, enabled: bool) -> None:
        self._active = bool(enabled)

    def set_ros_time_override(self, time: Time) -> None:
        self._override_ns = time.nanoseconds

    def _now_ns(self) -> int:
        return self._override_ns if self._active else _host_ns(ClockType.SYSTEM_TIME)

    def _follows_host(self) -> bool:
        return not self._active
