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

"""Recorder node: what a robot run publishes, into rosbag2 (MCAP) bags, one bag per episode.

Subscribes to the profile's joint states, cameras and controller command topics, the language and instruction
topics, ``/pi_vla/commanded_action`` (a teleoperator's or scripted expert's action), ``/pi_vla/action_chunk``,
``/pi_vla/intervention``, ``/pi_vla/speech`` (recognized speech with its timing) and ``/sim/status``; every message
is written with its receive time on the node's clock (simulated time in simulation), the one clock
:func:`pi_vla_ros.data.rosbag.bag_to_lerobot` aligns topics by. Recording starts and stops per episode
(:meth:`start` / :meth:`stop`); with the ``output`` parameter set it records from start-up until shutdown, like
``ros2 bag record``. The bag writing itself is :class:`pi_vla_ros.data.rosbag.BagRecorder`.
"""

from __future__ import annotations

from pathlib import Path

from pi_vla_ros.nodes.common import GraphNode, LATCHED_QOS, Param, SENSOR_QOS, declare, run_node
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import Node, msgs

LATCHED = ("/pi_vla/language", "/sim/status")


def recorded_topics(profile) -> dict[str, type]:
    topics = {"/joint_states": msgs.JointState, "/pi_vla/commanded_action": msgs.JointState,
              "/pi_vla/language": msgs.String, "/pi_vla/instruction": msgs.String, "/sim/status": msgs.String,
              "/pi_vla/action_chunk": msgs.JointTrajectory, "/pi_vla/intervention": msgs.Bool,
              "/pi_vla/speech": msgs.String}
    topics |= {c.topic: msgs.Image for c in profile.cameras}
    for ctrl in profile.controllers:
        if ctrl.twist_topic:
            topics[ctrl.twist_topic] = msgs.Twist
        if ctrl.trajectory_topic:
            topics[ctrl.trajectory_topic] = msgs.JointTrajectory
        if ctrl.position_topic:
            topics[ctrl.position_topic] = msgs.Float64MultiArray
    return topics


class RecorderNode(GraphNode, Node):
    PARAMETERS = dict(
        profile=Param("bimanual", "robot profile: a name in config/ or a profile YAML path"),
        output=Param("", "record into this bag directory from start-up (else: start()/stop() per episode)"),
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_recorder", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.profile = load_profile(self.p.profile)
        self.topics = recorded_topics(self.profile)
        self.bag = None
        self.path: Path | None = None
        for topic, msg_type in self.topics.items():
            qos = LATCHED_QOS if topic in LATCHED else SENSOR_QOS if msg_type is msgs.Image else 20
            self.create_subscription(msg_type, topic, lambda m, t=topic: self._on_message(t, m), qos)
        if self.p.output:
            self.start(self.p.output)

    def start(self, path) -> None:
        """Begin a new bag at ``path`` (a directory that must not exist yet)."""
        from pi_vla_ros.data.rosbag import BagRecorder

        self.stop()
        self.path = Path(path)
        self.bag = BagRecorder(self.path, self.topics)

    def stop(self) -> Path | None:
        """Close the current bag (if any) and return its path."""
        if self.bag is None:
            return None
        self.bag.close()
        self.bag = None
        return self.path

    def _on_message(self, topic: str, msg) -> None:
        if self.bag is not None:
            self.bag.write(topic, msg, self.get_clock().now().nanoseconds)

    def destroy_node(self):
        self.stop()
        return super().destroy_node()


def main(args=None):
    return run_node(RecorderNode, args)
