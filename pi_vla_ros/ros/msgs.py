"""The ROS 2 message classes the nodes use, under one roof (``msgs.JointState`` ...)."""

from builtin_interfaces.msg import Duration as DurationMsg, Time as TimeMsg  # noqa: F401
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: F401
from geometry_msgs.msg import Twist, Vector3  # noqa: F401
from rosgraph_msgs.msg import Clock  # noqa: F401
from sensor_msgs.msg import CompressedImage, Image, JointState  # noqa: F401
from std_msgs.msg import (Bool, Float64, Float64MultiArray, Header, MultiArrayDimension,  # noqa: F401
                          MultiArrayLayout, String)
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: F401
