"""The one place nodes get ROS from.

With ROS 2 installed this re-exports the real rclpy and the real message classes and the seam does
nothing. Without it (CI, ML workstations) the same names come from :mod:`pi_vla_ros.ros.seam`, a
small in-process implementation of the rclpy subset the nodes use, with message classes built from
the ROS 2 message definitions shipped in ``rosbags`` (same field names and types, CDR-serializable).

Nodes import only from here::

    from pi_vla_ros.ros import rclpy, Node, QoSProfile, DurabilityPolicy, msgs
    msgs.JointState, msgs.Image, msgs.JointTrajectory, ...
"""

from __future__ import annotations

import os

try:  # pragma: no cover - exercised only where ROS 2 is installed
    if os.environ.get("PI_VLA_FORCE_SEAM"):
        raise ImportError("PI_VLA_FORCE_SEAM is set")
    import rclpy  # type: ignore[no-redef]
    from rclpy.node import Node  # noqa: F401
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: F401
    from rclpy.time import Duration, Time  # noqa: F401
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: F401
    from rclpy.parameter import Parameter  # noqa: F401
    from rclpy.clock import Clock, ClockType  # noqa: F401

    from pi_vla_ros.ros import _real_msgs as msgs  # noqa: F401

    HAVE_RCLPY = True
except ImportError:
    from pi_vla_ros.ros.seam import rclpy  # noqa: F401
    from pi_vla_ros.ros.seam.node import Node  # noqa: F401
    from pi_vla_ros.ros.seam.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: F401
    from pi_vla_ros.ros.seam.time import Duration, Time  # noqa: F401
    from pi_vla_ros.ros.seam.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: F401
    from pi_vla_ros.ros.seam.parameter import Parameter  # noqa: F401
    from pi_vla_ros.ros.seam.clock import Clock, ClockType  # noqa: F401
    from pi_vla_ros.ros.seam import msgs  # noqa: F401

    HAVE_RCLPY = False
