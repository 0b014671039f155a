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

"""Read and write LeRobot datasets (format v3.0) without the ``lerobot`` package.

Layout (as LeRobot v3.0 writes it)::

    meta/info.json                                  fps, features, path templates, totals
    meta/stats.json                                 per feature: min max mean std count q01 q10 q50 q90 q99
    meta/tasks.parquet                              task string (pandas index) -> task_index
    meta/subtasks.parquet                           subtask string (pandas index) -> subtask_index
    meta/episodes/chunk-000/file-000.parquet        one row per episode: length, tasks, file indices, ...
    data/chunk-000/file-000.parquet                 one row per frame, many episodes per file
    videos/<camera key>/chunk-000/file-000.mp4      many episodes per file, [from, to) timestamps per episode

Per frame: ``observation.state``, ``action``, ``observation.images.<camera>`` (video), ``timestamp``,
``frame_index``, ``episode_index``, ``index``, ``task_index``, ``next.success`` (True on the last frame of a
successful episode), ``intervention`` (a human took over) and ``subtask_index`` (into meta/subtasks.parquet,
-1 where a frame has no subtask; the language conditioning active at that frame).

Crash safety: every file is written to ``<name>.tmp`` and renamed over the real name, and an episode
becomes part of the dataset only when its row lands in ``meta/episodes`` (written after its data and
video files). Readers select rows by the episode table, so what a failed ``save_episode`` left behind
(trailing rows or frames of an unlisted episode) is never read, and earlier episodes stay intact.

Stats: numeric features exact over all frames (numpy's quantile definition); images per channel, scaled
to [0, 1] with shape (3, 1, 1) like LeRobot, computed exactly from per-episode 256-bin histograms (kept in
the episode table as ``pi_vla/histogram/<key>`` so appending in a later session stays exact).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pi_vla_ros.core.scheduling import scheduling_kept

CODEBASE_VERSION = "v3.0"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
IMAGE_PREFIX = "observation.images."
HIST_PREFIX = "pi_vla/histogram/"

DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": (1,), "names": None},
    "frame_index": {"dtype": "int64", "shape": (1,), "names": None},
    "episode_index": {"dtype": "int64", "shape": (1,), "names": None},
    "index": {"dtype": "int64", "shape": (1,), "names": None},
    "task_index": {"dtype": "int64", "shape": (1,), "names": None},
}
# Annotations every dataset written here carries; frames may omit them (defaults False / -1).
ANNOTATION_FEATURES = {
    "next.success": {"dtype": "bool", "shape": (1,), "names": None},
    "intervention": {"dtype": "bool", "shape": (1,), "names": None},
}
# The older subtask form (LeRobot 0.4.4 - 0.5.1): an index per frame into meta/subtasks.parquet.
SUBTASK_INDEX_FEATURE = {"subtask_index": {"dtype": "int64", "shape": (1,), "names": None}}
# LeRobot's language columns (lerobot.datasets.language): subtasks and verbal instructions.
LANGUAGE_FEATURES = {
    "language_persistent": {"dtype": "language", "shape": (1,), "names": None},
    "language_events": {"dtype": "language", "shape": (1,), "names": None},
}
# Per-subtask success (verbal-instruction collection): True on the frame after which a subtask was done.
SUBTASK_SUCCESS_FEATURE = {"next.subtask_success": {"dtype": "bool", "shape": (1,), "names": None}}
_ANNOTATION_DEFAULTS = {"next.success": False, "intervention": False, "subtask_index": -1,
                        "next.subtask_success": False}
_ARROW = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(), "int32": pa.int32(),
          "bool": pa.bool_()}


def features_from_profile(profile, image_shapes: dict[str, tuple[int, int]] | None = None) -> dict:
    """State/action/camera features for a :class:`~pi_vla_ros.profiles.RobotProfile`.

    ``image_shapes`` ({camera name: (height, width)}) overrides the profile's camera sizes.
    """
    image_shapes = image_shapes or {}
    feats = {
        "observation.state": {"dtype": "float32", "shape": (profile.state_dim,), "names": list(profile.joints)},
        "action": {"dtype": "float32", "shape": (profile.action_dim,), "names": list(profile.action_names)},
    }
    for cam in profile.cameras:
        h, w = image_shapes.get(cam.name, (cam.height, cam.width))
        feats[IMAGE_PREFIX + cam.name] = {"dtype": "video", "shape": (h, w, 3),
                                          "names": ["height", "width", "channels"]}
    return feats


# ----------------------------------------------------------------------------------------------- files


def _atomic(path: Path, write) -> None:
    """Write through ``write(tmp_path)`` and rename: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(path: Path, obj) -> None:
    _atomic(path, lambda p: p.write_text(json.dumps(obj, indent=4, ensure_ascii=False)))


def _write_parquet(path: Path, table: pa.Table) -> None:
    _atomic(path, lambda p: pq.write_table(table, p, compression="snappy"))


def _write_index_parquet(path: Path, name: str, index_col: str, values: list[str]) -> None:
    """tasks.parquet / subtasks.parquet: the string is the pandas index, like LeRobot's DataFrame."""
    pandas_meta = {"index_columns": [name], "column_indexes": [
        {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
         "metadata": {"encoding": "UTF-8"}}], "columns": [
        {"name": index_col, "field_name": index_col, "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
        {"name": name, "field_name": name, "pandas_type": "unicode", "numpy_type": "object", "metadata": None}],
        "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.0"}
    table = pa.table({index_col: pa.array(range(len(values)), pa.int64()), name: pa.array(values, pa.string())})
    _write_parquet(path, table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()}))


def _read_index_parquet(path: Path, name: str, index_col: str) -> list[str]:
    if not path.exists():
        return []
    t = pq.read_table(path)
    if name not in t.column_names:   # LeRobot's DataFrame index is unnamed: stored as __index_level_0__
        pandas = json.loads((t.schema.metadata or {}).get(b"pandas", b"{}"))
        names = [c for c in pandas.get("index_columns", []) if isinstance(c, str)] or \
            [c for c in t.column_names if c != index_col]
        if not names:
            raise ValueError(f"{path}: no {name} column and no pandas index")
        name = names[0]
    out = [""] * t.num_rows
    for s, i in zip(t.column(name).to_pylist(), t.column(index_col).to_pylist()):
        out[i] = s
    return out


def _column(table: pa.Table, key: str, shape: tuple) -> np.ndarray:
    col = table.column(key).combine_chunks()
    if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type):
        return np.asarray(col.flatten().to_numpy(zero_copy_only=False)).reshape(len(col), *shape)
    return col.to_numpy(zero_copy_only=False)


