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

"""Scripted-expert teleoperator node (simulation only): demonstrations recorded through the real interfaces.

At the profile's policy rate it asks the scripted expert (:class:`pi_vla_ros.sim.expert.ScriptedExpert`) for the
next action and sends it where a teleoperator's leader arms would: each joint group's forward position
controller (``position_topic``; a one-point JointTrajectory on ``trajectory_topic`` where a group has none) and
the base's Twist. What it commands also goes out, in the action layout, as a sensor_msgs/JointState on
``/pi_vla/commanded_action`` (names = the profile's action names), which the bag converter prefers as the action.

Like a person doing verbal-instruction data collection, it types the subtask it is working on ("grasp the red
cube", ...) on ``/pi_vla/instruction`` when ``announce_subtasks`` is set; the recorded ``/pi_vla/language``
then carries per-frame subtask annotations while the episode's task stays the simulator's instruction.

With ``follow_language`` it acts on the verbal instructions as a teleoperator would: a subtask of the task (e.g.
one cube of "both cubes into the bowl") is started only once ``/pi_vla/language`` names it (its cube's colour, or
its exact text); until then the robot holds still. Each subtask's plan is announced as it is made, as JSON on
``plan_topic`` (subtask, text, obj, arm, start, release, end: simulated times), for a scripted instructor.

The expert plans from privileged simulator state (object poses), so this node is built with the
:class:`Simulator` object (``ExpertNode(sim=...)``); ``pi-vla collect`` does that. For demonstrations the policy
node is not started alongside it. For corrections (``wait_for_takeover``) it stays silent while the policy drives
until :meth:`take_over` is called: then it says so on ``/pi_vla/intervention`` (the executor yields) and finishes the
task from wherever the robot is, as a person taking over with leader arms would.
"""

from __future__ import annotations

import dataclasses
import json

from pi_vla_ros.nodes.common import GraphNode, LATCHED_QOS, Param, declare, to_duration, to_stamp
from pi_vla_ros.ros import Node, msgs
from pi_vla_ros.sim.expert import ScriptedExpert

SUBTASKS = {
    "drive": "drive to the table",
    "reach": "reach for the {obj}",
    "grasp": "grasp the {obj}",
    "carry": "carry the {obj} to the {bowl}",
    "release": "release the {obj} in the {bowl}",
    "retreat": "move the arm back",
    "done": "",
}


