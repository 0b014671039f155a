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

"""The ROS 2 message classes the nodes use, under one roof (``msgs.JointState`` ...)."""

from builtin_interfaces.msg import Duration as DurationMsg, Time as TimeMsg  # noqa: F401
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: F401
from geometry_msgs.msg import Twist, Vector3  # noqa: F401
from rosgraph_msgs.msg import Clock  # noqa: F401
from sensor_msgs.msg import CompressedImage, Image, JointState  # noqa: F401
from std_msgs.msg import (Bool, Float64, Float64MultiArray, Header, Int16MultiArray,  # noqa: F401
                          MultiArrayDimension, MultiArrayLayout, String)
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: F401
