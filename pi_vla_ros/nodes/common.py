"""Small helpers every node uses: parameters, time conversion, rejection logging, diagnostics."""

from __future__ import annotations

import json
import sys
import time
from types import SimpleNamespace

import numpy as np

from pi_vla_ros.core.errors import RejectedInput, RejectionCounter
from pi_vla_ros.ros import QoSProfile, ReliabilityPolicy, DurabilityPolicy, msgs

SENSOR_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def declare(node, **defaults) -> SimpleNamespace:
    """Declare parameters with defaults and return their (possibly overridden) values."""
    return SimpleNamespace(**{name: node.declare_parameter(name, value).value for name, value in defaults.items()})


def to_sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _sec_nanosec(seconds: float) -> tuple[int, int]:
    return divmod(int(round(seconds * 1e9)), 1_000_000_000)   # rounding may carry into the seconds


def to_stamp(seconds: float):
    sec, nanosec = _sec_nanosec(seconds)
    return msgs.TimeMsg(sec=sec, nanosec=nanosec)


def to_duration(seconds: float):
    sec, nanosec = _sec_nanosec(seconds)
    return msgs.DurationMsg(sec=sec, nanosec=nanosec)


def now_sec(node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


class Rejections:
    """Counts rejected inputs by reason; logs the first of each reason in full, then at most every 5 s."""

    def __init__(self, node, log_period_s: float = 5.0):
        self._logger = node.get_logger()
        self.counter = RejectionCounter()
        self._last_log: dict[str, float] = {}
        self._period = log_period_s

    def __call__(self, error: RejectedInput, source: str = "") -> None:
        self.counter.add(error.reason)
        t = time.monotonic()
        if t - self._last_log.get(error.reason, -np.inf) >= self._period:
            self._last_log[error.reason] = t
            n = self.counter.as_dict()[error.reason]
            self._logger.warning(f"rejected {source or 'input'}: {error} (count {n})")


def diagnostics(node_name: str, ok: bool, message: str, values: dict):
    status = msgs.DiagnosticStatus(
        level=msgs.DiagnosticStatus.OK if ok else msgs.DiagnosticStatus.WARN,
        name=node_name,
        message=message,
        hardware_id="pi_vla_ros",
        values=[msgs.KeyValue(key=str(k), value=json.dumps(v) if not isinstance(v, str) else v)
                for k, v in values.items()],
    )
    return status


def run_node(node_cls, args=None) -> None:
    """The console-script main for one node, with real rclpy or the seam."""
    from pi_vla_ros.ros import MultiThreadedExecutor, rclpy

    rclpy.init(args=args if args is not None else sys.argv)
    node = node_cls()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
