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

"""Record rclpy messages to rosbag2 (MCAP) bags, read bags back, and turn a recorded episode into LeRobot data.

Bags are written with the ``rosbags`` library (rosbag2_py is not on PyPI): MCAP storage, the ROS 2 Jazzy
message definitions, metadata version 8 so Jazzy's ``ros2 bag`` reads them. Payloads are exact CDR from
:func:`pi_vla_ros.ros.serialization.serialize_message`, never rmw's padded buffers (rosbags rejects those),
so rosbags reads every message back and equal messages are equal bytes. Measured per
:meth:`BagRecorder.write`: about 80 us for a 160x120 rgb8 Image and 30 us for a 14-joint JointState, of
which serializing is 10 and 15 us (rmw's padded serialization: 5 us). Reading deserializes with rclpy.

:func:`bag_to_lerobot` conventions (one bag = one episode):

- Time is the bag's receive time of each message (controller commands carry no header stamps, so this is
  the one clock every topic has).
- Frames are on a grid at ``fps`` (default: the profile's policy rate) from the first moment every needed
  signal has a value until the last ``/joint_states`` message. Every signal is sample-and-hold: a frame
  sees the latest message at or before its time (what a policy would have seen), per joint by name, so
  drivers that publish arms in separate JointState messages are merged.
- Actions, in order of preference (``actions="auto"``): ``/pi_vla/commanded_action`` (a JointState named
  with the profile's ``action_names``, e.g. a teleop leader arm, independent of the policy's chunks);
  else the executor's controller topics from the profile (JointTrajectory: first point; position
  controllers: Float64MultiArray in the controller's joint order; Twist: base linear x / angular z).
  A frame's action is the last command issued before the next frame, i.e. what was executed during
  that frame. ``actions="next_state"`` uses the next frame's joint state (base zero) when no commands
  were recorded.
- Language: ``/pi_vla/language`` (the current subtask) becomes each frame's subtask; the task is the
  ``task`` argument, else the ``instruction`` in ``/sim/status``, else the first line given (typed or spoken)
  that is not a control word (a person's whole instruction, "a, then b"), else the first language message. Every line
  given on ``/pi_vla/instruction`` (typed, or recognized speech: a task, a subtask, "next", a success/fail
  mark) is a language event (LeRobot ``interjection``) on the frame at which it was given: the latest frame at
  or before its receive time (the first frame for lines before it). Spoken lines come from ``/pi_vla/speech``
  (the instruction node's record of every utterance, JSON: ``text``, ``reason``, and the recognizer's stream
  times ``end`` of the words and ``decided``, when it decided the utterance was over): each accepted one is an
  event given when its words ended, not when the recognizer was done with it: at its receive time minus
  (``decided`` - ``end``). The subtask label it caused (a language change within 50 ms after the record) starts
  there too, never before the previous label. Rejected utterances are no events.
- Success: ``success`` of the last ``/sim/status`` JSON message, if any. Per-subtask success, where the dataset
  declares ``next.subtask_success``: that status's ``subtask_done_at`` (simulated times at which each subtask
  was detected done), True on the latest frame before each; without it (a real robot), a person's ``success``
  mark on ``/pi_vla/instruction`` marks the subtask then current, True on the mark's frame. Interventions:
  ``/pi_vla/intervention`` (std_msgs/Bool), held per frame; False if absent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from pi_vla_ros.ros.serialization import deserialize_message, message_class, serialize_message, type_name, typestore

BAG_VERSION = 8   # rosbag2 metadata version of ROS 2 Jazzy
LATCHED_TOPICS = ("/pi_vla/language", "/sim/status")


class BagRecorder:
    """Writes messages of fixed topics to a rosbag2 MCAP bag at ``path`` (a directory, must not exist).

    >>> with BagRecorder("run1", {"/joint_states": JointState}) as bag:
    ...     bag.write("/joint_states", msg, stamp_ns)
    """

    def __init__(self, path, topics: dict[str, type], latched: tuple[str, ...] = LATCHED_TOPICS):
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._conns = {}
        for topic, cls in topics.items():
            qos = [_transient_local_qos()] if topic in latched else []  # so `ros2 bag play` re-latches them
            self._conns[topic] = self._writer.add_connection(topic, type_name(cls), typestore=typestore(),
                                                             offered_qos_profiles=qos)
        self.count = 0

    def write(self, topic: str, msg, stamp_ns: int | None = None) -> None:
        """Record ``msg`` at ``stamp_ns`` (default: its header stamp if set, else wall time). Pass the receive
        time on the node's clock (sim time in simulation): bag_to_lerobot aligns topics by it.
        """
        conn = self._conns.get(topic)
        if conn is None:
            raise KeyError(f"topic {topic!r} was not declared; recorder topics: {sorted(self._conns)}")
        if type_name(msg) != conn.msgtype:
            raise TypeError(f"{topic} records {conn.msgtype}, got {type_name(msg)}")
        if stamp_ns is None:
            stamp = getattr(getattr(msg, "header", None), "stamp", None)
            stamp_ns = (stamp.sec * 10**9 + stamp.nanosec if stamp is not None else 0) or time.time_ns()
        self._writer.write(conn, int(stamp_ns), serialize_message(msg))
        self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()  # writes metadata.yaml: without it the bag is not a rosbag2 bag
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _transient_local_qos():
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, zero, zero,
               QosLiveliness.AUTOMATIC, zero, False)


def bag_topics(path) -> dict[str, str]:
    """{topic: 'pkg/msg/Type'} of a bag."""
    from rosbags.rosbag2 import Reader

    with Reader(Path(path)) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def read_bag(path, topics=None):
    """Yield (topic, receive time ns, rclpy message) in time order.

    Without ``topics``, topics whose message package is not installed are skipped; a listed one raises.
    """
    from rosbags.rosbag2 import Reader

    def known(msgtype):
        try:
            return message_class(msgtype)
        except (ImportError, AttributeError):
            return None

    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if (c.topic in topics if topics is not None else known(c.msgtype))]
        for conn, stamp, data in reader.messages(connections=conns):
            yield conn.topic, stamp, deserialize_message(bytes(data), message_class(conn.msgtype))


# ------------------------------------------------------------------------------------------ conversion


class _Signals:
    """Per-name (time ns, value) series, sampled with hold-last. Integer time: a sample stamped exactly at a
    frame time (common on simulated time) must count as "at or before" it, without float round-off.
    """

    def __init__(self):
        self.series: dict[str, tuple[list[int], list]] = {}

    def add(self, name: str, t: int, value) -> None:
        self.series.setdefault(name, ([], []))
        self.series[name][0].append(t)
        self.series[name][1].append(value)

    def first(self, name: str) -> int:
        return self.series[name][0][0]

    def index(self, name: str, times: np.ndarray, side: str = "right") -> np.ndarray:
        """Index of the latest sample at (side='right') or strictly before (side='left') each time; -1 if none."""
        return np.searchsorted(self.series[name][0], times, side=side) - 1

    def sample(self, names, times: np.ndarray, side: str = "right") -> np.ndarray:
        return np.stack([np.asarray(self.series[n][1], np.float64)[np.maximum(self.index(n, times, side), 0)]
                         for n in names], axis=-1)


def _when_spoken(said, language, spoken, window_ns: int = 50_000_000):
    """Typed lines plus accepted spoken ones, the spoken ones at the end of their words, and language changes moved
    back with the spoken line that caused them. See the module docstring.
    """
    heard = []   # (receive time, end of the words on the bag's clock, text)
    for t, rec in spoken:
        if rec.get("text") and not rec.get("reason") and rec.get("end") is not None and rec.get("decided") is not None:
            heard.append((t, min(t, t - round((float(rec["decided"]) - float(rec["end"])) * 1e9)), rec["text"]))
    if not heard:
        return said, language
    out_lang, prev = [], None
    for t, text in language:
        t_new = next((end for tr, end, _ in heard if tr <= t <= tr + window_ns), t)
        t_new = t_new if prev is None else max(t_new, prev)
        out_lang.append((t_new, text))
        prev = t_new
    return sorted(said + [(end, text) for _, end, text in heard]), out_lang


def bag_to_lerobot(bag_path, profile, out_root, task: str | None = None, fps: float | None = None, *,
                   actions: str = "auto", joint_states_topic: str = "/joint_states",
                   action_topic: str = "/pi_vla/commanded_action", language_topic: str = "/pi_vla/language",
                   status_topic: str = "/sim/status", intervention_topic: str = "/pi_vla/intervention",
                   instruction_topic: str = "/pi_vla/instruction", speech_topic: str = "/pi_vla/speech",
                   timing: dict | None = None,
                   **writer_kwargs) -> int:
    """Append the episode recorded in ``bag_path`` to the LeRobot dataset at ``out_root``; returns its index.

    See the module docstring for the conventions. ``writer_kwargs`` go to :class:`LeRobotDatasetWriter`.
    ``timing`` (a dict, filled in): ``start_s``, the bag time of the episode's frame 0 (timestamp 0), and ``fps``.
    """
    from pi_vla_ros.core.observation import image_to_rgb
    from pi_vla_ros.data.lerobot_dataset import IMAGE_PREFIX, LeRobotDatasetWriter
    from pi_vla_ros.profiles import load_profile

    if isinstance(profile, str):
        profile = load_profile(profile)
    fps = float(fps or profile.policy_rate_hz)
    cam_by_topic = {c.topic: c for c in profile.cameras}
    ctrl_topics = {}
    for ctrl in profile.controllers:
        for topic in (ctrl.trajectory_topic, ctrl.position_topic, ctrl.twist_topic):
            if topic:
                ctrl_topics[topic] = ctrl
    wanted = {joint_states_topic, action_topic, language_topic, status_topic, intervention_topic,
              instruction_topic, speech_topic, *cam_by_topic, *ctrl_topics}

    state, commanded, controlled, flags = _Signals(), _Signals(), _Signals(), _Signals()
    images: dict[str, list] = {c.name: [] for c in profile.cameras}
    language: list[tuple[int, str]] = []
    said: list[tuple[int, str]] = []
    spoken: list[tuple[int, dict]] = []
    statuses: list[dict] = []
    for topic, t, msg in read_bag(bag_path, wanted):
        if topic == joint_states_topic:
            for name, pos in zip(msg.name, msg.position):
                state.add(name, t, pos)
        elif topic == action_topic:
            for name, pos in zip(msg.name, msg.position):
                commanded.add(name, t, pos)
        elif topic in cam_by_topic:
            images[cam_by_topic[topic].name].append((t, msg))
        elif topic in ctrl_topics:
            ctrl = ctrl_topics[topic]
            if topic == ctrl.twist_topic:
                controlled.add("base_linear_x", t, msg.linear.x)
                controlled.add("base_angular_z", t, msg.angular.z)
            elif topic == ctrl.trajectory_topic:
                if msg.points:  # the immediate target; the executor streams one-point trajectories
                    for name, pos in zip(msg.joint_names, msg.points[0].positions):
                        controlled.add(name, t, pos)
            else:
                for name, pos in zip(ctrl.joints, msg.data):
                    controlled.add(name, t, pos)
        elif topic == language_topic:
            language.append((t, msg.data))
        elif topic == instruction_topic:
            said.append((t, msg.data))
        elif topic == speech_topic:
            spoken.append((t, json.loads(msg.data)))
        elif topic == status_topic:
            statuses.append(json.loads(msg.data))
        elif topic == intervention_topic:
            flags.add("intervention", t, msg.data)

    if actions == "auto":
        actions = "commanded" if commanded.series else "controllers" if controlled.series else None
        if actions is None:
            raise ValueError(f"{bag_path}: no {action_topic} and no controller topics of profile {profile.name}; "
                             "pass actions='next_state' to use the next joint state as the action")
    action_signals = {"commanded": commanded, "controllers": controlled}.get(actions)
    if action_signals is None and actions != "next_state":
        raise ValueError(f"actions must be 'auto', 'commanded', 'controllers' or 'next_state', got {actions!r}")
    action_names = profile.action_names if action_signals is not None else ()

    missing = [j for j in profile.joints if j not in state.series]
    missing += [a for a in action_names if a not in action_signals.series]
    missing += [f"{c} images" for c, v in images.items() if not v]
    if missing:
        raise ValueError(f"{bag_path}: nothing recorded for {missing}")

    start = max([state.first(j) for j in profile.joints] + [action_signals.first(a) for a in action_names]
                + [v[0][0] for v in images.values()])
    end = max(state.series[j][0][-1] for j in profile.joints)
    if end < start:
        raise ValueError(f"{bag_path}: the signals never all have a value at the same time")
    period = 1e9 / fps
    times = start + np.round(np.arange(int(np.floor((end - start) / period + 1e-6)) + 1) * period).astype(np.int64)

    states = state.sample(profile.joints, times)
    if action_signals is not None:  # the last command issued before the next frame
        acts = action_signals.sample(action_names, times + round(period), side="left")
    else:
        acts = np.zeros((len(times), profile.action_dim))
        acts[:, : profile.state_dim] = np.vstack([states[1:], states[-1:]])
    intervention = np.zeros(len(times), bool)   # until the first message: nobody has intervened
    if flags.series:
        k = flags.index("intervention", times)
        intervention = (k >= 0) & (np.asarray(flags.series["intervention"][1], bool)[np.maximum(k, 0)])
    said, language = _when_spoken(said, language, spoken)
    lang_idx = np.searchsorted([t for t, _ in language], times, side="right") - 1
    subtasks = [(language[i][1] or None) if i >= 0 else None for i in lang_idx]
    control = {"next", "skip", "done", "stop", "clear", "status", "success", "fail", "failure", "failed"}
    task = task or next((s["instruction"] for s in statuses if s.get("instruction")), None) \
        or next((text for _, text in said if text.strip().lower().rstrip(".!") not in control), None) \
        or next((text for _, text in language if text), None)
    if not task:
        raise ValueError(f"{bag_path}: no task given and none recorded on {status_topic} or {language_topic}")
    success = statuses[-1].get("success") if statuses else None
    events: list[list[str]] = [[] for _ in times]
    for t, text in said:   # the latest frame at or before the line (lines before frame 0 go to it)
        events[max(0, int(np.searchsorted(times, t, side="right")) - 1)].append(text)
    done = np.zeros(len(times), bool)
    detected = statuses[-1].get("subtask_done_at") if statuses else None
    for t in detected or ():
        if t is not None:  # next.* semantics: the latest frame before the subtask was seen done
            done[max(0, int(np.searchsorted(times, round(t * 1e9), side="left")) - 1)] = True
    if detected is None:   # no success detector: the person's marks say it
        for t, text in said:
            if text.strip().lower().rstrip(".!") == "success":
                done[max(0, int(np.searchsorted(times, t, side="right")) - 1)] = True
    if timing is not None:
        timing.update(start_s=float(start) / 1e9, fps=fps)

    cam_index = {}
    for cam in profile.cameras:
        stamps = [t for t, _ in images[cam.name]]
        cam_index[cam.name] = np.searchsorted(stamps, times, side="right") - 1
    last: dict[str, tuple[int, np.ndarray]] = {}

    def image(cam, i):  # cameras run slower than the frame rate: convert each message once
        if last.get(cam.name, (None,))[0] != i:
            m = images[cam.name][i][1]
            last[cam.name] = (i, image_to_rgb(cam, m.width, m.height, m.encoding, m.step, m.data, m.is_bigendian))
        return last[cam.name][1]

    writer = LeRobotDatasetWriter(out_root, fps=fps, profile=profile, **writer_kwargs)
    per_subtask = "next.subtask_success" in writer.features
    try:
        for k in range(len(times)):
            frame = {"observation.state": states[k], "action": acts[k], "intervention": intervention[k]}
            if subtasks[k]:
                frame["subtask"] = subtasks[k]
            if events[k]:
                frame["instruction"] = events[k]
            if per_subtask:
                frame["next.subtask_success"] = done[k]
            for cam in profile.cameras:
                frame[IMAGE_PREFIX + cam.name] = image(cam, int(cam_index[cam.name][k]))
            writer.add_frame(frame)
        return writer.save_episode(task=task, success=success)
    finally:
        writer.finalize()
