"""Embedded MuJoCo simulator (ROS-free): scene from the profile's URDF, ros2_control-like controllers,
language-conditioned tabletop tasks and a scripted expert.

Modules: ``controllers`` (no MuJoCo needed), ``tasks``, ``scene``, ``simulator`` (``Simulator``), ``expert``.
Nothing is imported here so that ``pi_vla_ros.sim.controllers`` works without MuJoCo installed.
"""
