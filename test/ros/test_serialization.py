"""CDR round trips for every message class the nodes use (either path: real rclpy or the seam)."""

import array

import numpy as np
import pytest

from pi_vla_ros.ros import HAVE_RCLPY, msgs
from pi_vla_ros.ros.serialization import (deserialize_message, from_rosbags, serialize_message, to_rosbags,
                                          type_name, typestore)

HEADER = msgs.Header(stamp=msgs.TimeMsg(sec=12, nanosec=345), frame_id="base_link")
RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (480, 640, 3), dtype=np.uint8)

SAMPLES = [
    msgs.TimeMsg(sec=1, nanosec=999_999_999),
    msgs.DurationMsg(sec=-2, nanosec=5),
    msgs.KeyValue(key="k", value="v"),
    msgs.DiagnosticStatus(level=msgs.DiagnosticStatus.WARN, name="policy", message="slow", hardware_id="gpu0",
                          values=[msgs.KeyValue(key="latency_ms", value="41.5")]),
    msgs.DiagnosticArray(header=HEADER, status=[msgs.DiagnosticStatus(level=msgs.DiagnosticStatus.ERROR, name="a"),
                                                msgs.DiagnosticStatus(name="b")]),
    msgs.Vector3(x=1.0, y=-2.0, z=3.5),
    msgs.Twist(linear=msgs.Vector3(x=0.5), angular=msgs.Vector3(z=-1.25)),
    msgs.Clock(clock=msgs.TimeMsg(sec=3, nanosec=4)),
    msgs.Image(header=HEADER, height=480, width=640, encoding="rgb8", is_bigendian=0, step=1920, data=IMAGE.tobytes()),
    msgs.JointState(header=HEADER, name=["j1", "j2"], position=[0.1, -0.2], velocity=[1.0, 2.0], effort=[]),
    msgs.Bool(data=True),
    msgs.Float64(data=3.25),
    msgs.Float64MultiArray(layout=msgs.MultiArrayLayout(dim=[msgs.MultiArrayDimension(label="x", size=3, stride=3)],
                                                        data_offset=1), data=[1.0, 2.0, 3.0]),
    msgs.Header(stamp=msgs.TimeMsg(sec=5), frame_id="map"),
    msgs.MultiArrayDimension(label="rows", size=2, stride=6),
    msgs.MultiArrayLayout(dim=[msgs.MultiArrayDimension(label="a", size=1, stride=1)]),
    msgs.String(data="pick up the red block ✓"),
    msgs.JointTrajectory(header=HEADER, joint_names=["j1", "j2", "j3"], points=[
        msgs.JointTrajectoryPoint(positions=[0.1 * i, 0.2 * i, 0.3 * i], velocities=[float(i)] * 3,
                                  time_from_start=msgs.DurationMsg(sec=0, nanosec=20_000_000 * i))
        for i in range(1, 6)]),
    msgs.JointTrajectoryPoint(positions=[1.0], accelerations=[0.5], effort=[2.0],
                              time_from_start=msgs.DurationMsg(sec=1)),
]


def test_every_message_class_has_a_sample():
    names = {"TimeMsg", "DurationMsg", "DiagnosticArray", "DiagnosticStatus", "KeyValue", "Twist", "Vector3",
             "Clock", "Image", "JointState", "Bool", "Float64", "Float64MultiArray", "Header",
             "MultiArrayDimension", "MultiArrayLayout", "String", "JointTrajectory", "JointTrajectoryPoint"}
    assert {type(s) for s in SAMPLES} == {getattr(msgs, n) for n in names}


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type_name(m))
def test_cdr_round_trip(msg):
    data = serialize_message(msg)
    assert isinstance(data, bytes) and data[:4] == b"\x00\x01\x00\x00"  # little-endian CDR header
    back = deserialize_message(data, type(msg))
    assert type(back) is type(msg) and back == msg


def test_rosbags_conversion_round_trip_and_bytes_match_rosbags():
    traj = SAMPLES[-2]
    obj = to_rosbags(traj)
    assert obj.__msgtype__ == "trajectory_msgs/msg/JointTrajectory"
    assert obj.points[2].positions.dtype == np.float64
    assert from_rosbags(obj) == traj
    assert serialize_message(traj) == bytes(typestore().serialize_cdr(obj, obj.__msgtype__))
    status = to_rosbags(SAMPLES[3])
    assert status.level == 1 and from_rosbags(status).level == msgs.DiagnosticStatus.WARN


def test_image_payload_survives_and_comes_back_as_array():
    back = deserialize_message(serialize_message(SAMPLES[8]), msgs.Image)
    assert isinstance(back.data, array.array) and back.data.typecode == "B"
    assert np.array_equal(np.frombuffer(back.data, np.uint8).reshape(480, 640, 3), IMAGE)


@pytest.mark.skipif(HAVE_RCLPY, reason="numpy-valued sequence fields are a seam convenience")
def test_seam_accepts_numpy_sequences():
    image = msgs.Image(height=480, width=640, encoding="rgb8", step=1920, data=IMAGE)
    assert deserialize_message(serialize_message(image), msgs.Image) == image
    state = msgs.JointState(name=["a", "b"], position=np.array([1.0, 2.0]), effort=np.array([3, 4], np.float32))
    back = deserialize_message(serialize_message(state), msgs.JointState)
    assert list(back.position) == [1.0, 2.0] and list(back.effort) == [3.0, 4.0]
