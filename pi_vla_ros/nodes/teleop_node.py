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

"""Teleoperation node: leader arms or an end-effector twist, through the action executor, to the controllers.

``mode:=leader`` (ALOHA style): each of ``leader_topics`` is a leader's sensor_msgs/JointState, with its own joint
names, mapped onto the follower's joints (``leader_prefixes``, ``leader_rename``, ``leader_ignore``,
``leader_scale``). ``mode:=twist``: geometry_msgs/Twist on ``twist_topic`` (keyboard, SpaceMouse) moves the TCP of
``twist_arm`` through inverse kinematics of the URDF; std_msgs/Float64 on ``gripper_topic`` sets its gripper
(fraction open, 0..1). The mapping, IK and every edge case are :mod:`pi_vla_ros.core.teleop`'s.

Hand-over: while ``/pi_vla/intervention`` (std_msgs/Bool; published by the keyboard teleop, a pedal, or
``ros2 topic pub``) is true, the person has the robot: on each tick (``rate_hz``, ROS time) this node sends its
target to the executor on ``command_topic`` (a JointTrajectory in the action layout whose two points hold the
target from now to ``hold_s`` ahead), and the executor puts it through the same safety filter as a policy's chunks.
Nothing here publishes to a controller. If this node stops sending (a stale leader, a crash) the executor holds once
``hold_s`` has passed. When the flag turns false it stops and forgets; the next engagement starts again from the
follower's measured state (``state_topic``). What it sends also goes out as a JointState named by the profile's
action names on ``action_topic`` (``/pi_vla/commanded_action``), which recordings take as the action, as from the
scripted expert (``action_topic:=''`` turns that off: in a recording where the policy drives between
interventions, the executor's controller commands are the action of every frame). Rejected input is counted
(``/diagnostics``) and logged once per reason every 5 s.
"""

from __future__ import annotations

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.teleop import LeaderMap, LeaderSource, Teleop, TeleopConfig
from pi_vla_ros.nodes.common import (GraphNode, OK, Param, Rejections, SENSOR_QOS, WARN, declare, diagnostics,
                                     now_sec, run_node, to_duration, to_stamp)
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import Node, msgs


