"""Every seam test gets a fresh default context (rclpy.init / rclpy.shutdown), like rclpy's own tests."""

import pytest

from pi_vla_ros.ros.seam import rclpy
from pi_vla_ros.ros.seam.clock import use_virtual_time


@pytest.fixture(autouse=True)
def ros_context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture
def virtual_time():
    """Virtual SYSTEM/STEADY time at 0 for the test (tests using it must create nodes afterwards)."""
    with use_virtual_time():
        yield


def drain(executor, limit: int = 1000) -> None:
    """Run whatever is ready now, without waiting."""
    for _ in range(limit):
        executor.spin_once(timeout_sec=0)
