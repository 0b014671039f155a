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

"""Observation assembly: joint mapping by name, input validation, staleness and synchronization.

ROS-free. The observation node feeds raw sensor values in and republishes what passes; the policy
node uses :meth:`ObservationCore.latest` to get one synchronized observation at inference time.

Every rejection is a :class:`RejectedInput` with a stable reason code; a rejected message changes nothing:

- joint states: ``joint_state_size`` (positions, or non-empty velocity/effort, not one per name),
  ``duplicate_joint``, ``unknown_joint`` (not in the profile nor allowed extra), ``missing_joint``,
  ``non_finite_joint_state`` (positions only: velocity and effort are not used);
- time: ``future_stamp`` (stamped more than ``max_future_s`` after ``now``, the receiver's clock: a stamp
  from the future would otherwise hold the robot until the clock catches up with it), ``out_of_order``
  (a joint state older than the last accepted one);
- images: ``unknown_camera``, ``image_size`` (not the profile's width x height, or data not step x height
  bytes), ``image_encoding`` (see :data:`ENCODINGS`; compressed: JPEG or PNG only), ``image_decode``
  (compressed bytes OpenCV cannot decode).

Images become HxWx3 uint8 RGB: ``bgr*`` swapped, alpha dropped, ``mono8`` replicated, ``mono16`` reduced
to its high byte, YUV 4:2:2 converted by OpenCV; row padding (``step`` > width x bytes per pixel) is
skipped. A compressed image's size is read from its PNG/JPEG header before decoding, so a frame of the
wrong size costs no decode and cannot make the decoder allocate more than it announced.
"""

from __future__ import annotations

import array
import bisect
import struct
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.profiles import Camera, RobotProfile


def _cv2():
    import cv2  # imported on first use: only YUV and compressed images need it

    return cv2


def _mono16(a, big_endian):
    return np.repeat((a.view(">u2" if big_endian else "<u2") >> 8).astype(np.uint8), 3, axis=2)


# sensor_msgs/image_encodings we turn into RGB without guessing: bytes per pixel, HxWxB uint8 -> RGB.
# Anything else (8UC3, bayer_*, depth 16UC1/32FC1, ...) is rejected, not converted.
ENCODINGS = {
    "rgb8": (3, lambda a, be: a),
    "rgba8": (4, lambda a, be: a[..., :3]),
    "bgr8": (3, lambda a, be: a[..., ::-1]),
    "bgra8": (4, lambda a, be: a[..., 2::-1]),
    "mono8": (1, lambda a, be: np.repeat(a, 3, axis=2)),
    "mono16": (2, _mono16),
    "yuv422": (2, lambda a, be: _cv2().cvtColor(np.ascontiguousarray(a), _cv2().COLOR_YUV2RGB_UYVY)),
    "yuv422_yuy2": (2, lambda a, be: _cv2().cvtColor(np.ascontiguousarray(a), _cv2().COLOR_YUV2RGB_YUY2)),
}
_COMPRESSIONS = ("jpeg", "jpg", "png")


class JointStateMapper:
    """Maps a JointState (names, positions in any order) onto the profile's canonical joint order."""

    def __init__(self, joints: tuple[str, ...], allowed_extra: tuple[str, ...] = ()):
        self.joints = joints
        self.allowed_extra = frozenset(allowed_extra)
        self._index = {name: i for i, name in enumerate(joints)}

    def to_profile_order(self, names, positions, velocity=(), effort=()) -> np.ndarray:
        names = list(names)
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 1 or len(positions) != len(names):
            raise RejectedInput("joint_state_size", f"{len(names)} names but {positions.size} positions")
        for field, values in (("velocity", velocity), ("effort", effort)):
            if len(values) not in (0, len(names)):  # empty means "not reported" (sensor_msgs/JointState)
                raise RejectedInput("joint_state_size", f"{len(names)} names but {len(values)} {field} values")
        if len(set(names)) != len(names):  # which value would win is arbitrary: refuse
            twice = sorted({n for n in names if names.count(n) > 1})
            raise RejectedInput("duplicate_joint", f"joint_states names {twice} more than once")
        unknown = [n for n in names if n not in self._index and n not in self.allowed_extra]
        if unknown:
            raise RejectedInput("unknown_joint", f"joint_states has unknown joints {unknown}")
        out = np.full(len(self.joints), np.nan)
        for name, value in zip(names, positions):
            i = self._index.get(name)
            if i is not None:
                out[i] = value
        missing = [j for j, v in zip(self.joints, out) if np.isnan(v) and j not in names]
        if missing:
            raise RejectedInput("missing_joint", f"joint_states lacks joints {missing}")
        if not np.all(np.isfinite(out)):
            bad = [j for j, v in zip(self.joints, out) if not np.isfinite(v)]
            raise RejectedInput("non_finite_joint_state", f"joint_states has NaN/inf for {bad}")
        return out


