"""Recorded data: LeRobot v3.0 datasets (:mod:`.lerobot_dataset`) and rosbag2 MCAP recording/conversion
(:mod:`.rosbag`). Needs the ``data`` extra (pyarrow, av, rosbags).
"""
