import threading
import time

import pytest

from pi_vla_ros.ros.seam import msgs, rclpy
from pi_vla_ros.ros.seam.node import Node


def test_init_shutdown_ok_cycle():
    assert rclpy.ok()
    with pytest.raises(RuntimeError):
        rclpy.init()  # already initialized
    rclpy.shutdown()
    assert not rclpy.ok()
    with pytest.raises(RuntimeError):
        rclpy.shutdown()
    rclpy.try_shutdown()  # no error
    with pytest.raises(RuntimeError, match="init"):
        Node("n")
    rclpy.init()
    assert rclpy.ok()


def test_spin_once_and_spin_use_the_global_executor():
    node = Node("n")
    got = []
    node.create_subscription(msgs.String, "t", lambda m: got.append(m.data), 10)
    node.create_publisher(msgs.String, "t", 10).publish(msgs.String(data="a"))
    rclpy.spin_once(node, timeout_sec=1.0)
    assert got == ["a"]
    stopper = threading.Timer(0.05, rclpy.shutdown)
    stopper.start()
    t0 = time.monotonic()
    with pytest.raises(rclpy.executors.ExternalShutdownException):  # spelled as on real rclpy
        rclpy.spin(node)
    assert time.monotonic() - t0 < 5
