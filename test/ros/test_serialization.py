# Copyright 2026 pi_vla_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""CDR round trips for every message class the nodes use, on rclpy's own message classes.

``serialize_message`` must give exact CDR (what rosbags and ``ros2 bag`` read), which Jazzy's rmw_fastrtps
``rclpy.serialization.serialize_message`` does not: it pads its buffer with uninitialized bytes.
"""

import array

import numpy as np
import pytest
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist, Vector3
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, Header, MultiArrayDimension, MultiArrayLayout, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from pi_vla_ros.ros.serialization import (deserialize_message, message_class, serialize_message, to_rosbags,
                                          type_name, typestore)

HEADER = Header(stamp=Time(sec=12, nanosec=345), frame_id="base_link")
RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (120, 160, 3), dtype=np.uint8)

SAMPLES = [
    Time(sec=1, nanosec=999_999_999),
    Time(sec=2**31 - 1, nanosec=999_999_999),
    Duration(sec=-2, nanosec=5),
    KeyValue(key="k", value="v"),
    DiagnosticStatus(level=DiagnosticStatus.WARN, name="policy", message="slow", hardware_id="gpu0",
                     values=[KeyValue(key="latency_ms", value="41.5")]),
    DiagnosticArray(header=HEADER, status=[DiagnosticStatus(level=DiagnosticStatus.ERROR, name="a"),
                                           DiagnosticStatus(name="b")]),
    Vector3(x=1.0, y=-2.0, z=3.5),
    Twist(linear=Vector3(x=0.5), angular=Vector3(z=-1.25)),
    Clock(clock=Time(sec=3, nanosec=4)),
    Image(header=HEADER, height=120, width=160, encoding="rgb8", is_bigendian=0, step=480, data=IMAGE.tobytes()),
    Image(height=3, width=5, encoding="mono16", is_bigendian=1, step=11, data=bytes(range(33))),  # odd row padding
    CompressedImage(header=HEADER, format="rgb8; jpeg compressed bgr8", data=bytes(range(7))),
    JointState(header=HEADER, name=["j1", "j2"], position=[0.1, -0.2], velocity=[1.0, 2.0], effort=[]),
    JointState(name=["a"], position=[1.0]),  # rmw_fastrtps pads this one by 8 bytes
    JointState(),
    Bool(data=True),
    Float64(data=3.25),
    Float64MultiArray(layout=MultiArrayLayout(dim=[MultiArrayDimension(label="x", size=3, stride=3)], data_offset=1),
                      data=[1.0, 2.0, 3.0]),
    Header(stamp=Time(sec=5), frame_id="map"),
    MultiArrayDimension(label="rows", size=2, stride=6),
    MultiArrayLayout(dim=[MultiArrayDimension(label="a", size=1, stride=1)]),
    String(data="pick up the red block ✓"),
    String(data=""),
    JointTrajectory(header=HEADER, joint_names=["j1", "j2", "j3"], points=[
        JointTrajectoryPoint(positions=[0.1 * i, 0.2 * i, 0.3 * i], velocities=[float(i)] * 3,
                             time_from_start=Duration(sec=0, nanosec=20_000_000 * i))
        for i in range(1, 6)]),
    JointTrajectoryPoint(positions=[1.0], accelerations=[0.5], effort=[2.0], time_from_start=Duration(sec=1)),
]


def test_every_message_class_the_nodes_use_has_a_sample():
    used = {Time, Duration, DiagnosticArray, DiagnosticStatus, KeyValue, Twist, Vector3, Clock, Image,
            CompressedImage, JointState, Bool, Float64, Float64MultiArray, Header, MultiArrayDimension,
            MultiArrayLayout, String, JointTrajectory, JointTrajectoryPoint}
    assert {type(s) for s in SAMPLES} == used
    assert all(message_class(type_name(cls)) is cls for cls in used)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type_name(m))
def test_exact_cdr_round_trip(msg):
    data = serialize_message(msg)
    assert isinstance(data, bytes) and data[:4] == b"\x00\x01\x00\x00"  # little-endian CDR header
    assert deserialize_message(data, type(msg)) == msg                 # rclpy reads it
    store, name = typestore(), type_name(msg)
    obj = store.deserialize_cdr(data, name)                            # rosbags reads it: no size mismatch
    assert len(data) == 4 + store.get_msgdef(name).getsize_cdr(0, obj, store)  # not one byte more
    assert bytes(store.serialize_cdr(obj, name)) == data               # and writes the same bytes back
    assert serialize_message(deserialize_message(data, type(msg))) == data  # deterministic: no stray padding


def test_rclpy_and_exact_cdr_agree_on_content():
    """rclpy's own buffer decodes to the same message; ours is what rosbags accepts."""
    from rclpy.serialization import serialize_message as rmw_serialize

    for msg in SAMPLES:
        assert deserialize_message(rmw_serialize(msg), type(msg)) == deserialize_message(serialize_message(msg),
                                                                                         type(msg))


def test_to_rosbags_fields():
    traj = to_rosbags(SAMPLES[-2])
    assert traj.__msgtype__ == "trajectory_msgs/msg/JointTrajectory" and traj.joint_names == ["j1", "j2", "j3"]
    assert traj.points[2].positions.dtype == np.float64 and traj.points[2].time_from_start.nanosec == 60_000_000
    status = to_rosbags(SAMPLES[4])
    assert status.level == 1 and status.values[0].value == "41.5"  # rclpy byte b'\x01' -> rosbags 1
    image = to_rosbags(SAMPLES[9])
    assert image.data.dtype == np.uint8 and np.array_equal(image.data.reshape(120, 160, 3), IMAGE)
    assert to_rosbags(SAMPLES[14]).position.shape == (0,)


def test_image_payload_comes_back_as_array():
    back = deserialize_message(serialize_message(SAMPLES[9]), Image)
    assert isinstance(back.data, array.array) and back.data.typecode == "B"
    assert np.array_equal(np.frombuffer(back.data, np.uint8).reshape(120, 160, 3), IMAGE)
