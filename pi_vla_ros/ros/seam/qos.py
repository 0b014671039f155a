"""rclpy.qos subset: history/depth, reliability and durability, which are what change delivery."""

from __future__ import annotations

from enum import IntEnum


class HistoryPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


class ReliabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class DurabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2


# Accepted for source compatibility; the in-process graph has no use for them.
_IGNORED = {"deadline", "lifespan", "liveliness", "liveliness_lease_duration", "avoid_ros_namespace_conventions"}


class QoSProfile:
    def __init__(self, **kwargs):
        unknown = set(kwargs) - _IGNORED - {"history", "depth", "reliability", "durability"}
        if unknown:
            raise TypeError(f"unknown QoS settings: {sorted(unknown)}")
        if "history" not in kwargs and "depth" not in kwargs:
            # rclpy raises InvalidQoSProfileException here.
            raise ValueError("History and/or depth settings are required.")
        self.history = HistoryPolicy(kwargs.get("history", HistoryPolicy.KEEP_LAST))
        self.depth = int(kwargs.get("depth", 0 if self.history == HistoryPolicy.KEEP_ALL else 10))
        self.reliability = ReliabilityPolicy(kwargs.get("reliability", ReliabilityPolicy.RELIABLE))
        self.durability = DurabilityPolicy(kwargs.get("durability", DurabilityPolicy.VOLATILE))

    @property
    def keep_last(self) -> int | None:
        """Queue bound: ``depth`` for KEEP_LAST, None (unbounded) for KEEP_ALL."""
        return None if self.history == HistoryPolicy.KEEP_ALL else self.depth

    @property
    def transient_local(self) -> bool:
        return self.durability == DurabilityPolicy.TRANSIENT_LOCAL

    @property
    def best_effort(self) -> bool:
        return self.reliability == ReliabilityPolicy.BEST_EFFORT

    def __eq__(self, other):
        return isinstance(other, QoSProfile) and vars(self) == vars(other)

    def __repr__(self):
        return ("QoSProfile(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items()) + ")")


def incompatible_policy(offered: QoSProfile, requested: QoSProfile) -> str | None:
    """The DDS request-vs-offered rule: a stronger request than the offer means no connection."""
    if requested.transient_local and not offered.transient_local:
        return "DURABILITY"
    if not requested.best_effort and offered.best_effort:
        return "RELIABILITY"
    return None


qos_profile_sensor_data = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
qos_profile_system_default = QoSProfile(depth=10)
