"""rclpy.logging subset: node loggers with rcutils severities and once/throttle/skip_first filters.

Records go to Python ``logging`` under ``pi_vla_ros.<rcl logger name>`` (``pi_vla_ros.my_node``, or
``pi_vla_ros.ns.my_node`` in namespace /ns), so pytest's caplog sees them. As with rcutils, the
logger's own severity (default INFO, see ``set_level``) decides what is emitted; Python logger levels
are not consulted, so INFO reaches caplog without ``caplog.set_level``.
"""

from __future__ import annotations

import logging
import sys
from enum import IntEnum

from pi_vla_ros.ros.seam.clock import Clock


class LoggingSeverity(IntEnum):
    UNSET = 0
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50


class RcutilsLogger:
    def __init__(self, name: str = ""):
        self.name = name
        self._python = logging.getLogger(f"pi_vla_ros.{name}" if name else "pi_vla_ros")
        self._level = LoggingSeverity.INFO
        self._filter_state: dict[tuple, dict] = {}  # per call site, like rclpy's CallerId contexts

    def get_child(self, name: str) -> "RcutilsLogger":
        return RcutilsLogger(f"{self.name}.{name}" if self.name else name)

    def set_level(self, level) -> None:
        self._level = LoggingSeverity(level)

    def get_effective_level(self) -> LoggingSeverity:
        return self._level

    def is_enabled_for(self, severity) -> bool:
        return severity >= self._level

    def log(self, message, severity, *, throttle_duration_sec=None, throttle_time_source_type=None,
            skip_first=False, once=False) -> bool:
        """Emit unless the severity is below the level or a filter drops it; returns whether it was emitted."""
        if not self.is_enabled_for(severity):
            return False
        frame, stacklevel = sys._getframe(1), 2
        while frame.f_code.co_filename == __file__:  # the caller outside this module keys the filters
            frame, stacklevel = frame.f_back, stacklevel + 1
        state = self._filter_state.setdefault((frame.f_code.co_filename, frame.f_lineno, frame.f_lasti),
                                              {"calls": 0, "last_ns": None})
        state["calls"] += 1
        # rclpy evaluates throttle, skip_first, once in this order and stops at the first rejection.
        if throttle_duration_sec is not None:
            now = (throttle_time_source_type or Clock()).now().nanoseconds
            if state["last_ns"] is not None and now < state["last_ns"] + throttle_duration_sec * 1e9:
                return False
            state["last_ns"] = now
        if skip_first and state["calls"] == 1:
            return False
        if once and state.setdefault("once_done", False):
            return False
        state["once_done"] = True
        level = logging.CRITICAL if severity >= LoggingSeverity.FATAL else int(severity)
        record = self._python.makeRecord(self._python.name, level, frame.f_code.co_filename, frame.f_lineno,
                                         str(message), (), None, frame.f_code.co_name)
        self._python.handle(record)
        return True

    def debug(self, message, **kwargs) -> bool:
        return self.log(message, LoggingSeverity.DEBUG, **kwargs)

    def info(self, message, **kwargs) -> bool:
        return self.log(message, LoggingSeverity.INFO, **kwargs)

    def warning(self, message, **kwargs) -> bool:
        return self.log(message, LoggingSeverity.WARN, **kwargs)

    warn = warning

    def error(self, message, **kwargs) -> bool:
        return self.log(message, LoggingSeverity.ERROR, **kwargs)

    def fatal(self, message, **kwargs) -> bool:
        return self.log(message, LoggingSeverity.FATAL, **kwargs)


def get_logger(name: str) -> RcutilsLogger:
    return RcutilsLogger(name)
