"""In-process stand-in for the rclpy subset pi_vla_ros uses, for machines without ROS 2.

Same names and semantics as rclpy (see each module), one in-process topic graph per
``rclpy.init()``. Modules: ``rclpy`` (init/shutdown/spin), ``node``, ``executors``, ``qos``,
``time``, ``clock`` (with the seam-only :func:`~pi_vla_ros.ros.seam.clock.use_virtual_time`),
``parameter``, ``logging``, ``msgs`` (message classes from the rosbags Jazzy typestore) and
``context`` (the graph). Import through :mod:`pi_vla_ros.ros`, not from here.
"""