def image_to_rgb(camera: Camera, width: int, height: int, encoding: str, step: int, data,
                 is_bigendian: int = 0) -> np.ndarray:
    """Validate a sensor_msgs/Image's fields against the profile camera and return HxWx3 uint8 RGB."""
    _check_size(camera, width, height)
    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise RejectedInput("image_encoding", f"{camera.name}: unsupported encoding {encoding!r}")
    bpp, convert = spec
    buf = _u8(data)
    if step < width * bpp or buf.size != step * height:
        raise RejectedInput("image_size", f"{camera.name}: data is {buf.size} bytes, expected {step}x{height}")
    img = convert(buf.reshape(height, step)[:, : width * bpp].reshape(height, width, bpp), is_bigendian)
    return np.array(img)  # owned and writable: the buffer belongs to the message


def compressed_to_rgb(camera: Camera, fmt: str, data) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG) for the profile camera into HxWx3 uint8 RGB.

    ``fmt``, the message's ``format``, as image_transport's compressed plugin writes it
    ("rgb8; jpeg compressed bgr8") or plain ("jpeg", "png", ""); the bytes themselves decide how they are decoded.
    """
    words = fmt.split(";")[-1].split()  # "<raw encoding>; <compression> compressed <encoding>"
    kind = words[0].lower() if words else ""
    if kind and kind not in _COMPRESSIONS:  # e.g. compressedDepth: a depth image with its own header
        raise RejectedInput("image_encoding", f"{camera.name}: unsupported compressed format {fmt!r}")
    buf = _u8(data)
    size = _header_size(memoryview(buf))
    if size is None:
        raise RejectedInput("image_decode", f"{camera.name}: {buf.size} bytes are not a JPEG or PNG image")
    _check_size(camera, *size)
    cv2 = _cv2()
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)  # BGR, 8 bit (16-bit PNG scaled), alpha dropped
    if img is None or img.shape[:2] != (camera.height, camera.width):
        raise RejectedInput("image_decode", f"{camera.name}: corrupt {kind or 'compressed'} image ({buf.size} bytes)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _u8(data) -> np.ndarray:
    """The bytes of a message's data field (rclpy: array.array; bytes, lists) as a flat uint8 array, no copy."""
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, np.uint8)
    return np.asarray(data, np.uint8).reshape(-1)


def _check_size(camera: Camera, width: int, height: int) -> None:
    if (width, height) != (camera.width, camera.height):
        raise RejectedInput(
            "image_size", f"{camera.name}: got {width}x{height}, profile expects {camera.width}x{camera.height}"
        )


