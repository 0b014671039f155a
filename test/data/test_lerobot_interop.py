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

"""Our datasets read by an independent v3.0 reader (pyarrow + PyAV only), and appends to LeRobot-style datasets.

The reader here follows LeRobot's documented layout and shares no code with pi_vla_ros.data.
"""

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

H, W, FPS = 32, 48, 10
CAM = "observation.images.top"
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]},
    "action": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]},
    CAM: {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]},
}


def img(i):
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([xx * 3 + i, yy * 4 + 2 * i, np.full_like(xx, 120)], -1).clip(0, 255).astype(np.uint8)


def independent_read(root: Path) -> dict:
    """Frames, episodes, tasks, subtasks and decoded video frame counts, straight from the files."""
    info = json.loads((root / "meta/info.json").read_text())
    eps = pa.concat_tables([pq.read_table(p) for p in sorted((root / "meta/episodes").glob("*/*.parquet"))])
    eps = sorted(eps.to_pylist(), key=lambda e: e["episode_index"])
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pylist()
    data = {}
    for e in eps:
        path = root / info["data_path"].format(chunk_index=e["data/chunk_index"], file_index=e["data/file_index"])
        data.setdefault(path, pq.read_table(path))
    frames = pa.concat_tables(data.values()).to_pylist()
    videos = {}
    for e in eps:
        path = root / info["video_path"].format(video_key=CAM, chunk_index=e[f"videos/{CAM}/chunk_index"],
                                                file_index=e[f"videos/{CAM}/file_index"])
        if path not in videos:
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                videos[path] = [float(f.pts * s.time_base) for f in c.decode(s)]
    return {"info": info, "episodes": eps, "tasks": {t["task_index"]: t["task"] for t in tasks}, "frames": frames,
            "videos": videos}


def write_ours(root, episodes, **kw):
    from pi_vla_ros.data.lerobot_dataset import LeRobotDatasetWriter

    with LeRobotDatasetWriter(root, fps=FPS, features=FEATURES, **kw) as w:
        for n, task, subtasks in episodes:
            for i in range(n):
                w.add_frame({"observation.state": np.array([i, n], np.float32), "action": np.zeros(2, np.float32),
                             CAM: img(i), "subtask": subtasks[i] if subtasks else None,
                             "instruction": "now the lid" if subtasks and i == 2 else None})
            w.save_episode(task=task, success=True)


def test_independent_reader_many_episodes_per_file(tmp_path):
    lengths = [5, 7, 4, 6]
    sub = ["open"] * 2 + ["close"] * 3
    write_ours(tmp_path / "ds", [(lengths[0], "a", sub), (lengths[1], "b", None)])
    write_ours(tmp_path / "ds", [(lengths[2], "a", None), (lengths[3], "b", None)])  # a later session
    r = independent_read(tmp_path / "ds")
    eps = r["episodes"]
    assert [e["length"] for e in eps] == lengths
    assert len({(e["data/chunk_index"], e["data/file_index"]) for e in eps}) == 1  # many episodes per file
    assert len(r["videos"]) == 1 and len(next(iter(r["videos"].values()))) == sum(lengths)
    assert r["info"]["features"][CAM]["info"]["video.codec"] == "av1"  # the default where PyAV has SVT-AV1
    start = 0
    for k, e in enumerate(eps):
        assert (e["dataset_from_index"], e["dataset_to_index"]) == (start, start + e["length"])
        rows = [f for f in r["frames"] if f["episode_index"] == k]
        assert [f["frame_index"] for f in rows] == list(range(e["length"]))
        assert [f["index"] for f in rows] == list(range(start, start + e["length"]))
        np.testing.assert_allclose([f["timestamp"] for f in rows], np.arange(e["length"]) / FPS, atol=1e-6)
        assert r["tasks"][rows[0]["task_index"]] == "ab"[k % 2]
        assert e[f"videos/{CAM}/from_timestamp"] == pytest.approx(start / FPS)
        assert e[f"videos/{CAM}/to_timestamp"] == pytest.approx((start + e["length"]) / FPS)
        start += e["length"]
    first = [f for f in r["frames"] if f["episode_index"] == 0]
    line = first[0]["language_persistent"]
    assert all(f["language_persistent"] == line for f in first)  # persistent rows broadcast over the episode
    want = [("subtask", "open", "assistant"), ("subtask", "close", "assistant")]
    assert [(x["style"], x["content"], x["role"]) for x in line] == want
    assert [x["timestamp"] for x in line] == pytest.approx([0.0, 0.2])
    assert [len(f["language_events"]) for f in first] == [0, 0, 1, 0, 0]
    assert first[2]["language_events"][0]["style"] == "interjection"


