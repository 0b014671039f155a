"""Observation assembly: joint mapping by name, input validation, staleness and synchronization.

ROS-free. The observation node feeds raw sensor values in and republishes what passes; the policy
node uses :meth:`ObservationCore.latest` to get one synchronized observation at inference time.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.profiles import Camera, RobotProfile

# Encodings we can turn into RGB without guessing. Anything else is rejected, not converted.
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}


class JointStateMapper:
    """Maps a JointState (names, positions in any order) onto the profile's canonical joint order."""

    def __init__(self, joints: tuple[str, ...], allowed_extra: tuple[str, ...] = ()):
        self.joints = joints
        self.allowed_extra = frozenset(allowed_extra)
        self._index = {name: i for i, name in enumerate(joints)}

    def map(self, names, positions) -> np.ndarray:
        names = list(names)
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 1 or len(positions) != len(names):
            raise RejectedInput("joint_state_size", f"{len(names)} names but {positions.size} positions")
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


def image_to_rgb(camera: Camera, width: int, height: int, encoding: str, step: int, data) -> np.ndarray:
    """Validate a sensor_msgs/Image's fields against the profile camera and return HxWx3 uint8 RGB."""
    if (width, height) != (camera.width, camera.height):
        raise RejectedInput(
            "image_size", f"{camera.name}: got {width}x{height}, profile expects {camera.width}x{camera.height}"
        )
    channels = _CHANNELS.get(encoding)
    if channels is None:
        raise RejectedInput("image_encoding", f"{camera.name}: unsupported encoding {encoding!r}")
    buf = np.frombuffer(data if isinstance(data, (bytes, bytearray, memoryview)) else np.asarray(data, np.uint8),
                        dtype=np.uint8)
    if step < width * channels or buf.size != step * height:
        raise RejectedInput("image_size", f"{camera.name}: data is {buf.size} bytes, expected {step}x{height}")
    img = buf.reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    if encoding.startswith("bgr"):
        img = img[..., 2::-1]
    return np.array(img[..., :3])  # owned and writable: the buffer belongs to the message


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
    - the chosen frames and the joint-state sample nearest them must lie within ``max_skew_s``.
    """

    def __init__(self, profile: RobotProfile, *, max_age_s: float = 0.5, max_skew_s: float = 0.06,
                 allowed_extra_joints: tuple[str, ...] = (), history: int = 64, image_history: int = 3):
        self.profile = profile
        self.max_age_s = max_age_s
        self.max_skew_s = max_skew_s
        self.mapper = JointStateMapper(profile.joints, allowed_extra_joints)
        self._cameras = {c.name: c for c in profile.cameras}
        self._states: deque[tuple[float, np.ndarray]] = deque(maxlen=history)
        self._images: dict[str, deque[tuple[float, np.ndarray]]] = {
            name: deque(maxlen=image_history) for name in self._cameras}
        self._lock = threading.Lock()

    def on_joint_state(self, stamp: float, names, positions) -> np.ndarray:
        state = self.mapper.map(names, positions)
        with self._lock:
            if self._states and stamp < self._states[-1][0]:
                raise RejectedInput("out_of_order", f"joint_states stamp {stamp:.3f} older than the last one")
            self._states.append((stamp, state))
        return state

    def on_image(self, camera: str, stamp: float, width: int, height: int, encoding: str, step: int, data) -> np.ndarray:
        cam = self._cameras.get(camera)
        if cam is None:
            raise RejectedInput("unknown_camera", f"no camera {camera!r} in profile {self.profile.name}")
        img = image_to_rgb(cam, width, height, encoding, step, data)
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
