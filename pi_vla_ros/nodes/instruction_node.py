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

"""Verbal-instruction node: typed (topic or terminal) and spoken subtasks -> language conditioning.

Lines arrive on ``/pi_vla/instruction`` (std_msgs/String), from an interactive terminal prompt
(``interactive:=true``), or from a speech backend (``speech_backend:=<name>``, registered with
:func:`pi_vla_ros.core.instructions.register_speech_backend`). All go through one
:class:`SubtaskQueue`; the current subtask is published on ``/pi_vla/language`` (transient local, so
a policy started later still gets it).

Speech (``speech_backend:=pocketsphinx``, :mod:`pi_vla_ros.speech.backend`): offline recognition constrained to
the ``profile``'s vocabulary. ``speech_input`` is ``mic`` (a live microphone, ``speech_device``; no device is one
clear error at start-up), a WAV file path (replayed in real time), or ``topic`` (std_msgs/Int16MultiArray,
16 kHz mono samples, on ``speech_audio_topic``). With ``push_to_talk:=true`` speech is heard only while
``push_to_talk_topic`` (std_msgs/Bool) is true, and releasing it ends the utterance. Every utterance, accepted or
rejected, is published on ``speech_topic`` (std_msgs/String, JSON: ``text``, ``heard``, ``confidence``,
``reason``, and stream times ``start``, ``end``, ``decided`` in seconds); only accepted ones reach the queue, as a
line from source ``speech``. Rejected ones (``speech_no_match``, ``speech_low_confidence``, ``speech_too_short``)
are logged and counted with the other rejections. ``speech_backend:=whisper speech_model:=<dir>`` runs a local
Whisper checkpoint the user has (:mod:`pi_vla_ros.speech.whisper`) behind the same interface and vocabulary.
"""

from __future__ import annotations

import json
import sys
import threading

import numpy as np

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.instructions import SPEECH_BACKENDS, SubtaskQueue
from pi_vla_ros.nodes.common import GraphNode, LATCHED_QOS, OK, Param, Rejections, WARN, declare, diagnostics, run_node
from pi_vla_ros.ros import Node, msgs


