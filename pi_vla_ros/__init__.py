"""pi_vla_ros: pi-family vision-language-action policies on ROS 2 robots."""

__version__ = "0.1.0"