def _is_numeric(ft: dict) -> bool:
    if ft["dtype"] in ("video", "image", "string", "language"):
        return False
    try:
        return np.dtype(ft["dtype"]).kind in "biuf"
    except TypeError:
        return False


def _next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    return (chunk + 1, 0) if file + 1 >= chunks_size else (chunk, file + 1)


# ----------------------------------------------------------------------------------------------- stats


def array_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """min/max/mean/std/count and quantiles over axis 0 (numpy's linear quantile definition)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    out = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0), "count": np.array([len(x)])}
    out.update({k: np.quantile(x, q, axis=0) for k, q in QUANTILES.items()})
    return out


def histogram_stats(hist: np.ndarray, frames: int) -> dict[str, np.ndarray]:
    """Per-channel stats of uint8 images from their (3, 256) value histogram, scaled to [0, 1], shape (3, 1, 1).

    Exact: the quantiles are numpy's linear-interpolated order statistics of all pixel values.
    """
    hist = np.asarray(hist, np.int64)
    v = np.arange(256.0)
    n = hist.sum(1)
    mean = hist @ v / n
    std = np.sqrt(np.maximum(hist @ v**2 / n - mean**2, 0.0))
    cum = hist.cumsum(1)
    nonzero = hist > 0
    out = {"min": nonzero.argmax(1).astype(float), "max": 255.0 - nonzero[:, ::-1].argmax(1), "mean": mean, "std": std}
    for key, q in QUANTILES.items():
        pos = q * (n - 1)
        lo = np.floor(pos)
        value = [np.searchsorted(cum[c], [lo[c], min(lo[c] + 1, n[c] - 1)], side="right") for c in range(len(n))]
        value = np.array(value, float)
        out[key] = value[:, 0] + (pos - lo) * (value[:, 1] - value[:, 0])
    out = {k: (s / 255.0).reshape(-1, 1, 1) for k, s in out.items()}
    out["count"] = np.array([frames])
    return out


def _serialize(stats: dict) -> dict:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


# ----------------------------------------------------------------------------------------------- video


# Encoders by codec family, preferred first; the family name is what info.json records (PyAV's canonical name).
CODECS = {"av1": ("libsvtav1", "libaom-av1"), "h264": ("libx264",)}
_FAMILY = {enc: fam for fam, encs in CODECS.items() for enc in encs}
# Per-family defaults: AV1 as LeRobot encodes it (crf 30, SVT-AV1 preset 12); H.264 crf 23, preset veryfast.
_DEFAULT_CRF = {"av1": 30, "h264": 23}
_DEFAULT_PRESET = {"libsvtav1": 12, "libaom-av1": None, "libx264": "veryfast"}


def _pick_codec(preferred: str | None) -> str:
    """Encoder for ``preferred`` (a family, ``av1``/``h264``, or an encoder name); default AV1, else H.264."""
    import av

    if preferred is None:
        candidates = CODECS["av1"] + CODECS["h264"]
    elif preferred in CODECS:
        candidates = CODECS[preferred]
    elif preferred in _FAMILY:
        candidates = (preferred,)
    else:
        raise ValueError(f"unknown video codec {preferred!r}: use one of {sorted(CODECS)} or {sorted(_FAMILY)}")
    for name in candidates:
        if name in av.codecs_available:
            return name
    raise RuntimeError(f"PyAV has no encoder for {preferred or 'AV1 or H.264'} (tried {', '.join(candidates)})")


class _VideoEncoder:
    """Streams frames into an mp4 as they arrive, so an episode's images are never all held in memory."""

    def __init__(self, path: Path, fps: float, height: int, width: int, codec: str, crf, gop: int, preset=None):
        import av

        if height % 2 or width % 2:
            raise ValueError(f"video frames must have even height and width for yuv420p, got {height}x{width}")
        self.container = av.open(str(path), "w", format="mp4")
        self.stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        # No B-frames (AV1 has no reordering anyway): decode order == presentation order, so appending to a file
        # is a plain remux.
        options = {"crf": str(crf), "g": str(gop)}
        if codec == "libx264":
            options["bf"] = "0"
        if preset is not None:
            options["preset"] = str(preset)
        self.stream.options = options
        self.frames = 0

    def add(self, image: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        with scheduling_kept():      # the first frame opens the encoder
            self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        if self.container is not None:
            try:
                with scheduling_kept():
                    self.container.mux(self.stream.encode())
            finally:
                self.container.close()
                self.container = None


def _same_codec_setup(a: Path, b: Path) -> bool:
    import av

    with av.open(str(a)) as ca, av.open(str(b)) as cb:
        sa, sb = ca.streams.video[0], cb.streams.video[0]
        return (sa.codec_context.name, sa.width, sa.height, sa.codec_context.extradata) == (
            sb.codec_context.name, sb.width, sb.height, sb.codec_context.extradata)


def _concat_mp4(first: Path, first_seconds: float, second: Path, out: Path) -> None:
    """Remux ``first`` (only its frames before ``first_seconds``) followed by ``second`` into ``out``."""
    import av

    with av.open(str(first)) as a, av.open(str(second)) as b, av.open(str(out), "w", format="mp4") as o:
        s_out = o.add_stream_from_template(a.streams.video[0], opaque=True)  # remux: no encoder needed
        for src, offset in ((a, 0.0), (b, first_seconds)):
            s_in = src.streams.video[0]
            shift = round(offset / s_in.time_base)
            for pkt in src.demux(s_in):
                if pkt.dts is None:  # demuxer's end-of-stream marker
                    continue
                if src is a and pkt.pts * s_in.time_base >= first_seconds - 1e-6:
                    continue  # frames of an episode that was never committed
                pkt.pts += shift
                pkt.dts += shift
                pkt.stream = s_out
                o.mux(pkt)


class _VideoReader:
    """Frames of one mp4 by timestamp; sequential reads decode forward without seeking."""

    def __init__(self, path: Path):
        import av
        from av.video.reformatter import VideoReformatter

        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self._rgb = VideoReformatter()  # one converter per file: frame.to_ndarray(format=...) rebuilds it each call
        self._frames = None
        self._t = None
        self._image = None

    def frame_at(self, t: float, tol: float) -> np.ndarray:
        if self._t is None or t < self._t - tol or t > self._t + 1.0:
            self.container.seek(max(0, int(t / self.stream.time_base)), stream=self.stream, backward=True)
            self._frames, self._t = self.container.decode(self.stream), None
        while self._t is None or self._t < t - tol:
            frame = next(self._frames, None)
            if frame is None:
                raise IndexError(f"no frame at {t:.3f}s in {self.container.name}")
            self._t, self._image = float(frame.pts * self.stream.time_base), None
            self._frame = frame
        if abs(self._t - t) > tol:
            raise IndexError(f"no frame within {tol:.4f}s of {t:.3f}s in {self.container.name} "
                             f"(nearest {self._t:.3f}s)")
        if self._image is None:
            self._image = self._rgb.reformat(self._frame, format="rgb24", interpolation="BILINEAR").to_ndarray()
        return self._image

    def close(self) -> None:
        self.container.close()


# ----------------------------------------------------------------------------------------------- writer


class _Slot:
    """The file a stream (data, or one camera) appends to, as of the last committed episode."""

    def __init__(self, chunk: int = 0, file: int = 0, frames: int = 0, table=None, end: float = 0.0):
        self.chunk, self.file = chunk, file
        self.frames = frames  # committed frames/rows in the file; 0: the next episode starts it
        self.table = table    # data slot: the committed rows (rewritten with each new episode)
        self.end = end        # video slot: end time (s) of the last committed episode in the file


def language_rows(subtasks: list, instructions: list, fps: float) -> tuple[list[dict], list[list[dict]]]:
    """LeRobot's language columns for one episode from per-frame annotations.

    ``subtasks[i]``: the subtask active at frame i (None: none), stored as one persistent ``subtask`` row
    (role assistant) stamped at the frame where it starts, the same list on every frame of the episode.
    ``instructions[i]``: the verbal instructions spoken/typed at frame i (a string, a list of them, or None), one
    ``interjection`` event row (role user) each, in the order given, on that frame only.
    """
    persistent, prev = [], None
    for i, s in enumerate(subtasks):
        if s and s != prev:
            persistent.append({"role": "assistant", "content": s, "style": "subtask",
                               "timestamp": float(np.float32(i / fps)), "camera": None, "tool_calls": None})
        prev = s
    events = [[{"role": "user", "content": t, "style": "interjection", "camera": None, "tool_calls": None}
               for t in ([said] if isinstance(said, str) else said or ()) if t] for said in instructions]
    return persistent, events


def _language_types() -> dict[str, pa.DataType]:
    json_t = pa.string()  # LeRobot's type on pyarrow without pa.json_ (JSON text); we write no tool calls
    common = [pa.field("role", pa.string(), nullable=False), pa.field("content", pa.string()),
              pa.field("style", pa.string())]
    tail = [pa.field("camera", pa.string()), pa.field("tool_calls", pa.list_(json_t))]
    stamp = [pa.field("timestamp", pa.float32(), nullable=False)]
    return {"language_persistent": pa.list_(pa.struct(common + stamp + tail)),
            "language_events": pa.list_(pa.struct(common + tail))}


def _video_info(h: int, w: int, fps, codec: str, crf, gop: int, preset) -> dict:
    """A video feature's ``info`` as LeRobot records it: stream fields plus the encoder settings used."""
    return {"video.height": h, "video.width": w, "video.codec": _FAMILY[codec], "video.pix_fmt": "yuv420p",
            "video.fps": fps, "video.channels": 3, "has_audio": False, "is_depth_map": False, "video.g": gop,
            "video.crf": crf, "video.preset": preset, "video.fast_decode": 0, "video.video_backend": "pyav",
            "video.extra_options": {}}


def _aggregate(parts: list[dict]) -> dict[str, np.ndarray]:
    """Stats over episodes from per-episode stats, as LeRobot aggregates them (quantiles: count-weighted mean)."""
    n = np.array([float(np.ravel(p["count"])[0]) for p in parts])
    w = (n / n.sum()).reshape(-1, *[1] * np.asarray(parts[0]["mean"]).ndim)
    mean = (w * np.stack([p["mean"] for p in parts])).sum(0)
    var = (w * (np.stack([p["std"] for p in parts]) ** 2 + (np.stack([p["mean"] for p in parts]) - mean) ** 2)).sum(0)
    out = {"min": np.min([p["min"] for p in parts], 0), "max": np.max([p["max"] for p in parts], 0), "mean": mean,
           "std": np.sqrt(var), "count": np.array([int(n.sum())])}
    for q in QUANTILES:
        if all(q in p for p in parts):
            out[q] = (w * np.stack([p[q] for p in parts])).sum(0)
    return out


class LeRobotDatasetWriter:
    """Append episodes to a LeRobot v3.0 dataset at ``root`` (created, or reopened to append).

    >>> w = LeRobotDatasetWriter(root, fps=50, profile=load_profile("bimanual"))
    >>> w.add_frame({"observation.state": s, "action": a, "observation.images.cam_high": img, "subtask": "..."})
    >>> w.save_episode(task="fold the towel", success=True)
    >>> w.finalize()

    Frames hold every non-default feature; ``next.success``, ``intervention`` (default False), ``task``,
    ``subtask`` (the subtask active at the frame) and ``instruction`` (a verbal instruction given at the frame, or
    a list of those given there) are optional. ``subtask_success=True`` declares ``next.subtask_success`` in a new
    dataset (True on the frame after which a subtask was done; verbal-instruction collection writes it); a frame's
    ``next.subtask_success`` is dropped, with one warning, where the dataset does not declare it. Images are uint8
    HWC or CHW (float in [0, 1] is scaled).

    Files: episodes share ``data/chunk-XXX/file-XXX.parquet`` and ``videos/<camera>/chunk-XXX/file-XXX.mp4``
    until a file would pass ``data_files_size_in_mb`` / ``video_files_size_in_mb`` (LeRobot's defaults, 100 and
    200), then the next file starts (``chunks_size`` files per chunk). Reopening continues in the last file,
    like LeRobot's resume; a video file whose codec headers differ from the new episode's starts a new file.

    Video: AV1 (SVT-AV1, crf 30, preset 12, as LeRobot) when PyAV has the encoder, else H.264; ``vcodec``
    (``"av1"``, ``"h264"`` or an encoder name) chooses. Appending to a dataset uses its recorded codec and
    encoder settings; asking for another codec is an error (LeRobot keeps one codec per dataset).

    Annotations: subtasks and verbal instructions go to LeRobot's language columns (``language_persistent``
    ``subtask`` rows, ``language_events`` ``interjection`` rows; LeRobot's main branch). Released LeRobot
    (0.4.x on PyPI) cannot open a dataset that declares them: ``subtask_format="index"`` writes a new dataset in
    the older form it reads (``subtask_index`` + ``meta/subtasks.parquet``; spoken interjections are then not
    stored). A dataset of the older form keeps that form when appended to.

    Appending to a dataset written or edited by LeRobot keeps what we do not use (info.json fields, episode
    columns, stats of other features). Nothing is written when the writer opens an existing dataset, and a
    ``save_episode`` stages every file first: if anything fails, the dataset's files are left untouched.
    """

    def __init__(self, root, fps: float | None = None, features: dict | None = None, *, profile=None,
                 robot_type: str | None = None, video: bool = True, vcodec: str | None = None,
                 crf: int | None = None, gop: int = 10, chunks_size: int = 1000, data_files_size_in_mb: float = 100,
                 video_files_size_in_mb: float = 200, subtask_format: str = "language",
                 subtask_success: bool = False):
        if not video:
            raise NotImplementedError("only video (mp4) image storage is implemented")
        self.root = Path(root)
        info_path = self.root / "meta/info.json"
        new = not info_path.exists()
        if not new:
            info = json.loads(info_path.read_text())
            if fps is not None and float(fps) != float(info["fps"]):
                raise ValueError(f"{self.root} has fps {info['fps']}, asked for {fps}")
            wanted = features if features is not None else (features_from_profile(profile) if profile else None)
            for key, ft in (wanted or {}).items():
                have = info["features"].get(key)
                if have is None or list(have["shape"]) != list(ft["shape"]) or have["dtype"] != ft["dtype"]:
                    raise ValueError(f"feature {key!r} {ft} does not match the dataset's {have}")
            info.setdefault("chunks_size", chunks_size)
            info.setdefault("data_files_size_in_mb", data_files_size_in_mb)
            info.setdefault("video_files_size_in_mb", video_files_size_in_mb)
        else:
            if fps is None:
                fps = profile.policy_rate_hz if profile is not None else None
            if fps is None or (features is None and profile is None):
                raise ValueError("a new dataset needs fps and features (or a profile)")
            if subtask_format not in ("language", "index"):
                raise ValueError(f"subtask_format must be 'language' or 'index', got {subtask_format!r}")
            subtask_features = LANGUAGE_FEATURES if subtask_format == "language" else SUBTASK_INDEX_FEATURE
            feats = {**(features if features is not None else features_from_profile(profile)),
                     **ANNOTATION_FEATURES, **(SUBTASK_SUCCESS_FEATURE if subtask_success else {}),
                     **subtask_features, **DEFAULT_FEATURES}
            fps = int(fps) if float(fps).is_integer() else float(fps)
            info = {
                "codebase_version": CODEBASE_VERSION, "robot_type": robot_type or getattr(profile, "name", None),
                "total_episodes": 0, "total_frames": 0, "total_tasks": 0, "chunks_size": chunks_size,
                "data_files_size_in_mb": data_files_size_in_mb, "video_files_size_in_mb": video_files_size_in_mb,
                "fps": fps, "splits": {}, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
                "features": {k: {**ft, "shape": list(ft["shape"])} for k, ft in feats.items()},
            }
        self.fps = float(info["fps"])
        self.features = {k: {**ft, "shape": tuple(ft["shape"])} for k, ft in info["features"].items()}
        self.video_keys = [k for k, ft in self.features.items() if ft["dtype"] == "video"]
        recorded = {k: info["features"][k].get("info") or {} for k in self.video_keys}
        families = {r["video.codec"] for r in recorded.values() if r.get("video.codec")}
        if len(families) > 1:
            raise ValueError(f"{self.root}: cameras use different codecs {sorted(families)}; not supported")
        family = next(iter(families), None)
        self.codec = _pick_codec(vcodec or family)
        if family and _FAMILY[self.codec] != _canonical(family):
            raise ValueError(f"{self.root} stores {family} video; cannot append {_FAMILY[self.codec]} "
                             "(LeRobot keeps one codec per dataset)")
        rec = next((r for r in recorded.values() if r.get("video.codec")), {})
        self.gop = int(rec.get("video.g") or gop)
        self.crf = crf if crf is not None else rec.get("video.crf", _DEFAULT_CRF[_FAMILY[self.codec]])
        self.preset = rec.get("video.preset", _DEFAULT_PRESET[self.codec]) if rec else _DEFAULT_PRESET[self.codec]
        for key in self.video_keys:
            if not recorded[key].get("video.codec"):  # LeRobot's fields, where present, are kept as they are
                h, w, _ = self.features[key]["shape"]
                info["features"][key]["info"] = _video_info(h, w, info["fps"], self.codec, self.crf, self.gop,
                                                            self.preset)
        self.info = info
        self._language = "language_persistent" in self.features
        self._legacy_subtasks = "subtask_index" in self.features

        # Committed state, read from disk when appending. Nothing is written here.
        self.episodes: list[dict] = _read_episode_rows(self.root)
        self.tasks = _read_index_parquet(self.root / "meta/tasks.parquet", "task", "task_index")
        self.subtasks = _read_index_parquet(self.root / "meta/subtasks.parquet", "subtask", "subtask_index")
        self._numeric = {k: [] for k, ft in self.features.items() if _is_numeric(ft)}
        if self.episodes:
            cols = _load_rows(self.root, self.info, self.episodes, list(self._numeric))
            for k in self._numeric:
                self._numeric[k].append(cols[k])
        # A crash between writing tasks and committing the episode leaves trailing, unused entries: drop them
        # (the files are rewritten with the next episode).
        for name, names in (("task", self.tasks), ("subtask", self.subtasks)):
            col = self._numeric.get(f"{name}_index")
            used = int(max(np.concatenate(col), default=-1)) + 1 if col else 0
            del names[used:]
        self._disk = {"task": None, "subtask": None}  # force a rewrite only if the lists change or were trimmed
        self._disk["task"] = _read_index_parquet(self.root / "meta/tasks.parquet", "task", "task_index")
        self._disk["subtask"] = _read_index_parquet(self.root / "meta/subtasks.parquet", "subtask", "subtask_index")
        self._slots = {"data": self._resume_data()} | {k: self._resume_video(k) for k in self.video_keys}
        meta_file = lambda e: (e.get("meta/episodes/chunk_index") or 0, e.get("meta/episodes/file_index") or 0)  # noqa
        self._meta_slot = max(map(meta_file, self.episodes), default=(0, 0))
        self._meta_rows = [e for e in self.episodes if meta_file(e) == self._meta_slot]
        if new:
            self._write_meta()
        self._new_buffer()

    def _last(self, prefix: str) -> tuple[int, int, list[dict]]:
        chunk, file = max((e[f"{prefix}/chunk_index"], e[f"{prefix}/file_index"]) for e in self.episodes)
        return chunk, file, [e for e in self.episodes
                             if (e[f"{prefix}/chunk_index"], e[f"{prefix}/file_index"]) == (chunk, file)]

    def _resume_data(self) -> _Slot:
        """Continue in the last data file (its committed rows; rows of an uncommitted episode are dropped)."""
        if not self.episodes:
            return _Slot()
        chunk, file, eps = self._last("data")
        table = pq.read_table(self.root / self.info["data_path"].format(chunk_index=chunk, file_index=file))
        keep = np.isin(_column(table, "episode_index", (1,)), [e["episode_index"] for e in eps])
        table = table.filter(pa.array(keep))
        return _Slot(chunk, file, table.num_rows, table)

    def _resume_video(self, key: str) -> _Slot:
        if not self.episodes:
            return _Slot()
        chunk, file, eps = self._last(f"videos/{key}")
        return _Slot(chunk, file, sum(e["length"] for e in eps), end=max(e[f"videos/{key}/to_timestamp"] for e in eps))

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        return sum(e["length"] for e in self.episodes)

    # ------------------------------------------------------------------------------------------- frames

    def _new_buffer(self) -> None:
        self._buf = {k: [] for k in self._numeric if k not in DEFAULT_FEATURES}
        self._buf_tasks: list[str | None] = []
        self._buf_subtasks: list[str | None] = []
        self._buf_instructions: list[str | None] = []
        self._hist = {k: np.zeros((3, 256), np.int64) for k in self.video_keys}
        self._encoders: dict[str, _VideoEncoder] = {}
        self._tmp_videos = {k: self.root / f".episode_tmp/{k}.mp4" for k in self.video_keys}

    def add_frame(self, frame: dict) -> None:
        frame = dict(frame)
        task, subtask, said = frame.pop("task", None), frame.pop("subtask", None), frame.pop("instruction", None)
        if not self._language:   # the older form holds subtasks (subtask_index) but no spoken instructions
            if (said or (subtask and not self._legacy_subtasks)) and not getattr(self, "_warned_language", False):
                warnings.warn(f"{self.root} has no language columns (language_persistent/language_events): "
                              + ("spoken instructions" if self._legacy_subtasks else "subtask/instruction annotations")
                              + " of the appended episodes are not stored", stacklevel=2)
                self._warned_language = True
            said = None
            subtask = subtask if self._legacy_subtasks else None
        if "next.subtask_success" in frame and "next.subtask_success" not in self.features:
            if frame.pop("next.subtask_success") and not getattr(self, "_warned_subtask_success", False):
                warnings.warn(f"{self.root} does not declare next.subtask_success: per-subtask success of the "
                              "appended episodes is not stored", stacklevel=2)
                self._warned_subtask_success = True
        expected = set(self._buf) | set(self.video_keys)
        missing = expected - set(frame) - set(_ANNOTATION_DEFAULTS)
        extra = set(frame) - expected
        if missing or extra:
            raise ValueError(f"frame features: missing {sorted(missing)}, unexpected {sorted(extra)}")
        values = {}
        for key in self._buf:
            ft = self.features[key]
            value = np.asarray(frame.get(key, _ANNOTATION_DEFAULTS.get(key)), dtype=ft["dtype"])
            if value.size != int(np.prod(ft["shape"])):
                raise ValueError(f"{key}: expected shape {ft['shape']}, got {value.shape}")
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise ValueError(f"{key}: non-finite values {value}")
            values[key] = value.reshape(ft["shape"])
        images = {key: self._image(key, frame[key]) for key in self.video_keys}
        for key, value in values.items():  # all validated: now change state
            self._buf[key].append(value)
        self._buf_tasks.append(task)
        self._buf_subtasks.append(subtask)
        self._buf_instructions.append(said)
        for key, image in images.items():
            if key not in self._encoders:
                self._tmp_videos[key].parent.mkdir(parents=True, exist_ok=True)
                self._encoders[key] = _VideoEncoder(self._tmp_videos[key], self.fps, *image.shape[:2],
                                                    self.codec, self.crf, self.gop, self.preset)
            self._encoders[key].add(image)
            for c in range(3):
                self._hist[key][c] += np.bincount(image[..., c].ravel(), minlength=256)

    def _image(self, key: str, image) -> np.ndarray:
        image = np.asarray(image)
        h, w, c = self.features[key]["shape"]
        if image.shape == (c, h, w):
            image = image.transpose(1, 2, 0)
        if image.shape != (h, w, c):
            raise ValueError(f"{key}: expected an image of shape {(h, w, c)} or {(c, h, w)}, got {image.shape}")
        if image.dtype != np.uint8:
            image = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
        return np.ascontiguousarray(image)

    def clear_episode(self) -> None:
        """Drop the frames added since the last save_episode."""
        for enc in self._encoders.values():
            try:
                enc.close()
            except Exception:  # noqa: BLE001 - a broken temp file is discarded anyway
                pass
        for path in self._tmp_videos.values():
            path.unlink(missing_ok=True)
        self._new_buffer()

    # ------------------------------------------------------------------------------------------ episodes

    def save_episode(self, task: str | None = None, success: bool | None = None) -> int:
        """Commit the buffered frames as one episode and return its index.

        ``task`` applies to frames that did not name one. ``success`` (if given) sets ``next.success`` on the
        last frame and the episode's ``success`` column. Every file is first written to a staging copy; only
        when all of them exist are they renamed into place (the episode table last, the commit point). An
        error before that leaves the dataset's files as they were and drops the episode.
        """
        staged: list[tuple[Path, Path]] = []
        try:
            return self._save_episode(task, success, staged)
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            self.clear_episode()

    def _stage(self, staged: list, path: Path, write) -> None:
        tmp = self.root / ".episode_tmp/staged" / path.relative_to(self.root)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        staged.append((tmp, path))

    def _save_episode(self, task, success, staged) -> int:
        n = len(self._buf_tasks)
        if n == 0:
            raise ValueError("save_episode: no frames were added")
        frame_tasks = [t or task for t in self._buf_tasks]
        if any(not t for t in frame_tasks):
            raise ValueError("save_episode: every frame needs a task (pass task=...)")
        ep = max((e["episode_index"] for e in self.episodes), default=-1) + 1
        start = self.num_frames
        tasks, subtasks = list(self.tasks), list(self.subtasks)
        for t in frame_tasks:
            if t not in tasks:
                tasks.append(t)
        if self._legacy_subtasks:
            for s in self._buf_subtasks:
                if s and s not in subtasks:
                    subtasks.append(s)
        shape = lambda k: (n,) if self.features[k]["shape"] == (1,) else (n, *self.features[k]["shape"])  # noqa: E731
        cols = {k: np.stack(v).reshape(shape(k)) for k, v in self._buf.items()}
        if "subtask_index" in cols:
            given = [subtasks.index(s) if s else None for s in self._buf_subtasks]
            cols["subtask_index"] = np.array([g if g is not None else c for g, c in zip(given, cols["subtask_index"])])
        if success is not None and "next.success" in cols:
            cols["next.success"][-1] = bool(success)
        cols.update(timestamp=(np.arange(n) / self.fps).astype(np.float32), frame_index=np.arange(n),
                    episode_index=np.full(n, ep), index=start + np.arange(n),
                    task_index=np.array([tasks.index(t) for t in frame_tasks]))
        cols = {k: cols[k] for k in self._numeric}  # feature order
        arrays = {k: _arrow_column(v, self.features[k]) for k, v in cols.items()}
        if self._language:
            persistent, events = language_rows(self._buf_subtasks, self._buf_instructions, self.fps)
            types = _language_types()
            arrays["language_persistent"] = pa.array([persistent] * n, types["language_persistent"])
            arrays["language_events"] = pa.array(events, types["language_events"])
        table = pa.table({k: arrays[k] for k in self.features if k in arrays})

        row = {"episode_index": ep, "tasks": list(dict.fromkeys(frame_tasks)), "length": n,
               "dataset_from_index": start, "dataset_to_index": start + n, "success": success}
        pending = {"data": self._stage_data(table, row, staged)}
        for key in self.video_keys:
            pending[key] = self._stage_video(key, n, row, staged)
        stats = {k: array_stats(v) for k, v in cols.items()}
        stats.update({k: histogram_stats(h, n) for k, h in self._hist.items()})
        for feat, st in stats.items():
            for name, value in st.items():
                row[f"stats/{feat}/{name}"] = np.asarray(value).tolist()
        for key, hist in self._hist.items():
            row[HIST_PREFIX + key] = hist.tolist()

        meta_slot, meta_rows = self._meta_slot, self._meta_rows + [row]
        old_meta = self.root / EPISODES_PATH.format(chunk_index=meta_slot[0], file_index=meta_slot[1])
        meta_table = _rows_table(meta_rows, pq.read_schema(old_meta) if old_meta.exists() else None)
        if len(meta_rows) > 1 and meta_table.nbytes > self.info["data_files_size_in_mb"] * 2**20:
            meta_slot, meta_rows = _next_file(*meta_slot, self.info["chunks_size"]), [row]
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = meta_slot
        meta_table = _rows_table(meta_rows, pq.read_schema(old_meta) if old_meta.exists() else None)
        for name, values in (("task", tasks), ("subtask", subtasks)):
            if values != self._disk[name] and (values or self._disk[name]):
                self._stage(staged, self.root / f"meta/{name}s.parquet",
                            lambda p, name=name, values=values: _write_index_parquet(p, name, f"{name}_index", values))
        meta_path = self.root / EPISODES_PATH.format(chunk_index=meta_slot[0], file_index=meta_slot[1])
        self._stage(staged, meta_path, lambda p: _write_parquet(p, meta_table))

        # Everything is staged: move it into place. The episode table goes last: the commit point.
        for tmp, path in staged:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        staged.clear()
        self.episodes.append(row)
        self._meta_slot, self._meta_rows = meta_slot, meta_rows
        self.tasks, self.subtasks = tasks, subtasks
        self._disk = {"task": list(tasks), "subtask": list(subtasks)}
        for k, v in cols.items():
            self._numeric[k].append(v)
        for key, slot in pending.items():
            self._slots[key] = slot
        self._write_meta()
        return ep

    def _place(self, slot: _Slot, full: bool) -> tuple[int, int, bool]:
        """(chunk, file, continue the file?) for the next episode of a stream."""
        if slot.frames and full:
            return (*_next_file(slot.chunk, slot.file, self.info["chunks_size"]), False)
        return slot.chunk, slot.file, bool(slot.frames)

    def _stage_data(self, table: pa.Table, row: dict, staged: list) -> _Slot:
        slot = self._slots["data"]
        rows = None
        if slot.frames:
            try:  # the file's own schema (LeRobot's, where it wrote the file)
                rows = pa.concat_tables([slot.table, table.select(slot.table.column_names).cast(slot.table.schema)])
            except (KeyError, ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
                rows = None  # columns that do not line up: start a new file
        full = rows is None or rows.nbytes > self.info["data_files_size_in_mb"] * 2**20
        chunk, file, cont = self._place(slot, full)
        rows = rows if cont else table
        self._stage(staged, self.root / self.info["data_path"].format(chunk_index=chunk, file_index=file),
                    lambda p: _write_parquet(p, rows))
        row.update({"data/chunk_index": chunk, "data/file_index": file})
        return _Slot(chunk, file, rows.num_rows, rows)

    def _stage_video(self, key: str, n: int, row: dict, staged: list) -> _Slot:
        slot = self._slots[key]
        self._encoders[key].close()
        tmp = self._tmp_videos[key]
        path = lambda c, f: self.root / self.info["video_path"].format(  # noqa: E731
            video_key=key, chunk_index=c, file_index=f)
        old = path(slot.chunk, slot.file)
        # Appending is a remux, which needs identical codec headers; otherwise start the next file.
        full = bool(slot.frames) and (old.stat().st_size + tmp.stat().st_size > self.info["video_files_size_in_mb"]
                                      * 2**20 or not _same_codec_setup(old, tmp))
        chunk, file, cont = self._place(slot, full)
        new, offset = path(chunk, file), (slot.end if cont else 0.0)
        if cont:
            self._stage(staged, new, lambda p: _concat_mp4(old, offset, tmp, p))
        else:
            self._stage(staged, new, lambda p: os.replace(tmp, p))
        end = offset + n / self.fps
        row.update({f"videos/{key}/chunk_index": chunk, f"videos/{key}/file_index": file,
                    f"videos/{key}/from_timestamp": offset, f"videos/{key}/to_timestamp": end})
        return _Slot(chunk, file, (slot.frames if cont else 0) + n, end=end)

    def _write_meta(self) -> None:
        """info.json and stats.json, derived from the committed episodes (other stats.json entries are kept)."""
        self.info.update(total_episodes=len(self.episodes), total_frames=self.num_frames, total_tasks=len(self.tasks),
                         splits={"train": f"0:{len(self.episodes)}"} if self.episodes else {})
        _write_json(self.root / "meta/info.json", self.info)
        if self.episodes:
            path = self.root / "meta/stats.json"
            stats = {k: {s: np.asarray(v) for s, v in d.items()}
                     for k, d in json.loads(path.read_text()).items()} if path.exists() else {}
            stats.update({k: array_stats(np.concatenate(v)) for k, v in self._numeric.items()})
            for key in self.video_keys:
                if all(e.get(HIST_PREFIX + key) is not None for e in self.episodes):  # exact
                    hist = sum(np.asarray(e[HIST_PREFIX + key], np.int64) for e in self.episodes)
                    stats[key] = histogram_stats(hist, self.num_frames)
                    continue
                # Episodes written by LeRobot have no histogram: aggregate per-episode stats as LeRobot does.
                names = ("min", "max", "mean", "std", "count")
                parts = [{s: np.asarray(e[f"stats/{key}/{s}"], np.float64) for s in (*names, *QUANTILES)
                          if e.get(f"stats/{key}/{s}") is not None} for e in self.episodes]
                if all(all(s in p for s in names) for p in parts):
                    stats[key] = _aggregate(parts)
            _write_json(path, _serialize(stats))

    def finalize(self) -> None:
        """Drop an unsaved episode and remove temporary files. Everything saved is already on disk."""
        self.clear_episode()
        tmp_dir = self.root / ".episode_tmp"
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finalize()


def _rows_table(rows: list[dict], schema: pa.Schema | None = None) -> pa.Table:
    """The episode table; columns already in the file keep its types (LeRobot's, where LeRobot wrote it)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))  # union: rows from other writers may lack columns
    cols = {}
    for k in keys:
        values = [r.get(k) for r in rows]
        typ = schema.field(k).type if schema is not None and k in schema.names else None
        try:
            cols[k] = pa.array(values, typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            cols[k] = pa.array(values)
    return pa.table(cols)


def _canonical(codec: str) -> str:
    return {"libsvtav1": "av1", "libaom-av1": "av1", "libdav1d": "av1", "libx264": "h264", "avc": "h264",
            "avc1": "h264"}.get(codec, codec)


def _arrow_column(values: np.ndarray, ft: dict) -> pa.Array:
    typ = _ARROW[ft["dtype"]]
    if tuple(ft["shape"]) == (1,):
        return pa.array(values.reshape(-1), typ)
    if len(ft["shape"]) != 1:
        raise NotImplementedError(f"features of shape {ft['shape']} are not supported")
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), typ), ft["shape"][0])


# ----------------------------------------------------------------------------------------------- reader


def _read_episode_rows(root: Path) -> list[dict]:
    rows = []
    for path in sorted((root / "meta/episodes").glob("*/*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda r: r["episode_index"])


def _load_rows(root: Path, info: dict, episodes: list[dict], keys: list[str]) -> dict[str, np.ndarray]:
    """Numeric columns of the listed episodes, in episode order; rows of unlisted episodes are skipped."""
    feats = info["features"]
    by_file: dict[tuple, list[dict]] = {}
    for e in episodes:
        by_file.setdefault((e["data/chunk_index"], e["data/file_index"]), []).append(e)
    parts: dict[int, dict] = {}
    for (chunk, file), eps in by_file.items():
        table = pq.read_table(root / info["data_path"].format(chunk_index=chunk, file_index=file),
                              columns=[k for k in keys if k != "episode_index"] + ["episode_index"])
        ep_col = _column(table, "episode_index", (1,))
        for e in eps:
            rows = np.flatnonzero(ep_col == e["episode_index"])
            if len(rows) != e["length"]:
                raise ValueError(f"episode {e['episode_index']}: {len(rows)} rows in data file, expected {e['length']}")
            sub = table.take(rows)
            parts[e["episode_index"]] = {k: _column(sub, k, tuple(feats[k]["shape"])) for k in keys}
    order = [e["episode_index"] for e in episodes]
    return {k: np.concatenate([parts[i][k] for i in order]) for k in keys}


def decode_image_cell(cell, root: Path, what: str = "image") -> np.ndarray:
    """An image cell as LeRobot stores it (``{"bytes": PNG/JPEG, "path": ...}``, or raw bytes) -> uint8 RGB (H, W, 3).

    Without bytes the image is read from ``path`` (absolute, or relative to the dataset root).
    """
    import cv2

    data, name = (cell.get("bytes"), cell.get("path")) if isinstance(cell, dict) else (cell, None)
    if not data and name:
        file = Path(name) if Path(name).is_absolute() else Path(root) / name
        if not file.exists():
            raise FileNotFoundError(f"{what}: no image bytes and no file {file}")
        data = file.read_bytes()
    if not data:
        raise ValueError(f"{what}: empty image cell {cell!r}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{what}: {len(data)} bytes are not a PNG/JPEG image OpenCV can decode")
    return np.ascontiguousarray(image[..., ::-1])  # OpenCV decodes BGR


def subtask_timelines(root: Path, info: dict, episodes: list[dict], subtasks: list[str]) -> dict:
    """{episode index: [(timestamp, subtask), ...]} from ``language_persistent`` ``subtask`` rows.

    Empty when the dataset has no language columns (then ``subtask_index`` + meta/subtasks.parquet, the
    older form, is what a reader uses). Subtasks found here are appended to ``subtasks`` in first-seen order.
    """
    if "language_persistent" not in info["features"] or not episodes:
        return {}
    out: dict[int, list] = {}
    files = {(e["data/chunk_index"], e["data/file_index"]) for e in episodes}
    for chunk, file in sorted(files):
        table = pq.read_table(root / info["data_path"].format(chunk_index=chunk, file_index=file),
                              columns=["episode_index", "language_persistent"])
        for ep, rows in zip(table.column("episode_index").to_pylist(), table.column("language_persistent").to_pylist()):
            if ep not in out:  # the same list is on every frame of an episode
                line = sorted((r["timestamp"], r["content"]) for r in rows or () if r["style"] == "subtask")
                out[ep] = line
                subtasks.extend(c for _, c in line if c not in subtasks)
    return out


class LeRobotDataset:
    """A LeRobot v3.0 dataset on disk, frame by frame.

    ``ds[i]`` is a dict of numpy values: vectors with their feature shape, scalars as numpy scalars, images as
    uint8 (H, W, 3) RGB -- decoded from the mp4 at the frame's timestamp (``dtype: "video"``) or from the frame's
    own PNG/JPEG cell in the data parquet (``dtype: "image"``, LeRobot's struct of ``bytes`` and ``path``); every
    camera, either way, is in ``camera_keys`` -- plus ``task`` and ``subtask`` strings
    (``""`` when none). With ``action_horizon=H``, ``action`` is the (H, action_dim) chunk starting at the
    frame and ``action_is_pad`` marks the steps past the episode end (filled with its last action).
    """

    def __init__(self, root, action_horizon: int | None = None, decode_images: bool = True):
        self.root = Path(root)
        self.info = json.loads((self.root / "meta/info.json").read_text())
        self.fps = float(self.info["fps"])
        self.features = {k: {**ft, "shape": tuple(ft["shape"])} for k, ft in self.info["features"].items()}
        self.video_keys = [k for k, ft in self.features.items() if ft["dtype"] == "video"]
        self.image_keys = [k for k, ft in self.features.items() if ft["dtype"] == "image"]  # images in the parquet
        self.camera_keys = self.video_keys + self.image_keys
        self.episodes = _read_episode_rows(self.root)
        self.tasks = _read_index_parquet(self.root / "meta/tasks.parquet", "task", "task_index")
        self.subtasks = _read_index_parquet(self.root / "meta/subtasks.parquet", "subtask", "subtask_index")
        self._timelines = subtask_timelines(self.root, self.info, self.episodes, self.subtasks)
        stats_path = self.root / "meta/stats.json"
        self.stats = {k: {s: np.asarray(v) for s, v in d.items()}
                      for k, d in json.loads(stats_path.read_text()).items()} if stats_path.exists() else {}
        self.action_horizon = action_horizon
        self.decode_images = decode_images
        keys = [k for k, ft in self.features.items() if _is_numeric(ft)]
        self.columns = _load_rows(self.root, self.info, self.episodes, keys) if self.episodes else {}
        self._row_episode = np.repeat(np.arange(len(self.episodes)), [e["length"] for e in self.episodes])
        self._starts = np.cumsum([0] + [e["length"] for e in self.episodes])
        self._videos: dict[Path, _VideoReader] = {}
        self._image_file: tuple[Path, pa.Table, np.ndarray] | None = None  # the data file image cells come from
        self._image_rows: dict[int, np.ndarray] = {}  # episode row -> its rows in that file

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    def episode_range(self, episode: int) -> range:
        """Frame positions (``ds[i]``) of an episode."""
        return range(int(self._starts[episode]), int(self._starts[episode + 1]))

    def episode_language(self, episode: int) -> dict[str, list[tuple[float, str]]]:
        """An episode's language annotations from LeRobot's language columns, timestamps in seconds from its start:
        ``subtasks`` (each subtask where it starts) and ``events`` (every verbal instruction on its frame, in
        order). Empty lists where the dataset has no language columns.
        """
        out = {"subtasks": list(self._timelines.get(int(self.episodes[episode]["episode_index"]), ())), "events": []}
        if "language_events" not in self.features:
            return out
        ep = self.episodes[episode]
        path = self.root / self.info["data_path"].format(chunk_index=ep["data/chunk_index"],
                                                         file_index=ep["data/file_index"])
        table = pq.read_table(path, columns=["episode_index", "timestamp", "language_events"])
        mine = np.asarray(table.column("episode_index")) == ep["episode_index"]
        stamps = np.asarray(table.column("timestamp"))[mine]
        rows = [r for r, m in zip(table.column("language_events").to_pylist(), mine) if m]
        out["events"] = [(float(t), e["content"]) for t, evs in zip(stamps, rows) for e in evs or ()]
        return out

    def action_chunk(self, i: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(actions (horizon, dim), is_pad (horizon,)): the actions from frame i on, padded with the episode's last."""
        end = self._starts[self._row_episode[i] + 1]
        idx = np.arange(i, i + horizon)
        return self.columns["action"][np.minimum(idx, end - 1)], idx >= end

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i = int(i) % len(self)
        item = {k: v[i] for k, v in self.columns.items()}
        item["task"] = self.tasks[int(item["task_index"])]
        sub = int(item.get("subtask_index", -1))
        item["subtask"] = self.subtasks[sub] if 0 <= sub < len(self.subtasks) else ""
        if self._timelines:  # LeRobot's language columns: the latest subtask row at or before the frame
            line = self._timelines.get(int(item["episode_index"]), ())
            item["subtask"] = next((c for t, c in reversed(line) if t <= float(item["timestamp"]) + 1e-6), "")
        if self.action_horizon:
            item["action"], item["action_is_pad"] = self.action_chunk(i, self.action_horizon)
        if self.decode_images:
            ep = self.episodes[self._row_episode[i]]
            for key in self.video_keys:
                path = self.root / self.info["video_path"].format(
                    video_key=key, chunk_index=ep[f"videos/{key}/chunk_index"],
                    file_index=ep[f"videos/{key}/file_index"])
                if path not in self._videos:
                    self._videos[path] = _VideoReader(path)
                t = ep[f"videos/{key}/from_timestamp"] + float(item["timestamp"])
                item[key] = self._videos[path].frame_at(t, tol=0.4 / self.fps)
            for key in self.image_keys:
                item[key] = self._image_at(i, key)
        return item

    def _image_at(self, i: int, key: str) -> np.ndarray:
        """Frame i's image of an image feature, decoded from its data file (one file's image columns held)."""
        e = int(self._row_episode[i])
        ep = self.episodes[e]
        path = self.root / self.info["data_path"].format(chunk_index=ep["data/chunk_index"],
                                                         file_index=ep["data/file_index"])
        if self._image_file is None or self._image_file[0] != path:
            table = pq.read_table(path, columns=self.image_keys + ["episode_index"])
            self._image_file = (path, table, _column(table, "episode_index", (1,)))
            self._image_rows = {}
        _, table, ep_col = self._image_file
        if e not in self._image_rows:
            self._image_rows[e] = np.flatnonzero(ep_col == ep["episode_index"])
        cell = table.column(key)[int(self._image_rows[e][i - self._starts[e]])].as_py()
        return decode_image_cell(cell, self.root, f"{key} of frame {i}")

    def close(self) -> None:
        for v in self._videos.values():
            v.close()
        self._videos.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
