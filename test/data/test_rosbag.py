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

"""rosbag2 MCAP recording through real rclpy, read back by rosbags, and bag -> LeRobot conversion."""

import dataclasses
import json

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Twist, Vector3
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, Header, MultiArrayDimension, MultiArrayLayout, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from pi_vla_ros.data.lerobot_dataset import LeRobotDataset
from pi_vla_ros.data.rosbag import BagRecorder, bag_to_lerobot, bag_topics, read_bag
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros.serialization import serialize_message, to_rosbags, type_name, typestore

NS = 10**9


def test_recorder_round_trip(tmp_path):
    js = JointState(name=["a", "b"], position=[0.5, -1.25])
    img = Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))
    with BagRecorder(tmp_path / "bag", {"/joint_states": JointState, "/cam/image_raw": Image,
                                        "/pi_vla/language": String}) as bag:
        bag.write("/joint_states", js, 1 * NS)
        bag.write("/cam/image_raw", img, 2 * NS)
        bag.write("/pi_vla/language", String(data="pick up the cup"), 3 * NS)
        with pytest.raises(TypeError):
            bag.write("/joint_states", String(data="x"), 4 * NS)
        with pytest.raises(KeyError):
            bag.write("/unknown", js, 4 * NS)
    assert "storage_identifier: mcap" in (tmp_path / "bag/metadata.yaml").read_text()
    assert list((tmp_path / "bag").glob("*.mcap"))
    assert bag_topics(tmp_path / "bag") == {"/joint_states": "sensor_msgs/msg/JointState",
                                            "/cam/image_raw": "sensor_msgs/msg/Image",
                                            "/pi_vla/language": "std_msgs/msg/String"}
    got = list(read_bag(tmp_path / "bag"))
    assert [(t, s) for t, s, _ in got] == [
        ("/joint_states", 1 * NS), ("/cam/image_raw", 2 * NS), ("/pi_vla/language", 3 * NS)]
    assert [m for _, _, m in got] == [js, img, String(data="pick up the cup")]  # rclpy messages, equal
    assert [m.data for _, _, m in read_bag(tmp_path / "bag", topics={"/pi_vla/language"})] == ["pick up the cup"]


# --- recording through real rclpy: messages published on a real publisher, delivered by Fast DDS to a
# subscription that writes them with BagRecorder, then read back by rosbags alone, message for message.

HEADER = Header(stamp=Time(sec=1_700_000_000, nanosec=123), frame_id="cam")
PUBLISHED = {
    "/joint_states": [JointState(name=["a"], position=[1.0]),  # the message rmw_fastrtps pads by 8 bytes
                      JointState(header=HEADER, name=[f"j{i}" for i in range(14)], position=np.linspace(-1, 1, 14),
                                 velocity=[0.5] * 14, effort=[])],
    "/cam/image_raw": [Image(header=HEADER, height=120, width=160, encoding="rgb8", step=480,
                             data=np.random.default_rng(0).integers(0, 256, 160 * 120 * 3, np.uint8).tobytes()),
                       Image(height=3, width=5, encoding="mono16", is_bigendian=1, step=11, data=bytes(range(33)))],
    "/arm/joint_trajectory": [JointTrajectory(joint_names=["j1", "j2"], points=[
        JointTrajectoryPoint(positions=[0.1, 0.2], velocities=[0.0, 1.0], time_from_start=Duration(nanosec=20_000_000))
    ])],
    "/pi_vla/language": [String(data="pick up the red block ✓"), String(data="")],
    "/gripper/commands": [Float64MultiArray(
        layout=MultiArrayLayout(dim=[MultiArrayDimension(label="g", size=1, stride=1)]), data=[0.04])],
    "/base/cmd_vel": [Twist(linear=Vector3(x=0.25), angular=Vector3(z=-0.5))],
}


@pytest.fixture
def ros_context(monkeypatch):
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "OFF")  # never talk to other processes
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    ctx.try_shutdown()


def _fields_equal(a, b) -> bool:
    """rosbags dataclasses equal field by field (numpy arrays by value)."""
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_fields_equal(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_fields_equal, a, b))
    return type(a) is type(b) and a == b


