import array
import copy
import pickle

import numpy as np
import pytest

from pi_vla_ros.ros.seam import msgs


def test_defaults_are_ros_defaults():
    js = msgs.JointState()
    assert js.header == msgs.Header() and js.header.stamp.sec == 0 and js.header.frame_id == ""
    assert js.name == [] and list(js.position) == [] and isinstance(js.position, array.array)
    assert msgs.Bool().data is False and msgs.Float64().data == 0.0 and msgs.Image().height == 0
    assert msgs.DiagnosticStatus().level == b"\x00"  # byte fields are bytes in rclpy
    assert msgs.Float64MultiArray().layout.dim == []
    assert msgs.JointTrajectoryPoint().time_from_start == msgs.DurationMsg()


def test_keywords_slots_and_field_type_checks():
    p = msgs.JointTrajectoryPoint(positions=[1.0, 2.0], time_from_start=msgs.DurationMsg(sec=1))
    assert list(p.positions) == [1.0, 2.0] and p.time_from_start.sec == 1
    with pytest.raises(AttributeError):
        p.position = [1.0]  # typo of 'positions'
    with pytest.raises(TypeError, match="Invalid arguments"):
        msgs.JointState(positions=[1.0])
    with pytest.raises(TypeError, match="must be of type 'double'"):
        msgs.Float64(data=1)  # rclpy asserts float fields are floats too
    with pytest.raises(TypeError):
        msgs.JointState(name="abc")
    with pytest.raises(TypeError):
        msgs.JointTrajectory(points=[msgs.JointState()])
    with pytest.raises(TypeError):
        msgs.DiagnosticStatus(level=0)
    assert msgs.Float64(data=np.float64(1.5)).data == 1.5  # numpy float64 is a float


def test_numeric_sequences_accept_lists_tuples_arrays_and_bytes():
    for values in ([1.0, 2.0], (1.0, 2.0), np.array([1.0, 2.0]), array.array("d", [1.0, 2.0])):
        assert msgs.Float64MultiArray(data=values) == msgs.Float64MultiArray(data=[1.0, 2.0])
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    forms = [image, image.tobytes(), bytearray(image.tobytes()), image.ravel().tolist()]
    assert all(msgs.Image(data=f) == msgs.Image(data=forms[0]) for f in forms)
    assert msgs.Image(data=b"\x01") != msgs.Image(data=b"\x02")


def test_equality_constants_fields_and_type_names():
    assert msgs.String(data="a") == msgs.String(data="a") != msgs.String(data="b")
    assert msgs.String(data="a") != msgs.Bool()
    assert (msgs.DiagnosticStatus.OK, msgs.DiagnosticStatus.WARN, msgs.DiagnosticStatus.ERROR,
            msgs.DiagnosticStatus.STALE) == (b"\x00", b"\x01", b"\x02", b"\x03")
    assert msgs.JointState.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "name": "sequence<string>", "position": "sequence<double>",
        "velocity": "sequence<double>", "effort": "sequence<double>"}
    assert msgs.Image.get_fields_and_field_types()["data"] == "sequence<uint8>"
    assert msgs.JointState.__msgtype__ == "sensor_msgs/msg/JointState"
    assert msgs.Clock.__msgtype__ == "rosgraph_msgs/msg/Clock" and msgs.TimeMsg.__name__ == "Time"
    assert repr(msgs.Bool(data=True)) == "std_msgs.msg.Bool(data=True)"
    assert msgs.get_message("geometry_msgs/msg/Pose")().orientation.w == 0.0  # any Jazzy type


def test_copy_and_pickle():
    traj = msgs.JointTrajectory(joint_names=["a"], points=[msgs.JointTrajectoryPoint(positions=[1.0])])
    deep = copy.deepcopy(traj)
    assert deep == traj and deep.points[0] is not traj.points[0]
    assert pickle.loads(pickle.dumps(traj)) == traj