class InstructionNode(GraphNode, Node):
    # Every parameter the node declares, with its default (launch files may set only these).
    PARAMETERS = dict(
        instruction_topic=Param("/pi_vla/instruction", "typed lines in (std_msgs/String)"),
        language_topic=Param("/pi_vla/language", "current subtask out (std_msgs/String, transient local)"),
        initial_instruction=Param("", "a task to start with, as if typed ('a; b' for subtasks)"),
        interactive=Param(False, "read lines from this terminal's standard input"),
        speech_backend=Param("", "registered speech backend name ('' = none; pocketsphinx: offline, ships with the "
                             "package)"),
        profile=Param("bimanual", "robot profile (its tasks are the speech vocabulary): a name in config/ or a YAML "
                      "path"),
        speech_input=Param("mic", "speech audio: mic, a WAV file path, or topic (speech_audio_topic)"),
        speech_device=Param("", "microphone: a sounddevice device index or name ('' = the system default)"),
        speech_model=Param("", "speech_backend:=whisper: the path of your local Whisper checkpoint"),
        speech_audio_topic=Param("/pi_vla/audio", "speech_input:=topic: audio in (std_msgs/Int16MultiArray, 16 kHz "
                                 "mono)"),
        speech_min_confidence=Param(0.5, "utterances below this confidence are rejected (speech_low_confidence)",
                                    (0.0, 1.0)),
        push_to_talk=Param(False, "hear speech only while push_to_talk_topic is true"),
        push_to_talk_topic=Param("/pi_vla/push_to_talk", "the talk button (std_msgs/Bool)"),
        speech_topic=Param("/pi_vla/speech", "every utterance with its confidence, accepted or not (std_msgs/String, "
                           "JSON)"),
        episode_end_topic=Param("/pi_vla/episode_end", "std_msgs/String (success, failure, stop): the episode ended "
                                "(a person's mark, or a success detector such as the simulator's)"),
        on_episode_end=Param("hold", "hold: the subtask queue is emptied and the language cleared, so the policy stops "
                             "and the executor holds until the next instruction; continue: keep going (continuous "
                             "tasks)", choices=("hold", "continue")),
        max_instruction_chars=Param(500, "longer lines are rejected (instruction_too_long)", (1, 100000)),
        diagnostics_period_s=Param(1.0, "period of /diagnostics", (0.01, 60.0)),
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_instruction", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.queue = SubtaskQueue(max_chars=self.p.max_instruction_chars)
        self.rejections = Rejections(self)       # one log line per reason (then at most every 5 s), counted
        self.history: list[str] = []            # every conditioning published, in order
        self.language_pub = self.create_publisher(msgs.String, self.p.language_topic, LATCHED_QOS)
        self.create_subscription(msgs.String, self.p.instruction_topic, lambda m: self.submit_line(m.data, "topic"),
                                 10)
        self.create_subscription(msgs.String, self.p.episode_end_topic, self._on_episode_end, 10)
        self.episode_ends: list[str] = []
        self.diag_pub = self.create_publisher(msgs.DiagnosticArray, "/diagnostics", 10)
        self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics)
        # Lines from the terminal and speech threads are handled right there, one line at a time with the topic's.
        self._lock = threading.Lock()
        if self.p.initial_instruction:
            self.submit_line(self.p.initial_instruction, "parameter")
        if self.p.interactive:
            threading.Thread(target=self._read_terminal, daemon=True).start()
        self.speech = None
        if self.p.speech_backend:
            self._start_speech()

    def _start_speech(self) -> None:
        name = self.p.speech_backend
        if name not in SPEECH_BACKENDS:
            try:
                import pi_vla_ros.speech.backend  # noqa: F401  (registers "pocketsphinx")
                import pi_vla_ros.speech.whisper  # noqa: F401  (registers "whisper")
            except ImportError as exc:
                raise ValueError(f"speech backend {name!r}: {exc} (pip install 'pi_vla_ros[speech]')") from None
        if name not in SPEECH_BACKENDS:
            raise ValueError(f"unknown speech backend {name!r}; known: {sorted(SPEECH_BACKENDS)}")
        from pi_vla_ros.profiles import load_profile

        device = self.p.speech_device
        source = "feed" if self.p.speech_input == "topic" else self.p.speech_input
        model = dict(model=self.p.speech_model) if self.p.speech_model else {}
        self.speech = SPEECH_BACKENDS[name](
            profile=load_profile(self.p.profile), source=source,
            device=int(device) if device.isdigit() else (device or None),
            min_confidence=self.p.speech_min_confidence, push_to_talk=self.p.push_to_talk, **model)
        self.speech_pub = self.create_publisher(msgs.String, self.p.speech_topic, 10)
        if self.p.push_to_talk:
            self.create_subscription(msgs.Bool, self.p.push_to_talk_topic,
                                     lambda m: self._heard(self.speech.set_talking(bool(m.data))), 10)
        if source == "feed":
            self.create_subscription(msgs.Int16MultiArray, self.p.speech_audio_topic,
                                     lambda m: self._heard(self.speech.feed(np.asarray(m.data, np.int16))), 10)
        else:
            threading.Thread(target=lambda: self._heard(self.speech.utterances()), daemon=True).start()

    def _heard(self, utterances) -> None:
        """Utterances from the speech backend (strings, or objects with ``text``, ``confidence``, ``reason``)."""
        for u in utterances:
            if isinstance(u, str):
                if u.strip():
                    self.submit_line(u.strip(), "speech")
                continue
            self.speech_pub.publish(msgs.String(data=json.dumps(
                {"text": u.text, "heard": u.heard, "confidence": round(u.confidence, 4), "reason": u.reason,
                 "start": round(u.start_s, 3), "end": round(u.end_s, 3), "decided": round(u.decided_s, 3)})))
            if u.reason:
                self.rejections(RejectedInput(u.reason, f"heard {u.heard!r}, confidence {u.confidence:.2f}"),
                                "speech")
            else:
                self.submit_line(u.text, "speech")

    def submit_line(self, text: str, source: str) -> None:
        """One typed or spoken line (``source``: topic, terminal, speech, parameter) through the subtask queue.
        (Not ``handle``: rclpy's Node.handle is the node's rcl handle.) Thread-safe.
        """
        with self._lock:
            self._submit_line(text, source)

    def _submit_line(self, text: str, source: str) -> None:
        before = self.queue.current
        try:
            outcome = self.queue.handle(text)
        except RejectedInput as e:
            self.rejections(e, f"instruction from {source}")
            return
        self.get_logger().info(f"[{source}] {text!r}: {outcome}")
        if self.queue.current != before or source == "parameter" or not self.history:
            self.language_pub.publish(msgs.String(data=self.queue.current))
            self.history.append(self.queue.current)

    def _on_episode_end(self, msg) -> None:
        with self._lock:
            self.episode_ends.append(msg.data)
            if self.p.on_episode_end == "continue" or not self.queue.current:
                self.get_logger().info(f"episode end ({msg.data!r}): {self.p.on_episode_end}")
                return
            self.get_logger().info(f"episode end ({msg.data!r}): holding until the next instruction")
            self.queue.reset()
            self.language_pub.publish(msgs.String(data=""))
            self.history.append("")

    def reset_episode(self) -> None:
        """A new episode: the subtask queue is emptied and the language conditioning cleared ("")."""
        self.queue.reset()
        self.language_pub.publish(msgs.String(data=""))
        self.history.append("")

    def _publish_diagnostics(self) -> None:
        counts = self.rejections.counter.as_dict()
        values = {"current": self.queue.current, "remaining": self.queue.remaining, "rejected": counts}
        status = diagnostics(self.get_name(), WARN if counts else OK,
                             f"{sum(counts.values())} lines rejected" if counts else "ok", values)
        self.diag_pub.publish(msgs.DiagnosticArray(header=msgs.Header(stamp=self.get_clock().now().to_msg()),
                                                   status=[status]))

    def _read_terminal(self) -> None:
        print("pi_vla instruction> type a task ('a; b' for subtasks), 'next', 'clear' or 'status'", flush=True)
        self._pump(iter(sys.stdin.readline, ""), "terminal")

    def _pump(self, lines, source: str) -> None:
        for line in lines:
            if line.strip():
                self.submit_line(line.strip(), source)


def main(args=None):
    return run_node(InstructionNode, args)