def test_h264_option(tmp_path):
    write_ours(tmp_path / "ds", [(4, "a", None)], vcodec="h264")
    r = independent_read(tmp_path / "ds")
    assert r["info"]["features"][CAM]["info"]["video.codec"] == "h264"
    with av.open(str(next(iter(r["videos"])))) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_index_subtask_format_for_released_lerobot(tmp_path):
    """subtask_format="index": no language features (released LeRobot 0.4 rejects their dtype), subtasks as
    subtask_index into meta/subtasks.parquet, which that LeRobot reads back as each frame's subtask.
    """
    write_ours(tmp_path / "ds", [(5, "a", ["open"] * 2 + ["close"] * 3)], subtask_format="index")
    r = independent_read(tmp_path / "ds")
    assert not {k for k, ft in r["info"]["features"].items() if ft["dtype"] == "language"}
    names = {row["subtask_index"]: row["subtask"] for row in
             pq.read_table(tmp_path / "ds/meta/subtasks.parquet").to_pylist()}
    assert [names[f["subtask_index"]] for f in r["frames"]] == ["open"] * 2 + ["close"] * 3
    with pytest.raises(ValueError, match="subtask_format"):
        write_ours(tmp_path / "other", [(2, "a", None)], subtask_format="json")


def lerobot_style(root: Path, n: int = 6):
    """A one-episode dataset as LeRobot writes it: AV1 video, encoder fields, no private columns."""
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    (root / f"videos/{CAM}/chunk-000").mkdir(parents=True)
    (root / "data/chunk-000").mkdir(parents=True)
    from pi_vla_ros.core.scheduling import scheduling_kept

    # LeRobot's encoder, run as root, would leave this test process at SCHED_FIFO 99 (see scheduling_kept)
    with scheduling_kept(), av.open(str(root / f"videos/{CAM}/chunk-000/file-000.mp4"), "w") as c:
        s = c.add_stream("libsvtav1", rate=Fraction(FPS))
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"g": "2", "crf": "30", "preset": "12"}
        for i in range(n):
            f = av.VideoFrame.from_ndarray(img(i), format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    vinfo = {"video.height": H, "video.width": W, "video.codec": "av1", "video.pix_fmt": "yuv420p", "video.fps": FPS,
             "video.channels": 3, "has_audio": False, "is_depth_map": False, "video.g": 2, "video.crf": 30,
             "video.preset": 12, "video.fast_decode": 0, "video.video_backend": "pyav", "video.extra_options": {}}
    feats = {k: {**v, "shape": list(v["shape"])} for k, v in FEATURES.items()}
    feats[CAM]["info"] = vinfo
    feats.update({k: {"dtype": d, "shape": [1], "names": None} for k, d in (
        ("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"), ("index", "int64"),
        ("task_index", "int64"))})
    info = {"codebase_version": "v3.0", "robot_type": "so101", "total_episodes": 1, "total_frames": n,
            "total_tasks": 1, "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
            "fps": FPS, "splits": {"train": "0:1"}, "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}"
            ".parquet", "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": feats, "lerobot_only_field": {"kept": True}}
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))
    vec = pa.list_(pa.float32(), 2)
    pq.write_table(pa.table({
        "observation.state": pa.array([[i, 0.5] for i in range(n)], vec), "action": pa.array([[0, 0]] * n, vec),
        "timestamp": pa.array(np.arange(n) / FPS, pa.float32()), "frame_index": pa.array(range(n), pa.int64()),
        "episode_index": pa.array([0] * n, pa.int64()), "index": pa.array(range(n), pa.int64()),
        "task_index": pa.array([0] * n, pa.int64())}), root / "data/chunk-000/file-000.parquet")
    pq.write_table(pa.table({"task_index": pa.array([0], pa.int64()), "task": ["pick"]}), root / "meta/tasks.parquet")
    stats = {"mean": [[[0.5]]] * 3, "std": [[[0.1]]] * 3, "min": [[[0.0]]] * 3, "max": [[[1.0]]] * 3, "count": [n]}
    pq.write_table(pa.table({
        "episode_index": [0], "tasks": [["pick"]], "length": [n], "data/chunk_index": [0], "data/file_index": [0],
        "dataset_from_index": [0], "dataset_to_index": [n], f"videos/{CAM}/chunk_index": [0],
        f"videos/{CAM}/file_index": [0], f"videos/{CAM}/from_timestamp": [0.0],
        f"videos/{CAM}/to_timestamp": [n / FPS], "meta/episodes/chunk_index": [0], "meta/episodes/file_index": [0],
        "lerobot_only_column": ["x"], **{f"stats/{CAM}/{k}": [v] for k, v in stats.items()}}),
        root / "meta/episodes/chunk-000/file-000.parquet")
    (root / "meta/stats.json").write_text(json.dumps({CAM: stats, "other.feature": {"mean": [1.0]}}))


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".episode_tmp" not in p.parts}


