"""rosbag2 MCAP recording and bag -> LeRobot conversion, on a synthetic bag made here."""

import json

import numpy as np
import pytest

from pi_vla_ros.data.lerobot_dataset import LeRobotDataset
from pi_vla_ros.data.rosbag import BagRecorder, bag_to_lerobot, bag_topics, read_bag
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import msgs

NS = 10**9


def test_recorder_round_trip(tmp_path):
    js = msgs.JointState(name=["a", "b"], position=[0.5, -1.25])
    img = msgs.Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))
    with BagRecorder(tmp_path / "bag", {"/joint_states": msgs.JointState, "/cam/image_raw": msgs.Image,
                                        "/pi_vla/language": msgs.String}) as bag:
        bag.write("/joint_states", js, 1 * NS)
        bag.write("/cam/image_raw", img, 2 * NS)
        bag.write("/pi_vla/language", msgs.String(data="pick up the cup"), 3 * NS)
        with pytest.raises(TypeError):
            bag.write("/joint_states", msgs.String(data="x"), 4 * NS)
        with pytest.raises(KeyError):
            bag.write("/unknown", js, 4 * NS)
    assert "storage_identifier: mcap" in (tmp_path / "bag/metadata.yaml").read_text()
    assert list((tmp_path / "bag").glob("*.mcap"))
    assert bag_topics(tmp_path / "bag") == {"/joint_states": "sensor_msgs/msg/JointState",
                                            "/cam/image_raw": "sensor_msgs/msg/Image",
                                            "/pi_vla/language": "std_msgs/msg/String"}
    got = list(read_bag(tmp_path / "bag"))
    assert [(t, s) for t, s, _ in got] == [("/joint_states", 1 * NS), ("/cam/image_raw", 2 * NS),
                                          ("/pi_vla/language", 3 * NS)]
    assert list(got[0][2].name) == ["a", "b"] and list(got[0][2].position) == [0.5, -1.25]
    assert bytes(got[1][2].data) == bytes(range(18)) and got[1][2].encoding == "rgb8"
    assert got[2][2].data == "pick up the cup"
    assert [m.data for _, _, m in read_bag(tmp_path / "bag", topics={"/pi_vla/language"})] == ["pick up the cup"]


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


def record_episode(path, profile, with_commands=True):
    arm = profile.controllers[0]
    topics = {"/joint_states": msgs.JointState, "/pi_vla/language": msgs.String, "/sim/status": msgs.String,
              arm.trajectory_topic: msgs.JointTrajectory, "/gripper_controller/commands": msgs.Float64MultiArray,
              **{c.topic: msgs.Image for c in profile.cameras}}
    events = []
    for k in range(int(DURATION * 100) + 1):
        t = T0 + k / 100
        pos = q(t)
        events.append((t, "/joint_states", msgs.JointState(name=list(reversed(profile.joints[:6])),
                                                           position=pos[5::-1].tolist())))
        events.append((t + 0.001, "/joint_states", msgs.JointState(name=["gripper_joint"], position=[pos[6]])))
        if with_commands and k % 2 == 0:
            c = cmd(t)
            events.append((t, arm.trajectory_topic, msgs.JointTrajectory(
                joint_names=list(arm.joints), points=[msgs.JointTrajectoryPoint(positions=c[:6].tolist())])))
            events.append((t, "/gripper_controller/commands", msgs.Float64MultiArray(data=[c[6]])))
        if k % 10 == 0:
            for i, cam in enumerate(profile.cameras):
                rgb = cam_image(t, i)
                enc, data = ("bgr8", rgb[..., ::-1]) if i == 1 else ("rgb8", rgb)
                events.append((t, cam.topic, msgs.Image(height=120, width=160, encoding=enc, step=480,
                                                        data=np.ascontiguousarray(data).tobytes())))
    events.append((T0, "/pi_vla/language", msgs.String(data="reach the cube")))
    events.append((T0 + 0.8, "/pi_vla/language", msgs.String(data="grasp the cube")))
    events.append((T0 + DURATION, "/sim/status", msgs.String(data=json.dumps({"instruction": "pick up the cube",
                                                                              "success": True}))))
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
            t_arm, t_grip = np.floor((t - T0) * 100 + 1e-6) / 100 + T0, np.floor((t - T0 - 0.001) * 100 + 1e-6) / 100 + T0
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