def _header_size(head: memoryview) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR or a JPEG start-of-frame header; None if neither is found."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(head) and head[i] == 0xFF:
        marker = head[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn: length, precision, height, width
            height, width = struct.unpack(">HH", head[i + 5:i + 9])
            return width, height
        if marker == 0xFF:  # fill byte
            i += 1
        else:  # RSTn and SOI stand alone; other segments carry their length
            i += 2 if 0xD0 <= marker <= 0xD8 else 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    return None


@dataclass(frozen=True)
class SyncedObservation:
    images: dict[str, np.ndarray]
    state: np.ndarray
    stamp: float            # stamp of the chosen joint-state sample
    image_stamps: dict[str, float]


class ObservationCore:
    """Keeps the latest valid sensor data and hands out synchronized, fresh observations.

    - joint states and the last few frames of each camera are kept, so that a consistent set can be
      chosen even while a new set of frames is still arriving camera by camera: the reference time is
      the oldest of the cameras' newest stamps, and each camera contributes its frame nearest to it;
    - a camera whose newest frame is older than ``max_age_s`` is stale;
    - the chosen frames and the joint-state sample nearest them must lie within ``max_skew_s``;
    - every ``on_*`` call takes ``now``, the receiver's clock (the node's clock, simulated or not, in
      seconds): a message stamped more than ``max_future_s`` after it is rejected before it is stored.
    """

    def __init__(self, profile: RobotProfile, *, max_age_s: float = 0.5, max_skew_s: float = 0.06,
                 max_future_s: float = 0.5, allowed_extra_joints: tuple[str, ...] = (), history: int = 64,
                 image_history: int = 3):
        self.profile = profile
        self.max_age_s = max_age_s
        self.max_skew_s = max_skew_s
        self.max_future_s = max_future_s
        self.mapper = JointStateMapper(profile.joints, allowed_extra_joints)
        self._cameras = {c.name: c for c in profile.cameras}
        self._states: deque[tuple[float, np.ndarray]] = deque(maxlen=history)
        self._images: dict[str, deque[tuple[float, np.ndarray]]] = {
            name: deque(maxlen=image_history) for name in self._cameras}
        self._lock = threading.Lock()

    def _check_stamp(self, source: str, stamp: float, now: float) -> None:
        if stamp - now > self.max_future_s:  # checked before storing: a bad stamp must not poison ordering
            raise RejectedInput("future_stamp", f"{source} stamp {stamp:.3f} is {stamp - now:.3f} s ahead of the "
                                                f"clock ({now:.3f}; max {self.max_future_s})")

    def on_joint_state(self, stamp: float, names, positions, velocity=(), effort=(), *, now: float) -> np.ndarray:
        self._check_stamp("joint_states", stamp, now)
        state = self.mapper.to_profile_order(names, positions, velocity, effort)
        with self._lock:
            if self._states and stamp < self._states[-1][0]:
                raise RejectedInput("out_of_order", f"joint_states stamp {stamp:.3f} older than the last one")
            self._states.append((stamp, state))
        return state

    def on_image(self, camera: str, stamp: float, width: int, height: int, encoding: str, step: int, data,
                 is_bigendian: int = 0, *, now: float) -> np.ndarray:
        cam = self._camera(camera)
        self._check_stamp(camera, stamp, now)
        return self._store(camera, stamp, image_to_rgb(cam, width, height, encoding, step, data, is_bigendian))

    def on_compressed_image(self, camera: str, stamp: float, fmt: str, data, *, now: float) -> np.ndarray:
        cam = self._camera(camera)
        self._check_stamp(camera, stamp, now)
        return self._store(camera, stamp, compressed_to_rgb(cam, fmt, data))

    def _camera(self, camera: str) -> Camera:
        cam = self._cameras.get(camera)
        if cam is None:
            raise RejectedInput("unknown_camera", f"no camera {camera!r} in profile {self.profile.name}")
        return cam

    def _store(self, camera: str, stamp: float, img: np.ndarray) -> np.ndarray:
        with self._lock:
            self._images[camera].append((stamp, img))
        return img

    def latest_state(self) -> tuple[float, np.ndarray] | None:
        with self._lock:
            return self._states[-1] if self._states else None

    def image_stamps(self) -> dict[str, float]:
        """Newest frame stamp per camera that has any."""
        with self._lock:
            return {name: frames[-1][0] for name, frames in self._images.items() if frames}

    def latest(self, now: float) -> SyncedObservation:
        """The newest synchronized observation, or RejectedInput saying why there is none."""
        with self._lock:
            states = list(self._states)
            frames = {name: list(q) for name, q in self._images.items()}
        missing = [c for c, f in frames.items() if not f]
        if missing or not states:
            raise RejectedInput("no_data", f"waiting for {missing or ['joint_states']}")
        for name, f in frames.items():
            if now - f[-1][0] > self.max_age_s:
                raise RejectedInput("stale_camera", f"{name} is {now - f[-1][0]:.3f} s old (max {self.max_age_s})")
        if now - states[-1][0] > self.max_age_s:
            raise RejectedInput("stale_joint_state", f"joint_states is {now - states[-1][0]:.3f} s old")
        reference = min(f[-1][0] for f in frames.values())
        chosen = {name: min(f, key=lambda item: abs(item[0] - reference)) for name, f in frames.items()}
        image_stamps = {name: stamp for name, (stamp, _) in chosen.items()}
        newest = max(image_stamps.values())
        if newest - min(image_stamps.values()) > self.max_skew_s:
            raise RejectedInput("camera_skew", f"camera stamps differ by {newest - min(image_stamps.values()):.3f} s")
        # joint-state sample nearest the newest chosen image
        stamps = [s for s, _ in states]
        i = bisect.bisect_left(stamps, newest)
        best = min((j for j in (i - 1, i) if 0 <= j < len(states)), key=lambda j: abs(stamps[j] - newest))
        if abs(stamps[best] - newest) > self.max_skew_s:
            raise RejectedInput("state_skew", f"no joint state within {self.max_skew_s} s of the images")
        return SyncedObservation(
            images={name: img for name, (_, img) in chosen.items()},
            state=states[best][1].astype(np.float32),
            stamp=stamps[best],
            image_stamps=image_stamps,
        )
