"""`pi-vla collect`: demonstrations recorded through the node graph become a readable LeRobot dataset."""

import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.data.collect import collect  # noqa: E402
from pi_vla_ros.data.lerobot_dataset import LeRobotDataset  # noqa: E402
from pi_vla_ros.data.rosbag import bag_topics  # noqa: E402


def test_collect_two_short_episodes(tmp_path):
    out = tmp_path / "demos"
    summary = collect("bimanual", out, 2, seed=7, time_limit_s=0.6, progress=False, log=lambda *_: None)
    assert summary["episodes"] == 2 and summary["successes"] == 0          # cut short: not done yet
    with LeRobotDataset(out) as ds:
        assert ds.num_episodes == 2
        assert 25 <= len(ds.episode_range(0)) <= 31                         # 0.6 s at 50 Hz
        first, last = ds[0], ds[ds.episode_range(1)[-1]]
        assert first["task"] == summary["episodes_detail"][0]["instruction"]
        assert first["subtask"].startswith("reach for the ")                # the expert's verbal instruction
        assert not last["next.success"]
        assert first["observation.images.cam_high"].shape == (120, 160, 3)
        # actions are the expert's commands (/pi_vla/commanded_action), which lead the measured state
        rows = ds.episode_range(0)
        act, state = ds.columns["action"][rows.start:rows.stop], ds.columns["observation.state"][rows.start:rows.stop]
        assert abs(act[10] - state[10]).max() > 1e-4
    topics = bag_topics(out / "bags" / "episode_000001")
    for t in ("/joint_states", "/cam_high/image_raw", "/pi_vla/commanded_action", "/pi_vla/language",
              "/left_arm_position_controller/commands", "/sim/status"):
        assert t in topics


def test_collect_appends(tmp_path):
    out = tmp_path / "demos"
    collect("bimanual", out, 1, seed=1, time_limit_s=0.2, progress=False, log=lambda *_: None)
    summary = collect("bimanual", out, 1, seed=2, time_limit_s=0.2, progress=False, log=lambda *_: None,
                      keep_bags=False)
    assert summary["episodes_detail"][0]["episode"] == 1
    with LeRobotDataset(out, decode_images=False) as ds:
        assert ds.num_episodes == 2
    assert (out / "bags" / "episode_000000").exists() and not (out / "bags" / "episode_000001").exists()