def test_append_to_lerobot_style_dataset(tmp_path):
    from pi_vla_ros.data.lerobot_dataset import LeRobotDataset

    root = tmp_path / "ds"
    lerobot_style(root)
    write_ours(root, [(4, "place", ["go"] * 4)])  # no language columns there: warned, not stored
    r = independent_read(root)
    assert r["info"]["lerobot_only_field"] == {"kept": True}
    vinfo = r["info"]["features"][CAM]["info"]
    assert (vinfo["video.codec"], vinfo["video.g"], vinfo["video.crf"]) == ("av1", 2, 30)
    assert r["info"]["total_episodes"] == 2 and r["info"]["total_frames"] == 10
    assert [e["lerobot_only_column"] for e in r["episodes"]] == ["x", None]
    assert [e["length"] for e in r["episodes"]] == [6, 4]
    assert sum(len(v) for v in r["videos"].values()) == 10
    assert "other.feature" in json.loads((root / "meta/stats.json").read_text())
    with LeRobotDataset(root) as ds:
        assert len(ds) == 10 and ds[7]["task"] == "place"
        assert np.abs(ds[7][CAM].astype(int) - img(1)).mean() < 4


@pytest.mark.parametrize("how", ["codec", "encoder", "remux"])
def test_failing_append_leaves_files_byte_identical(tmp_path, monkeypatch, how):
    from pi_vla_ros.data import lerobot_dataset as lds

    root = tmp_path / "ds"
    lerobot_style(root)
    before = snapshot(root)
    with pytest.raises((ValueError, RuntimeError, OSError)):
        if how == "codec":  # an H.264 append to an AV1 dataset
            write_ours(root, [(3, "x", None)], vcodec="h264")
        if how == "encoder":  # this PyAV lacks the dataset's encoder
            monkeypatch.setattr(av, "codecs_available", {"libx264"})
            write_ours(root, [(3, "x", None)])

        def broken(*a):
            raise OSError("disk full")

        monkeypatch.setattr(lds, "_concat_mp4", broken)
        monkeypatch.setattr(lds, "_same_codec_setup", lambda a, b: True)
        write_ours(root, [(3, "x", None)])
    assert snapshot(root) == before


def test_tasks_as_lerobots_unnamed_pandas_index(tmp_path):
    """LeRobot writes meta/tasks.parquet from a DataFrame indexed by the task: the column is __index_level_0__."""
    from pi_vla_ros.data.lerobot_dataset import _read_index_parquet

    table = pa.table({"task_index": [1, 0], "__index_level_0__": ["place it", "pick it"]})
    pandas = {"index_columns": ["__index_level_0__"], "columns": []}
    pq.write_table(table.replace_schema_metadata({b"pandas": json.dumps(pandas).encode()}), tmp_path / "t.parquet")
    assert _read_index_parquet(tmp_path / "t.parquet", "task", "task_index") == ["pick it", "place it"]
