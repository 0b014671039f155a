"""The module-level rclpy API (init, shutdown, ok, spin, spin_once, ...) over the seam's default context.

``rclpy.executors`` and ``rclpy.logging`` are reachable as attributes, as after ``import rclpy`` on
ROS, so ``except rclpy.executors.ExternalShutdownException`` works on both paths.
"""

from __future__ import annotations

import logging as _logging
import sys

from pi_vla_ros.ros.seam import context as _context
from pi_vla_ros.ros.seam import executors
from pi_vla_ros.ros.seam import logging  # noqa: F401  (rclpy.logging)
from pi_vla_ros.ros.seam.context import Context, get_default_context  # noqa: F401


def init(args=None, *, context: Context | None = None, domain_id: int | None = None,
         signal_handler_options=None) -> None:
    """Start a fresh default context (``args`` and the rest are accepted and ignored).

    Unlike rclpy no SIGINT handler is installed: Ctrl-C raises KeyboardInterrupt in the main thread."""
    if context is not None:
        raise ValueError("the seam has only the default context")
    _context.new_default_context()
    _console_logging()


def ok(*, context: Context | None = None) -> bool:
    ctx = context or get_default_context()
    return ctx is not None and ctx.ok()


def shutdown(*, context: Context | None = None) -> None:
    ctx = context or get_default_context()
    if ctx is None:
        raise RuntimeError("rclpy.init() has not been called")
    ctx.shutdown()


def try_shutdown(*, context: Context | None = None) -> None:
    ctx = context or get_default_context()
    if ctx is not None:
        ctx.try_shutdown()


def create_node(node_name: str, **kwargs):
    from pi_vla_ros.ros.seam.node import Node

    return Node(node_name, **kwargs)


def get_global_executor() -> executors.Executor:
    ctx = get_default_context(require_ok=True)
    if ctx.global_executor is None:
        ctx.global_executor = executors.SingleThreadedExecutor(context=ctx)
    return ctx.global_executor


def spin(node, executor: executors.Executor | None = None) -> None:
    """Run callbacks until the context shuts down (then ExternalShutdownException, as in rclpy)."""
    executor = executor or get_global_executor()
    try:
        executor.add_node(node)
        while executor.context.ok():
            executor.spin_once()
    finally:
        executor.remove_node(node)


def spin_once(node, *, executor: executors.Executor | None = None, timeout_sec: float | None = None) -> None:
    executor = executor or get_global_executor()
    try:
        executor.add_node(node)
        executor.spin_once(timeout_sec=timeout_sec)
    finally:
        executor.remove_node(node)


def _console_logging() -> None:
    """rclpy prints INFO and above to the console; give node loggers a handler when nothing else would."""
    package_logger = _logging.getLogger("pi_vla_ros")
    if not _logging.getLogger().handlers and not package_logger.handlers:
        handler = _logging.StreamHandler(sys.stderr)
        handler.setFormatter(_logging.Formatter("[%(levelname)s] [%(created).6f] [%(name)s]: %(message)s"))
        package_logger.addHandler(handler)
