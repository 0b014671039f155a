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
delivers each line at its simulated time. ``voice:=typed``: the line is typed on ``/pi_vla/instruction``, the
topic the instruction node reads.

Built with the :class:`Simulator` object (``InstructorNode(sim=...)``), like the expert node: ``pi-vla collect --vi``
does that. Per episode (:meth:`reset_episode`) the script is drawn from the episode's seed. ``lines`` keeps
every line delivered this episode with when it was started and when it was done being said (typed lines: the
same instant).
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
        voice=Param("typed", "how lines reach the robot: typed on instruction_topic", choices=("typed",)),
        style=Param("", "'' (drawn per episode), steps (one subtask at a time) or queue (the whole task, then "
                    "'next')", choices=("", *STYLES)),
        rate_hz=Param(50.0, "how often it looks at the scene", (1.0, 1000.0)),
        instruction_topic=Param("/pi_vla/instruction", "where typed lines go (std_msgs/String)"),
        plan_topic=Param("/pi_vla/expert/plan", "the expert's subtask plans (std_msgs/String, JSON)"),
    )

    def __init__(self, sim, **kwargs):
        super().__init__("pi_vla_instructor", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.sim = sim
        self.instructor = ScriptedInstructor(sim.task, style=self.p.style or None)
        self.lines: list[dict] = []
        self.instruction_pub = self.create_publisher(msgs.String, self.p.instruction_topic, 10)
        self.create_subscription(msgs.String, self.p.plan_topic, self._on_plan, 10)
        self.create_timer(1.0 / self.p.rate_hz, self._tick)

    @property
    def finished(self) -> bool:
        """The last line of the episode (success or fail) has been said."""
        return self.instructor.finished

    def reset_episode(self) -> None:
        """Call after the simulator's reset: a new script, from the episode's seed."""
        self.instructor.reset(self.sim.time, np.random.default_rng([int(self.sim.seed), 11]))
        self.lines = []

    def _on_plan(self, msg) -> None:
        self.instructor.hear(Announcement(**json.loads(msg.data)))

    def _tick(self) -> None:
        for line in self.instructor.poll(self.sim.time):
            self.instruction_pub.publish(msgs.String(data=line.text))
            self.lines.append({"t": line.t, "end": line.t, "text": line.text, "kind": line.kind,
                               "subtask": line.subtask})
