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

"""The ROS 2 names the nodes use, from real rclpy (a sourced ROS 2 install, or the Jazzy wheels from PyPI).

There is one implementation of rclpy in this project: rclpy. Nodes import through here so that the set of
rclpy APIs the project depends on is visible in one place::

    from pi_vla_ros.ros import Node, LifecycleNode, QoSProfile, msgs
    msgs.JointState, msgs.Image, msgs.CompressedImage, msgs.JointTrajectory, ...
"""

from __future__ import annotations

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.context import Context
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor, TimeoutException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.time import Duration, Time

from pi_vla_ros.ros import msgs


def middleware() -> dict:
    """The client library and middleware this process runs on (for run reports)."""
    import importlib.metadata as md

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    return {"client_library": "rclpy", "rclpy": version("ros-rclpy") or version("rclpy"),
            "rmw": rclpy.get_rmw_implementation_identifier(),
            "ros_distro": __import__("os").environ.get("ROS_DISTRO") or "jazzy (PyPI wheels)"}


__all__ = ["rclpy", "Clock", "ClockType", "Context", "ExternalShutdownException", "PublisherEventCallbacks",
           "InvalidParameterTypeException", "InvalidParameterValueException", "SubscriptionEventCallbacks",
           "SingleThreadedExecutor", "TimeoutException", "LifecycleNode", "LifecycleState",
           "TransitionCallbackReturn", "Node", "Parameter", "DurabilityPolicy", "HistoryPolicy", "QoSProfile",
           "ReliabilityPolicy", "qos_profile_sensor_data", "Duration", "Time", "FloatingPointRange", "IntegerRange",
           "ParameterDescriptor", "SetParametersResult", "msgs", "middleware"]
