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

"""Builds a launch_ros LaunchDescription from :mod:`pi_vla_ros.graph` (imported only under ROS 2)."""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch_ros.actions import Node

from pi_vla_ros.graph import LAUNCH_ARGUMENTS, PACKAGE, graph, robot_description


def have_package(name: str) -> bool:
    """Whether a ROS package is installed (in the ament index of the sourced workspaces)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        get_package_share_directory(name)
    except PackageNotFoundError:
        return False
    return True


def _nodes(context, robot: str):
    names = {name for name, _, _ in LAUNCH_ARGUMENTS}
    args = {k: v for k, v in context.launch_configurations.items() if k in names}
    specs = graph(robot, **args)
    actions = [Node(package=PACKAGE, executable=spec.executable, name=spec.name, output="screen",
                    parameters=[str(spec.params_file), spec.overrides]) for spec in specs]
    use_sim_time = next(s.overrides["use_sim_time"] for s in specs if s.executable == "pi_vla_policy")
    if have_package("robot_state_publisher"):   # TF for visualization only: the graph does not need it
        actions.append(Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
                            parameters=[{"robot_description": robot_description(robot, args.get("profile", "")),
                                         "use_sim_time": use_sim_time}]))
    else:
        actions.append(LogInfo(msg="[WARN] robot_state_publisher is not installed: no TF from the robot description "
                                   "(the pi_vla graph runs without it)"))
    return actions


def make_launch_description(robot: str) -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, default, text in LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes, kwargs={"robot": robot})])
