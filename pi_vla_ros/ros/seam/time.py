"""rclpy.time / rclpy.duration / rclpy.clock_type: integer-nanosecond time points and spans."""

from __future__ import annotations

from enum import IntEnum
from functools import total_ordering

S_TO_NS = 1_000_000_000


class ClockType(IntEnum):
    # Values match rcl_clock_type_t so logs and comparisons read the same as with rclpy.
    UNINITIALIZED = 0
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3


def _total_ns(seconds, nanoseconds) -> int:
    return int(seconds * S_TO_NS) + int(nanoseconds)


@total_ordering
class Duration:
    """A signed span of time (rclpy allows negative durations)."""

    __slots__ = ("_ns",)

    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0):
        self._ns = _total_ns(seconds, nanoseconds)
        if not -(2**63) <= self._ns < 2**63:
            raise OverflowError("Total nanoseconds value is out of range for a Duration")

    @property
    def nanoseconds(self) -> int:
        return self._ns

    def to_msg(self):
        from pi_vla_ros.ros.seam import msgs  # late: msgs loads the rosbags typestore

        sec, nanosec = divmod(self._ns, S_TO_NS)
        return msgs.DurationMsg(sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg) -> "Duration":
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec)

    def __repr__(self):
        return f"Duration(nanoseconds={self._ns})"

    def __eq__(self, other):
        return isinstance(other, Duration) and self._ns == other._ns

    def __lt__(self, other):
        if not isinstance(other, Duration):
            return NotImplemented
        return self._ns < other._ns

    def __hash__(self):
        return hash(self._ns)


@total_ordering
class Time:
    """A point in time on one clock type; arithmetic across clock types is a TypeError like rclpy."""

    __slots__ = ("_ns", "_clock_type")

    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0, clock_type: ClockType = ClockType.SYSTEM_TIME):
        self._ns = _total_ns(seconds, nanoseconds)
        if self._ns < 0:
            raise ValueError("Total nanoseconds value is too low to store")
        if self._ns >= 2**63:
            raise OverflowError("Total nanoseconds value is too high to store")
        self._clock_type = ClockType(clock_type)

    @property
    def nanoseconds(self) -> int:
        return self._ns

    @property
    def clock_type(self) -> ClockType:
        return self._clock_type

    def seconds_nanoseconds(self) -> tuple[int, int]:
        return divmod(self._ns, S_TO_NS)

    def to_msg(self):
        from pi_vla_ros.ros.seam import msgs

        sec, nanosec = self.seconds_nanoseconds()
        return msgs.TimeMsg(sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg, clock_type: ClockType = ClockType.ROS_TIME) -> "Time":
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec, clock_type=clock_type)

    def __repr__(self):
        return f"Time(nanoseconds={self._ns}, clock_type={self._clock_type.name})"

    def _same_clock(self, other: "Time") -> None:
        if self._clock_type != other._clock_type:
            raise TypeError("Can't compare times with different clock types")

    def __add__(self, other):
        if not isinstance(other, Duration):
            return NotImplemented
        return Time(nanoseconds=self._ns + other.nanoseconds, clock_type=self._clock_type)

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, Time):
            self._same_clock(other)
            return Duration(nanoseconds=self._ns - other._ns)
        if isinstance(other, Duration):
            return Time(nanoseconds=self._ns - other.nanoseconds, clock_type=self._clock_type)
        return NotImplemented

    def __eq__(self, other):
        if not isinstance(other, Time):
            return NotImplemented
        self._same_clock(other)
        return self._ns == other._ns

    def __lt__(self, other):
        if not isinstance(other, Time):
            return NotImplemented
        self._same_clock(other)
        return self._ns < other._ns

    def __hash__(self):
        return hash((self._ns, self._clock_type))
