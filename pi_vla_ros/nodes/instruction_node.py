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
"""

from __future__ import annotations

import sys
import threading

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
        speech_backend=Param("", "registered speech backend name ('' = none)"),
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
        if self.p.speech_backend:
            if self.p.speech_backend not in SPEECH_BACKENDS:
                raise ValueError(f"unknown speech backend {self.p.speech_backend!r}; known: {sorted(SPEECH_BACKENDS)}")
            backend = SPEECH_BACKENDS[self.p.speech_backend]()
            threading.Thread(target=self._pump, args=(backend.utterances(), "speech"), daemon=True).start()

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
