"""`ros2 launch pi_vla_ros mobile_manipulator.launch.py [sim:=true] [checkpoint:=DIR] [policy:=NAME]
[profile:=FILE.yaml]`

Starts the mobile_manipulator graph: observation, policy, action executor and verbal-instruction nodes, plus
robot_state_publisher (and the embedded simulator with sim:=true). The node list and parameters come
from pi_vla_ros.graph, the same description `pi-vla launch mobile_manipulator` runs without ROS 2.
"""

from pi_vla_ros.launch_support import make_launch_description


def generate_launch_description():
    return make_launch_description("mobile_manipulator")
