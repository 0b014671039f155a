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

"""Scripted-instructor node (simulation only): the person who gives verbal instructions during VI collection.

What to say and when is :class:`pi_vla_ros.sim.instructor.ScriptedInstructor`'s business (it watches the task's
per-subtask progress, as a person watches the scene, and hears the expert's plans on ``plan_topic``); this node
delivers each line at its simulated time:

- ``voice:=typed``: the line is typed on ``/pi_vla/instruction``, the topic the instruction node reads.
- ``voice:=spoken``: the line is said: espeak-ng speaks it into the room (:class:`pi_vla_ros.sim.instructor.
  RoomAudio`: a voice and speed per episode, a noise floor), and every tick the room's new audio goes out on
  ``audio_topic`` (std_msgs/Int16MultiArray, 16 kHz mono), as a microphone driver would publish it. The instruction
  node hears it (``speech_backend:=pocketsphinx speech_input:=topic``, the profile's vocabulary): what its
  recognizer accepts enters the subtask queue, and every utterance, accepted or not, is on ``speech_topic``. This
  node reads those records as a person sees whether they were understood: the record whose words overlap a line
  answers it (the recognizer's stream times are put on the simulated clock by its ``decided`` time, which is the
  moment the record arrives in lockstep). A line rejected, or not answered within ``hear_timeout_s`` after its
  words, is said again (the instructor's ``repeats``).

Built with the :class:`Simulator` object (``InstructorNode(sim=...)``), like the expert node: ``pi-vla collect --vi``
does that. Per episode (:meth:`reset_episode`) the script is drawn from the episode's seed. ``lines`` keeps
every line delivered this episode: ``t`` (started), ``end`` (done being said: the last sample of its words; typed
lines: ``t``), ``heard`` (the line the instruction node got: typed, the text; spoken, the recognizer's line, or
None when it was rejected or never recognized), ``heard_at``, ``confidence``, ``reason``.
``spoken_end`` is where the recognizer put the end of the words, on the simulated clock.
"""

from __future__ import annotations

import json

import numpy as np

from pi_vla_ros.nodes.common import GraphNode, Param, declare
from pi_vla_ros.ros import Node, msgs
from pi_vla_ros.sim.expert import Announcement
from pi_vla_ros.sim.instructor import STYLES, ScriptedInstructor


class InstructorNode(GraphNode, Node):
    PARAMETERS = dict(
        voice=Param("typed", "how lines reach the robot: typed on instruction_topic, or spoken into the speech "
                    "recognizer", choices=("typed", "spoken")),
        style=Param("", "'' (drawn per episode), steps (one subtask at a time) or queue (the whole task, then "
                    "'next')", choices=("", *STYLES)),
        rate_hz=Param(50.0, "how often it looks at the scene", (1.0, 1000.0)),
        instruction_topic=Param("/pi_vla/instruction", "where typed lines go (std_msgs/String)"),
        plan_topic=Param("/pi_vla/expert/plan", "the expert's subtask plans (std_msgs/String, JSON)"),
        audio_topic=Param("/pi_vla/audio", "spoken: the room's audio out (std_msgs/Int16MultiArray, 16 kHz mono)"),
        speech_topic=Param("/pi_vla/speech", "spoken: the instruction node's record of each utterance "
                           "(std_msgs/String, JSON)"),
        hear_timeout_s=Param(1.5, "spoken: a line not recognized this long after its words is said again",
                             (0.1, 30.0)),
    )

    def __init__(self, sim, **kwargs):
        super().__init__("pi_vla_instructor", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.sim = sim
        self.instructor = ScriptedInstructor(sim.task, style=self.p.style or None)
        self.lines: list[dict] = []
        self.instruction_pub = self.create_publisher(msgs.String, self.p.instruction_topic, 10)
        self.room = None
        if self.p.voice == "spoken":
            from pi_vla_ros.sim.instructor import RoomAudio

            self.room = RoomAudio()
            self.audio_pub = self.create_publisher(msgs.Int16MultiArray, self.p.audio_topic, 50)
            self.create_subscription(msgs.String, self.p.speech_topic, self._on_speech, 50)
        self.rejected: dict[str, int] = {}
        self.create_subscription(msgs.String, self.p.plan_topic, self._on_plan, 10)
        self.create_timer(1.0 / self.p.rate_hz, self._tick)

    @property
    def finished(self) -> bool:
        """The last line of the episode (success or fail) has been said."""
        return self.instructor.finished

    @property
    def pending(self) -> bool:
        """A spoken line has not been recognized or rejected yet, or is to be said again."""
        return self.instructor.repeating or any(line["pending"] for line in self.lines)

    def reset_episode(self) -> None:
        """Call after the simulator's reset: a new script, from the episode's seed."""
        self.instructor.reset(self.sim.time, np.random.default_rng([int(self.sim.seed), 11]))
        if self.room is not None:
            self.room.reset(self.sim.time, np.random.default_rng([int(self.sim.seed), 12]))
        self.lines = []

    def _on_plan(self, msg) -> None:
        self.instructor.hear(Announcement(**json.loads(msg.data)))

    def _tick(self) -> None:
        now = self.sim.time
        for line in self.instructor.poll(now):
            entry = {"t": line.t, "end": line.t, "text": line.text, "kind": line.kind, "subtask": line.subtask,
                     "heard": None, "heard_at": None, "confidence": None, "reason": None, "spoken_end": None,
                     "pending": False, "line": line}
            self.lines.append(entry)
            if self.room is None:
                self.instruction_pub.publish(msgs.String(data=line.text))
                entry.update(heard=line.text, heard_at=now, confidence=1.0, reason="")
            else:
                _, entry["end"] = self.room.say(line.t, line.text)
                entry["pending"] = True
        if self.room is not None:
            self.audio_pub.publish(msgs.Int16MultiArray(data=self.room.read(now).tolist()))
            for entry in self.lines:
                if entry["pending"] and now > entry["end"] + self.p.hear_timeout_s:
                    entry.update(pending=False, reason="not_heard")
                    self.instructor.not_heard(entry["line"], now)

    def _on_speech(self, msg) -> None:
        """The instruction node's record of an utterance: which line it answers, and whether it was understood."""
        rec = json.loads(msg.data)
        now = self.sim.time
        offset = now - float(rec["decided"])        # stream time -> simulated time (decided: now, in lockstep)
        start, end = float(rec["start"]) + offset, float(rec["end"]) + offset
        if rec.get("reason"):
            self.rejected[rec["reason"]] = self.rejected.get(rec["reason"], 0) + 1
        # the line being said when these words were: the earliest still waiting whose words overlap them
        line = next((x for x in self.lines if x["pending"] and x["t"] <= end and x["end"] >= start), None)
        if line is None:
            return
        line.update(pending=False, heard=rec.get("text") or None, heard_at=now, confidence=rec.get("confidence"),
                    reason=rec.get("reason", ""), spoken_end=round(end, 4))
        if rec.get("reason"):
            self.instructor.not_heard(line["line"], now)
