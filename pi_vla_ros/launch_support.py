"""Builds a launch_ros LaunchDescription from :mod:`pi_vla_ros.graph` (imported only under ROS 2)."""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from pi_vla_ros.graph import LAUNCH_ARGUMENTS, PACKAGE, graph, robot_description


def _nodes(context, robot: str):
    names = {name for name, _, _ in LAUNCH_ARGUMENTS}
    args = {k: v for k, v in context.launch_configurations.items() if k in names}
    specs = graph(robot, **args)
    actions = [Node(package=PACKAGE, executable=spec.executable, name=spec.name, output="screen",
                    parameters=[str(spec.params_file), spec.overrides]) for spec in specs]
    use_sim_time = next(s.overrides["use_sim_time"] for s in specs if s.executable == "pi_vla_policy")
    actions.append(Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
                        parameters=[{"robot_description": robot_description(robot, args.get("profile", "")),
                                     "use_sim_time": use_sim_time}]))
    return actions


def make_launch_description(robot: str) -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, default, text in LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes, kwargs={"robot": robot})])
