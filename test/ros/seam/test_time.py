import pytest

from pi_vla_ros.ros.seam import msgs
from pi_vla_ros.ros.seam.time import ClockType, Duration, Time


def test_time_construction_and_msg_round_trip():
    t = Time(seconds=1.5, nanoseconds=250, clock_type=ClockType.ROS_TIME)
    assert t.nanoseconds == 1_500_000_250
    assert t.seconds_nanoseconds() == (1, 500_000_250)
    msg = t.to_msg()
    assert isinstance(msg, msgs.TimeMsg) and (msg.sec, msg.nanosec) == (1, 500_000_250)
    assert Time.from_msg(msg) == t  # from_msg defaults to ROS time, like rclpy
    with pytest.raises(ValueError):
        Time(nanoseconds=-1)


def test_time_arithmetic_and_comparisons():
    a, b = Time(seconds=2), Time(seconds=3)
    assert b - a == Duration(seconds=1)
    assert a + Duration(nanoseconds=5) == Time(nanoseconds=2_000_000_005)
    assert b - Duration(seconds=1) == a
    assert a < b and a <= a and b > a and b >= b and a != b
    with pytest.raises(TypeError):
        _ = a < Time(seconds=1, clock_type=ClockType.ROS_TIME)
    with pytest.raises(TypeError):
        _ = a - Time(clock_type=ClockType.STEADY_TIME)


def test_duration():
    d = Duration(seconds=1, nanoseconds=-1)
    assert d.nanoseconds == 999_999_999
    assert Duration.from_msg(d.to_msg()) == d
    assert isinstance(d.to_msg(), msgs.DurationMsg)
    assert Duration(seconds=-1) < Duration() < Duration(nanoseconds=1)