def test_bag_recorded_through_rclpy_reads_back_with_rosbags(tmp_path, ros_context):
    from rosbags.rosbag2 import Reader

    node = rclpy.create_node("bag_test", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    received = []
    with BagRecorder(tmp_path / "bag", {t: type(m[0]) for t, m in PUBLISHED.items()}) as bag:
        def record(topic, msg):
            received.append((topic, msg))
            bag.write(topic, msg, node.get_clock().now().nanoseconds)

        pubs = {}
        for topic, msgs in PUBLISHED.items():
            node.create_subscription(type(msgs[0]), topic, lambda m, t=topic: record(t, m), qos)
            pubs[topic] = node.create_publisher(type(msgs[0]), topic, qos)
        for topic, msgs in PUBLISHED.items():
            for msg in msgs:
                pubs[topic].publish(msg)
        expected = sum(map(len, PUBLISHED.values()))
        for _ in range(100):
            if len(received) == expected:
                break
            executor.spin_once(timeout_sec=0 if received else 0.05)
    executor.shutdown()
    node.destroy_node()
    assert sorted(t for t, _ in received) == sorted(t for t, m in PUBLISHED.items() for _ in m)

    store = typestore()
    with Reader(tmp_path / "bag") as reader:
        read = [(c.topic, c.msgtype, data) for c, _, data in reader.messages()]
    assert [t for t, _, _ in read] == [t for t, _ in received]  # receive order
    nth = {topic: iter(msgs) for topic, msgs in PUBLISHED.items()}  # one publisher per topic: order kept
    for (topic, msgtype, data), (_, msg) in zip(read, received):
        original = next(nth[topic])
        assert msg == original and msgtype == type_name(original)
        back = store.deserialize_cdr(data, msgtype)      # rosbags alone; raises on a padded rmw buffer
        assert _fields_equal(back, to_rosbags(original)), topic
        assert bytes(data) == serialize_message(original)  # exact CDR, deterministic


# --- a synthetic UR5e episode: 1.5 s, joint states at 100 Hz (arm and gripper in separate messages, not in
# profile order), commands at 50 Hz on the profile's controller topics, two cameras at 10 Hz (one bgr8).
T0, DURATION = 100.0, 1.5


def q(t):  # joint positions at time t (7 joints, profile order)
    return np.array([np.sin(t + j) for j in range(7)])


def cmd(t):
    return q(t) + 0.01


def cam_image(t, cam):
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    k = int(round(t * 10))
    return np.stack([xx + k + 50 * cam, yy + 2 * k, np.full_like(xx, 80 + cam * 40)], -1).clip(0, 255).astype(np.uint8)


def record_episode(path, profile, with_commands=True, language=((0.0, "reach the cube"), (0.8, "grasp the cube")),
                   extra=(), status=None):
    arm = profile.controllers[0]
    topics = {"/joint_states": JointState, "/pi_vla/language": String, "/sim/status": String,
              "/pi_vla/instruction": String, "/pi_vla/speech": String,
              arm.trajectory_topic: JointTrajectory, "/gripper_controller/commands": Float64MultiArray,
              **{c.topic: Image for c in profile.cameras}}
    events = []
    for k in range(int(DURATION * 100) + 1):
        t = T0 + k / 100
        pos = q(t)
        events.append((t, "/joint_states", JointState(
            name=list(reversed(profile.joints[:6])), position=pos[5::-1].tolist())))
        events.append((t + 0.001, "/joint_states", JointState(name=["gripper_joint"], position=[pos[6]])))
        if with_commands and k % 2 == 0:
            c = cmd(t)
            events.append((t, arm.trajectory_topic, JointTrajectory(
                joint_names=list(arm.joints), points=[JointTrajectoryPoint(positions=c[:6].tolist())])))
            events.append((t, "/gripper_controller/commands", Float64MultiArray(data=[c[6]])))
        if k % 10 == 0:
            for i, cam in enumerate(profile.cameras):
                rgb = cam_image(t, i)
                enc, data = ("bgr8", rgb[..., ::-1]) if i == 1 else ("rgb8", rgb)
                events.append((t, cam.topic, Image(
                    height=120, width=160, encoding=enc, step=480, data=np.ascontiguousarray(data).tobytes())))
    events += [(T0 + t, "/pi_vla/language", String(data=text)) for t, text in language]
    events += [(T0 + t, topic, String(data=text)) for t, topic, text in extra]
    status = json.dumps(status or {"instruction": "pick up the cube", "success": True})
    events.append((T0 + DURATION, "/sim/status", String(data=status)))
    with BagRecorder(path, topics) as bag:
        for t, topic, msg in sorted(events, key=lambda e: e[0]):
            bag.write(topic, msg, int(round(t * NS)))


def test_bag_to_lerobot(tmp_path):
    profile = load_profile("ur5e")  # policy rate 20 Hz
    record_episode(tmp_path / "bag", profile)
    assert bag_to_lerobot(tmp_path / "bag", profile, tmp_path / "ds") == 0
    with LeRobotDataset(tmp_path / "ds") as ds:
        assert ds.fps == 20 and ds.tasks == ["pick up the cube"]
        assert len(ds) == int(DURATION * 20) + 1  # from the first gripper message (1 ms after T0) to the last
        times = T0 + 0.001 + np.arange(len(ds)) / 20
        for i in (0, 7, len(ds) - 1):
            item = ds[i]
            t = times[i]
            # state: latest message at or before t, per joint (arm at 100 Hz grid, gripper 1 ms later)
            t_arm = np.floor((t - T0) * 100 + 1e-6) / 100 + T0
            t_grip = np.floor((t - T0 - 0.001) * 100 + 1e-6) / 100 + T0
            np.testing.assert_allclose(item["observation.state"][:6], q(t_arm)[:6], atol=1e-6)
            np.testing.assert_allclose(item["observation.state"][6], q(t_grip)[6], atol=1e-6)
            # action: the last command before the next frame (commands on a 50 Hz grid)
            t_cmd = min(np.ceil((t + 0.05 - T0) * 50 - 1e-6) / 50 - 0.02 + T0, T0 + DURATION)
            np.testing.assert_allclose(item["action"], cmd(t_cmd), atol=1e-6)
            assert item["subtask"] == ("reach the cube" if t < T0 + 0.8 else "grasp the cube")
            t_img = np.floor((t - T0) * 10 + 1e-6) / 10 + T0
            for c, cam in enumerate(profile.cameras):  # bgr8 came back as RGB
                err = np.abs(item[f"observation.images.{cam.name}"].astype(int) - cam_image(t_img, c)).mean()
                assert err < 3.0
        assert [bool(ds[i]["next.success"]) for i in range(len(ds))] == [False] * (len(ds) - 1) + [True]
        assert ds.episodes[0]["success"] is True
        assert ds.stats["action"]["count"].tolist() == [len(ds)]


def test_bag_without_commands_needs_an_explicit_action_source(tmp_path):
    profile = load_profile("ur5e")
    record_episode(tmp_path / "bag", profile, with_commands=False)
    with pytest.raises(ValueError, match="next_state"):
        bag_to_lerobot(tmp_path / "bag", profile, tmp_path / "ds")
    bag_to_lerobot(tmp_path / "bag", profile, tmp_path / "ds", task="other", actions="next_state")
    ds = LeRobotDataset(tmp_path / "ds", decode_images=False)
    np.testing.assert_array_equal(ds[3]["action"], ds[4]["observation.state"])
    assert ds.tasks == ["other"]


def test_lines_are_events_on_their_frame_and_spoken_ones_count_from_when_the_words_ended(tmp_path):
    """Typed lines land on the frame they were given; a recognized line, and the label it caused, on the frame where
    its words ended (from the /pi_vla/speech record), not where the recognizer finished; a rejected one nowhere.
    """
    profile = load_profile("ur5e")  # frames at T0 + 0.001 + k / 20
    # the instruction node's records: stream times (seconds of audio heard), decided 0.33 s after the words ended
    speech = json.dumps({"text": "grasp the cube", "heard": "grasp the cube", "confidence": 0.9, "reason": "",
                         "start": 31.1, "end": 32.02, "decided": 32.35})
    rejected = json.dumps({"text": "", "heard": "grasp the", "confidence": 0.0, "reason": "speech_no_match",
                           "start": 30.0, "end": 30.5, "decided": 30.8})
    record_episode(tmp_path / "bag", profile, language=((0.2, "reach the cube"), (0.95, "grasp the cube")), extra=(
        (0.2, "/pi_vla/instruction", "reach the cube"), (0.7, "/pi_vla/speech", rejected),
        (0.95, "/pi_vla/speech", speech), (1.2, "/pi_vla/instruction", "success")))
    bag_to_lerobot(tmp_path / "bag", profile, tmp_path / "ds")
    with LeRobotDataset(tmp_path / "ds", decode_images=False) as ds:
        lang = ds.episode_language(0)
    assert lang["events"] == [(pytest.approx(0.15), "reach the cube"), (pytest.approx(0.60), "grasp the cube"),
                              (pytest.approx(1.15), "success")]
    assert lang["subtasks"] == [(pytest.approx(0.20), "reach the cube"), (pytest.approx(0.65), "grasp the cube")]
    with LeRobotDataset(tmp_path / "ds", decode_images=False) as ds:
        assert "next.subtask_success" not in ds.columns           # a dataset that does not declare it
    bag_to_lerobot(tmp_path / "bag", profile, tmp_path / "vi", subtask_success=True)
    with LeRobotDataset(tmp_path / "vi", decode_images=False) as ds:   # the person's mark: on its frame
        assert np.flatnonzero(ds.columns["next.subtask_success"]).tolist() == [23]
    # typed, the same line counts from when it arrived
    record_episode(tmp_path / "typed", profile, language=((0.2, "reach the cube"), (0.95, "grasp the cube")),
                   extra=((0.95, "/pi_vla/instruction", "grasp the cube"),))
    bag_to_lerobot(tmp_path / "typed", profile, tmp_path / "ds2")
    with LeRobotDataset(tmp_path / "ds2", decode_images=False) as ds:
        lang = ds.episode_language(0)
    assert lang["events"] == [(pytest.approx(0.90), "grasp the cube")]
    assert lang["subtasks"][1] == (pytest.approx(0.95), "grasp the cube")


def test_on_a_robot_the_task_is_the_persons_whole_instruction(tmp_path):
    """No simulator status: the episode's task is the first line given that is not a control word."""
    profile = load_profile("ur5e")
    record_episode(tmp_path / "bag", profile, status={"success": True}, extra=(
        (0.0, "/pi_vla/instruction", "status"), (0.1, "/pi_vla/instruction", "reach the cube, then grasp the cube")))
    bag_to_lerobot(tmp_path / "bag", profile, tmp_path / "ds")
    with LeRobotDataset(tmp_path / "ds", decode_images=False) as ds:
        assert ds.tasks == ["reach the cube, then grasp the cube"]
