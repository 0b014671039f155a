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

"""LeRobot v3.0 writer/reader: round trip, append, crash safety, stats."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from pi_vla_ros.data import lerobot_dataset as lds
from pi_vla_ros.data.lerobot_dataset import LeRobotDataset, LeRobotDatasetWriter

H, W = 48, 64
CAMS = ("observation.images.top", "observation.images.wrist")
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": (3,), "names": ["a", "b", "c"]},
    "action": {"dtype": "float32", "shape": (4,), "names": ["a", "b", "c", "d"]},
    **{k: {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]} for k in CAMS},
}
IMAGE_MAE = 3.0  # mean |decoded - written| on uint8, H.264 crf 23 yuv420p, smooth test images


def image(i: int, cam: int) -> np.ndarray:
    """Smooth, moving gradients: what a codec is made for (noise would need a lossless codec)."""
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([xx * 2 + i + 40 * cam, yy * 3 + 2 * i, 100 + 40 * np.sin(0.08 * xx + 0.2 * i)], -1).clip(
        0, 255).astype(np.uint8)


def make_episode(n: int, seed: int, subtasks=None, intervention_at=()):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        f = {"observation.state": rng.standard_normal(3).astype(np.float32),
             "action": rng.standard_normal(4).astype(np.float32),
             "intervention": i in intervention_at,
             **{k: image(i + seed, c) for c, k in enumerate(CAMS)}}
        if subtasks:
            f["subtask"] = subtasks[i]
        frames.append(f)
    return frames


def write(root, episodes, **kwargs):
    with LeRobotDatasetWriter(root, fps=10, features=FEATURES, robot_type="test", **kwargs) as w:
        for frames, task, success in episodes:
            for f in frames:
                w.add_frame(f)
            w.save_episode(task=task, success=success)
    return w


def check_episode(ds, ep, frames):
    rng = ds.episode_range(ep)
    assert len(rng) == len(frames)
    for k, i in enumerate(rng):
        item = ds[i]
        np.testing.assert_array_equal(item["observation.state"], frames[k]["observation.state"])
        np.testing.assert_array_equal(item["action"], frames[k]["action"])
        assert item["episode_index"] == ep and item["frame_index"] == k and item["index"] == i
        assert item["timestamp"] == np.float32(k / 10)
        assert item["intervention"] == frames[k]["intervention"]
        assert item["subtask"] == frames[k].get("subtask", "")
        for cam in CAMS:
            assert item[cam].shape == (H, W, 3) and item[cam].dtype == np.uint8
            assert np.abs(item[cam].astype(int) - frames[k][cam]).mean() < IMAGE_MAE


def test_round_trip(tmp_path):
    ep0 = make_episode(12, 0, subtasks=["reach"] * 5 + ["grasp"] * 7, intervention_at=(3, 4))
    ep1 = make_episode(8, 1)
    write(tmp_path / "ds", [(ep0, "pick the cube", True), (ep1, "push the cube", False)])

    info = json.loads((tmp_path / "ds/meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10 and info["total_episodes"] == 2
    assert info["total_frames"] == 20 and info["total_tasks"] == 2
    assert {"timestamp", "frame_index", "episode_index", "index", "task_index", "next.success", "intervention",
            "language_persistent", "language_events"} <= set(info["features"])
    assert info["features"][CAMS[0]]["info"]["video.codec"] in ("h264", "av1")
    for rel in ("meta/tasks.parquet", "meta/stats.json",
                "meta/episodes/chunk-000/file-000.parquet", "data/chunk-000/file-000.parquet",
                f"videos/{CAMS[0]}/chunk-000/file-000.mp4", f"videos/{CAMS[1]}/chunk-000/file-000.mp4"):
        assert (tmp_path / "ds" / rel).exists(), rel
    assert not (tmp_path / "ds/.episode_tmp").exists()

    with LeRobotDataset(tmp_path / "ds") as ds:
        assert len(ds) == 20 and ds.num_episodes == 2
        assert ds.tasks == ["pick the cube", "push the cube"] and ds.subtasks == ["reach", "grasp"]
        check_episode(ds, 0, ep0)
        check_episode(ds, 1, ep1)
        assert [ds[i]["task"] for i in (0, 11, 12)] == ["pick the cube"] * 2 + ["push the cube"]
        assert [bool(ds[i]["next.success"]) for i in range(20)] == [False] * 11 + [True] + [False] * 8
        assert [e["success"] for e in ds.episodes] == [True, False]
        assert ds.episodes[1]["videos/" + CAMS[0] + "/from_timestamp"] == pytest.approx(1.2)
        # stats equal numpy's on what was written
        for key in ("observation.state", "action"):
            x = np.concatenate([np.stack([f[key] for f in ep]) for ep in (ep0, ep1)]).astype(np.float64)
            st = ds.stats[key]
            for name, fn in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
                np.testing.assert_allclose(st[name], fn(x, axis=0), rtol=1e-12)
            np.testing.assert_allclose(st["q01"], np.quantile(x, 0.01, axis=0), rtol=1e-12)
            np.testing.assert_allclose(st["q99"], np.quantile(x, 0.99, axis=0), rtol=1e-12)
            assert st["count"].tolist() == [20]
        check_image_stats(ds.stats[CAMS[1]], [f[CAMS[1]] for f in ep0 + ep1])


def check_image_stats(st, images):
    px = np.stack(images).reshape(-1, 3).astype(np.float64) / 255.0
    assert st["mean"].shape == (3, 1, 1)
    np.testing.assert_allclose(st["mean"].ravel(), px.mean(0), rtol=1e-9)
    np.testing.assert_allclose(st["std"].ravel(), px.std(0), rtol=1e-9)
    np.testing.assert_allclose(st["min"].ravel(), px.min(0))
    np.testing.assert_allclose(st["max"].ravel(), px.max(0))
    for q in ("q01", "q50", "q99"):
        np.testing.assert_allclose(st[q].ravel(), np.quantile(px, lds.QUANTILES[q], axis=0), rtol=1e-9)
    assert st["count"].tolist() == [len(images)]


def test_action_chunks_pad_with_last_action(tmp_path):
    ep0, ep1 = make_episode(6, 0), make_episode(5, 1)
    write(tmp_path / "ds", [(ep0, "t", None), (ep1, "t", None)])
    ds = LeRobotDataset(tmp_path / "ds", action_horizon=4, decode_images=False)
    item = ds[4]  # two real steps left in episode 0
    np.testing.assert_array_equal(item["action"], np.stack([ep0[4]["action"], ep0[5]["action"], ep0[5]["action"],
                                                            ep0[5]["action"]]))
    assert item["action_is_pad"].tolist() == [False, False, True, True]
    actions, pad = ds.action_chunk(6, 3)
    np.testing.assert_array_equal(actions, np.stack([f["action"] for f in ep1[:3]]))
    assert not pad.any()


def test_append_in_a_later_session(tmp_path):
    ep0, ep1 = make_episode(7, 0), make_episode(9, 1)
    write(tmp_path / "ds", [(ep0, "a", True)])
    write(tmp_path / "ds", [(ep1, "b", True)])  # reopened: appends, starts new files
    with LeRobotDataset(tmp_path / "ds") as ds:
        assert ds.num_episodes == 2 and ds.tasks == ["a", "b"]
        assert ds.episodes[1]["data/file_index"] == 0  # continues in the same file, like LeRobot's resume
        check_episode(ds, 0, ep0)
        check_episode(ds, 1, ep1)
        check_image_stats(ds.stats[CAMS[0]], [f[CAMS[0]] for f in ep0 + ep1])


def test_failed_episode_leaves_earlier_episodes_intact(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    ep0, bad, ep1 = make_episode(6, 0), make_episode(5, 7), make_episode(4, 1)
    w = LeRobotDatasetWriter(root, fps=10, features=FEATURES)
    for f in ep0:
        w.add_frame(f)
    w.save_episode(task="a")

    # Crash while writing a video: the remux dies half way through its temp file.
    def broken_concat(first, seconds, second, out):
        out.write_bytes(b"\0" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(lds, "_concat_mp4", broken_concat)
    for f in bad:
        w.add_frame(f)
    with pytest.raises(OSError):
        w.save_episode(task="bad")
    monkeypatch.undo()
    with LeRobotDataset(root) as ds:  # the data file already holds the bad rows; they are not read
        assert len(ds) == 6 and ds.tasks == ["a"]
        check_episode(ds, 0, ep0)
    # The same writer carries on as if the failed episode never happened.
    for f in ep1:
        w.add_frame(f)
    assert w.save_episode(task="b") == 1
    with LeRobotDataset(root) as ds:
        assert len(ds) == 10 and ds.tasks == ["a", "b"]
        check_episode(ds, 0, ep0)
        check_episode(ds, 1, ep1)


def test_crash_before_commit_then_resume(tmp_path, monkeypatch):
    """Data and videos of episode 1 reached their files, its episode row did not: a restart appends cleanly."""
    root = tmp_path / "ds"
    ep0, lost, ep1 = make_episode(5, 0), make_episode(6, 5), make_episode(4, 1)
    write(root, [(ep0, "a", None)])
    real = lds._write_parquet

    def crash_on_episode_table(path, table):
        if "meta/episodes" in str(path):
            raise KeyboardInterrupt  # the process dies here
        real(path, table)

    w = LeRobotDatasetWriter(root, fps=10, features=FEATURES)
    monkeypatch.setattr(lds, "_write_parquet", crash_on_episode_table)
    for f in lost:
        w.add_frame(f)
    with pytest.raises(KeyboardInterrupt):
        w.save_episode(task="lost")
    monkeypatch.undo()
    assert len(pq.read_table(root / "data/chunk-000/file-000.parquet")) == 5  # staged files never moved in
    with LeRobotDataset(root) as ds:
        assert len(ds) == 5
        check_episode(ds, 0, ep0)
    write(root, [(ep1, "b", None)])
    with LeRobotDataset(root) as ds:
        assert len(ds) == 9 and ds.tasks == ["a", "b"]
        check_episode(ds, 1, ep1)


def test_bad_frames_are_rejected(tmp_path):
    w = LeRobotDatasetWriter(tmp_path / "ds", fps=10, features=FEATURES)
    good = make_episode(1, 0)[0]
    with pytest.raises(ValueError, match="observation.state"):
        w.add_frame({**good, "observation.state": np.zeros(5)})
    with pytest.raises(ValueError, match="missing"):
        w.add_frame({k: v for k, v in good.items() if k != "action"})
    with pytest.raises(ValueError, match="image"):
        w.add_frame({**good, CAMS[0]: np.zeros((10, 10, 3), np.uint8)})
    w.add_frame({**good, CAMS[0]: good[CAMS[0]].transpose(2, 0, 1)})  # CHW is accepted
    with pytest.raises(ValueError, match="task"):
        w.save_episode()
    with pytest.raises(ValueError, match="no frames"):
        w.save_episode(task="x")
    with pytest.raises(ValueError, match="fps"):
        LeRobotDatasetWriter(tmp_path / "ds", fps=30)


def test_tasks_parquet_reads_like_lerobots_dataframe(tmp_path):
    pd = pytest.importorskip("pandas")
    write(tmp_path / "ds", [(make_episode(2, 0, subtasks=["s1", "s2"]), "pick", None)])
    tasks = pd.read_parquet(tmp_path / "ds/meta/tasks.parquet")
    assert tasks.index.name == "task" and int(tasks.loc["pick"].task_index) == 0


def test_verbal_instruction_events_and_per_subtask_success(tmp_path):
    """VI collection: several lines given on one frame keep their order; next.subtask_success where declared."""
    frames = make_episode(10, 3, subtasks=[None] + ["put the red cube in the bowl"] * 4
                          + ["put the blue cube in the bowl"] * 5)
    frames[0]["instruction"] = "put the red cube in the bowl"
    frames[5]["instruction"] = ["success", "put the blue cube in the bowl"]
    frames[4]["next.subtask_success"] = True
    write(tmp_path / "vi", [(frames, "red then blue", True)], subtask_success=True)
    with LeRobotDataset(tmp_path / "vi") as ds:
        lang = ds.episode_language(0)
        assert lang["subtasks"] == [(pytest.approx(0.1), "put the red cube in the bowl"),
                                    (pytest.approx(0.5), "put the blue cube in the bowl")]
        assert lang["events"] == [(0.0, "put the red cube in the bowl"), (pytest.approx(0.5), "success"),
                                  (pytest.approx(0.5), "put the blue cube in the bowl")]
        flags = ds.columns["next.subtask_success"]
        assert flags.tolist() == [False] * 4 + [True] + [False] * 5
    # a dataset that does not declare it drops the flag, once warned; its other annotations are kept
    with pytest.warns(UserWarning, match="does not declare next.subtask_success"):
        write(tmp_path / "plain", [(frames, "red then blue", True)])
    with LeRobotDataset(tmp_path / "plain") as ds:
        assert "next.subtask_success" not in ds.columns and len(ds.episode_language(0)["events"]) == 3


def test_encoding_leaves_thread_scheduling_as_it_was(tmp_path):
    """Run as root, libsvtav1 raises the calling thread and its workers to SCHED_FIFO 99 (above the control loop);
    the writer puts every thread back (the encoder's own workers to normal scheduling).
    """
    import os

    codec = lds._pick_codec("av1")
    before = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    threads = set(os.listdir("/proc/self/task"))
    enc = lds._VideoEncoder(tmp_path / "v.mp4", 50, 32, 32, codec, 30, 10, preset=lds._DEFAULT_PRESET.get(codec))
    for i in range(3):
        enc.add(np.full((32, 32, 3), 40 * i, np.uint8))
        started = set(os.listdir("/proc/self/task")) - threads      # the encoder's workers, while it is open
        assert all(os.sched_getscheduler(int(t)) != os.SCHED_FIFO for t in started)
    enc.close()
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before
