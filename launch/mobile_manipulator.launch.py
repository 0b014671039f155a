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

"""`ros2 launch pi_vla_ros mobile_manipulator.launch.py [sim:=true] [checkpoint:=DIR] [policy:=NAME]
[profile:=FILE.yaml]`

Starts the mobile_manipulator graph: observation, policy, action executor and verbal-instruction nodes, plus
robot_state_publisher (and the embedded simulator with sim:=true). The node list and parameters come
from pi_vla_ros.graph, the same description `pi-vla launch mobile_manipulator` runs without ROS 2.
"""

from pi_vla_ros.launch_support import make_launch_description


def generate_launch_description():
    return make_launch_description("mobile_manipulator")
