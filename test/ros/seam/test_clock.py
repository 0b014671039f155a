import time

from pi_vla_ros.ros.seam.clock import Clock, ClockType, ROSClock, advance_virtual_time, use_virtual_time, \
    virtual_time_active
from pi_vla_ros.ros.seam.time import Time


def test_clock_types_and_real_time():
    assert Clock().clock_type == ClockType.SYSTEM_TIME
    assert abs(Clock().now().nanoseconds - time.time_ns()) < 1e9
    steady = Clock(clock_type=ClockType.STEADY_TIME)
    assert steady.now().clock_type == ClockType.STEADY_TIME
    assert isinstance(Clock(clock_type=ClockType.ROS_TIME), ROSClock)  # as in rclpy


def test_ros_clock_follows_override_only_when_active():
    clock = ROSClock()
    clock.set_ros_time_override(Time(seconds=5, clock_type=ClockType.ROS_TIME))
    assert clock.now().nanoseconds > 10**18  # inactive: system time
    clock._set_ros_time_is_active(True)
    assert clock.now() == Time(seconds=5, clock_type=ClockType.ROS_TIME)


def test_virtual_time_switch():
    assert not virtual_time_active()
    with use_virtual_time():
        assert virtual_time_active()
        assert Clock().now().nanoseconds == 0
        assert Clock(clock_type=ClockType.STEADY_TIME).now().nanoseconds == 0
        assert ROSClock().now().nanoseconds == 0  # ROS time without sim time = (virtual) system time
        advance_virtual_time(7)
        advance_virtual_time(3)  # never backwards
        assert Clock().now().nanoseconds == 7
    assert not virtual_time_active()
    assert Clock().now().nanoseconds > 10**18