def _items(text: str) -> list[str]:
    """A comma-separated list parameter -> its stripped items (empty items dropped)."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _pairs(text: str, name: str) -> dict[str, str]:
    out = {}
    for item in _items(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"pi_vla_teleop: parameter {name!r}: expected NAME=VALUE items, got {item!r}")
        out[key.strip()] = value.strip()
    return out


class TeleopNode(GraphNode, Node):
    PARAMETERS = dict(
        profile=Param("bimanual", "robot profile: a name in config/ or a profile YAML path"),
        mode=Param("twist", "leader: leader arms' joint states; twist: end-effector twist + IK",
                   choices=("leader", "twist")),
        rate_hz=Param(0.0, "target rate (0: the profile's control rate)", (0.0, 1000.0)),
        hold_s=Param(0.1, "how long one sent target stays valid at the executor (then it holds)", (0.02, 2.0)),
        intervention_topic=Param("/pi_vla/intervention", "std_msgs/Bool: true while the person has the robot"),
        command_topic=Param("/pi_vla/teleop/command", "targets to the executor (JointTrajectory, action layout)"),
        action_topic=Param("/pi_vla/commanded_action", "what it commands, in the action layout (JointState; '' = "
                                                       "not published)"),
        state_topic=Param("/pi_vla/observation/joint_states", "the follower's validated joint states"),
        leader_topics=Param("/leader/joint_states", "comma-separated leader JointState topics"),
        leader_prefixes=Param("", "comma-separated, one per leader topic: follower joint = prefix + leader joint"),
        leader_rename=Param("", "comma-separated LEADER=FOLLOWER joint names (over the prefix rule)"),
        leader_ignore=Param("", "comma-separated leader joints the follower does not follow (finger joints)"),
        leader_scale=Param("", "comma-separated FOLLOWER=SCALE:OFFSET (follower = scale * leader + offset)"),
        leader_timeout_s=Param(0.1, "a leader silent this long is stale: hold", (0.01, 5.0)),
        max_engage_error=Param(0.3, "rad: the leader must be this close to the follower to take over", (0.01, 6.3)),
        twist_topic=Param("/pi_vla/teleop/twist", "geometry_msgs/Twist: TCP velocity (m/s, rad/s)"),
        gripper_topic=Param("/pi_vla/teleop/gripper", "std_msgs/Float64: the twist arm's gripper, fraction open"),
        twist_arm=Param("", "what the twist drives: an arm named in the profile's sim.arms ('' = the first), or "
                            "'base' (linear x, angular z)"),
        twist_frame=Param("base", "twist axes: the URDF root frame, or the TCP's own", choices=("base", "tool")),
        twist_timeout_s=Param(0.25, "a twist older than this is zero (the arm stops)", (0.01, 5.0)),
        max_linear_speed=Param(0.2, "m/s: larger twists are scaled down to this", (0.001, 2.0)),
        max_angular_speed=Param(1.0, "rad/s: larger twists are scaled down to this", (0.001, 10.0)),
        diagnostics_period_s=Param(1.0, "period of /diagnostics", (0.01, 60.0)),
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_teleop", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.profile = load_profile(self.p.profile)
        self.rate = self.p.rate_hz or self.profile.control_rate_hz
        config = TeleopConfig(rate_hz=self.rate, leader_timeout_s=self.p.leader_timeout_s,
                              max_engage_error=self.p.max_engage_error, twist_timeout_s=self.p.twist_timeout_s,
                              max_linear=self.p.max_linear_speed, max_angular=self.p.max_angular_speed,
                              frame=self.p.twist_frame)
        self.rejections = Rejections(self)
        self.intervening = False
        self.sent = 0
        self._state = None
        if self.p.mode == "leader":
            topics = _items(self.p.leader_topics)
            prefixes = self.p.leader_prefixes.split(",") if self.p.leader_prefixes else [""] * len(topics)
            if not topics or len(prefixes) != len(topics):
                raise ValueError(f"pi_vla_teleop: {len(topics)} leader_topics but {len(prefixes)} leader_prefixes")
            rename, ignore = _pairs(self.p.leader_rename, "leader_rename"), tuple(_items(self.p.leader_ignore))
            scale = {}
            for joint, value in _pairs(self.p.leader_scale, "leader_scale").items():
                s, _, o = value.partition(":")
                scale[joint] = (float(s), float(o or 0.0))
            sources = [LeaderSource(prefix.strip(), rename, ignore) for prefix in prefixes]
            self.core = Teleop(self.profile, "leader", config, leader=LeaderMap(self.profile, sources, scale),
                               n_leaders=len(topics))
            for i, topic in enumerate(topics):
                self.create_subscription(msgs.JointState, topic, lambda m, i=i: self._on_leader(i, m), SENSOR_QOS)
        else:
            arms = self.profile.sim.get("arms", [])
            arm = "base" if self.p.twist_arm == "base" else next(
                (a for a in arms if a.get("name") == self.p.twist_arm or not self.p.twist_arm), None)
            if arm is None:
                raise ValueError(f"pi_vla_teleop: profile {self.profile.name!r} has no arm {self.p.twist_arm!r} "
                                 f"(arms: {[a.get('name') for a in arms]})")
            self.core = Teleop(self.profile, "twist", config, arm=arm)
            self.create_subscription(msgs.Twist, self.p.twist_topic, self._on_twist, 10)
            self.create_subscription(msgs.Float64, self.p.gripper_topic, self._on_gripper, 10)
        self.command_pub = self.create_publisher(msgs.JointTrajectory, self.p.command_topic, 10)
        self.action_pub = (self.create_publisher(msgs.JointState, self.p.action_topic, 10) if self.p.action_topic
                           else None)
        self.diag_pub = self.create_publisher(msgs.DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(msgs.Bool, self.p.intervention_topic, self._on_intervention, 10)
        self.create_subscription(msgs.JointState, self.p.state_topic, self._on_state, SENSOR_QOS)
        self.create_timer(1.0 / self.rate, self._tick)
        self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics)

    # -- inputs ---------------------------------------------------------------------------------
    def _on_state(self, msg) -> None:
        if list(msg.name) == list(self.profile.joints):   # the observation node's validated, profile-ordered state
            self._state = list(msg.position)
            self.core.on_state(self._state)

    def _on_intervention(self, msg) -> None:
        if bool(msg.data) == self.intervening:
            return
        self.intervening = bool(msg.data)
        if not self.intervening:
            self.core.disengage()
            self.get_logger().info("intervention over: teleop stopped")

    def _on_leader(self, source: int, msg) -> None:
        try:
            self.core.on_leader(source, msg.name, msg.position, now_sec(self))
        except RejectedInput as e:
            self.rejections(e, f"leader state ({self.p.leader_topics.split(',')[source].strip()})")

    def _on_twist(self, msg) -> None:
        try:
            self.core.on_twist([msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y,
                                msg.angular.z], now_sec(self))
        except RejectedInput as e:
            self.rejections(e, "twist")

    def _on_gripper(self, msg) -> None:
        try:
            self.core.on_gripper(msg.data)
        except RejectedInput as e:
            self.rejections(e, "gripper command")

    # -- the loop -------------------------------------------------------------------------------
    def _tick(self) -> None:
        if not self.intervening:
            return
        if not self.core.engaged:
            if self._state is None:
                return   # nothing measured yet to start from
            self.core.engage(self._state)
            self.get_logger().info(f"intervention: teleop ({self.p.mode}) has the robot")
        now = now_sec(self)
        try:
            target = self.core.tick(now)
        except RejectedInput as e:
            self.rejections(e, "teleop")
            return
        if target is None:
            return
        values = [float(v) for v in target]
        stamp = to_stamp(now)
        self.command_pub.publish(msgs.JointTrajectory(
            header=msgs.Header(stamp=stamp), joint_names=list(self.profile.action_names),
            points=[msgs.JointTrajectoryPoint(positions=values, time_from_start=to_duration(t))
                    for t in (0.0, self.p.hold_s)]))
        if self.action_pub is not None:
            self.action_pub.publish(msgs.JointState(header=msgs.Header(stamp=stamp),
                                                    name=list(self.profile.action_names), position=values))
        self.sent += 1

    def _publish_diagnostics(self) -> None:
        rejected = self.rejections.counter.as_dict()
        level, message = (OK, f"{self.p.mode} teleop has the robot") if self.intervening else (
            OK, f"{self.p.mode} teleop standing by (the policy has the robot)")
        if self.intervening and not self.core.engaged:
            level, message = WARN, "intervention, but no follower state yet"
        self.diag_pub.publish(msgs.DiagnosticArray(header=msgs.Header(stamp=self.get_clock().now().to_msg()),
                                                   status=[diagnostics(self.get_name(), level, message,
                                                                       {"sent": self.sent, "rejected": rejected,
                                                                        "intervening": self.intervening})]))


def main(args=None):
    return run_node(TeleopNode, args)