class ExpertNode(GraphNode, Node):
    PARAMETERS = dict(
        rate_hz=Param(0.0, "command rate (0: the profile's policy rate)", (0.0, 1000.0)),
        command_topic=Param("/pi_vla/commanded_action", "what it commands, in the action layout (JointState)"),
        instruction_topic=Param("/pi_vla/instruction", "where it types the subtask it works on"),
        announce_subtasks=Param(True, "type each subtask as it starts (verbal-instruction style)"),
        wait_for_takeover=Param(False, "corrections: silent until take_over()"),
        intervention_topic=Param("/pi_vla/intervention", "std_msgs/Bool: true while it has the robot"),
        follow_language=Param(False, "start each subtask only once /pi_vla/language names it (VI collection)"),
        language_topic=Param("/pi_vla/language", "the current subtask (std_msgs/String, transient local)"),
        plan_topic=Param("/pi_vla/expert/plan", "each subtask's plan as it is made (std_msgs/String, JSON)"),
        fumble_p=Param(0.0, "probability that a subtask's first grasp is off across the fingers: the demo shows the "
                            "miss and the retry (0: the profile's sim.expert setting)", (0.0, 1.0)),
    )

    def __init__(self, sim, **kwargs):
        super().__init__("pi_vla_expert", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.sim = sim
        self.profile = sim.profile
        self.rate = self.p.rate_hz or self.profile.policy_rate_hz
        self.expert: ScriptedExpert | None = None
        self._phase: str | None = None
        self.commands = 0
        n = len(self.profile.joints)
        self._outputs = []
        for ctrl in self.profile.controllers:
            if ctrl.interface == "twist":
                self._outputs.append((ctrl, "twist", self.create_publisher(msgs.Twist, ctrl.twist_topic, 10), None))
                continue
            idx = [self.profile.joints.index(j) for j in ctrl.joints]
            if ctrl.position_topic:
                pub = self.create_publisher(msgs.Float64MultiArray, ctrl.position_topic, 10)
                self._outputs.append((ctrl, "position", pub, idx))
            else:
                pub = self.create_publisher(msgs.JointTrajectory, ctrl.trajectory_topic, 10)
                self._outputs.append((ctrl, "trajectory", pub, idx))
        self._base = slice(n, n + len(self.profile.base_dims))
        self.action_pub = self.create_publisher(msgs.JointState, self.p.command_topic, 10)
        self.instruction_pub = self.create_publisher(msgs.String, self.p.instruction_topic, 10)
        self.intervention_pub = self.create_publisher(msgs.Bool, self.p.intervention_topic, LATCHED_QOS)
        self.plan_pub = self.create_publisher(msgs.String, self.p.plan_topic, 10)
        self.released = 0 if self.p.follow_language else None   # subtasks the language has asked for so far
        self.unmatched_language: list[str] = []
        if self.p.follow_language:
            self.create_subscription(msgs.String, self.p.language_topic, self._on_language, LATCHED_QOS)
        self.active = not self.p.wait_for_takeover
        self.create_timer(1.0 / self.rate, self._tick)

    def reset_episode(self) -> None:
        """Call after the simulator's reset: the expert plans the new episode from its first tick (or, waiting for a
        takeover, stays silent again).
        """
        self.expert = None
        self._phase = None
        self.released = 0 if self.p.follow_language else None
        if self.p.wait_for_takeover:
            self.active = False
            self.intervention_pub.publish(msgs.Bool(data=False))

    def take_over(self) -> None:
        """A correction starts: the executor is told to yield, the expert plans from the current state."""
        self.active = True
        self.expert = self._new_expert(from_current_state=True)
        self.intervention_pub.publish(msgs.Bool(data=True))

    def _new_expert(self, from_current_state: bool = False) -> ScriptedExpert:
        expert = ScriptedExpert(self.sim, from_current_state=from_current_state)
        expert.released = self.released
        if self.p.fumble_p > 0:
            expert.cfg["fumble_p"] = self.p.fumble_p
        expert.listeners.append(lambda a: self.plan_pub.publish(msgs.String(data=json.dumps(dataclasses.asdict(a)))))
        return expert

    def _on_language(self, msg) -> None:
        """Release the subtask the language names (its cube's colour word, else its exact text)."""
        text = msg.data.strip().lower()
        if not text:
            return
        subtasks = self.sim.task.subtasks
        named = [k for k, s in enumerate(subtasks) if s.text.lower() == text]
        if not named:
            named = [k for k, s in enumerate(subtasks) if self.sim.task.cube(s.obj).color in text.split()]
        if len(named) != 1:
            self.unmatched_language.append(msg.data)
            self.get_logger().warning(f"language {msg.data!r} names no single subtask of the task", once=True)
            return
        self.released = max(self.released or 0, named[0] + 1)
        if self.expert is not None:
            self.expert.released = self.released

    @property
    def done(self) -> bool:
        return self.expert is not None and self.expert.done

    def _tick(self) -> None:
        if not self.active:
            return
        if self.expert is None:
            self.expert = self._new_expert()
        action = self.expert.act()
        stamp = to_stamp(self.sim.time)
        for ctrl, interface, pub, idx in self._outputs:
            if interface == "twist":
                msg = msgs.Twist()
                msg.linear.x, msg.angular.z = (float(v) for v in action[self._base])
            elif interface == "position":
                msg = msgs.Float64MultiArray(data=[float(action[i]) for i in idx])
            else:
                msg = msgs.JointTrajectory(joint_names=list(ctrl.joints), points=[msgs.JointTrajectoryPoint(
                    positions=[float(action[i]) for i in idx], time_from_start=to_duration(1.0 / self.rate))])
            pub.publish(msg)
        self.action_pub.publish(msgs.JointState(header=msgs.Header(stamp=stamp), name=list(self.profile.action_names),
                                                position=[float(a) for a in action]))
        self.commands += 1
        if self.p.announce_subtasks:
            phase = self.expert.phase()
            if phase != self._phase:
                self._phase = phase
                cube = self.sim.task.cube(self.expert.obj)
                text = SUBTASKS.get(phase, "").format(obj=f"{cube.color} cube",
                                                      bowl=f"{self.sim.task.bowl_color} bowl")
                if text:
                    self.instruction_pub.publish(msgs.String(data=text))
