"""Action executor node: a fixed-rate loop from action chunks to the robot's controllers.

Consumes ``/pi_vla/action_chunk``, and on every tick of its timer (50 Hz by default, on ROS time, so
sim time in simulation) publishes exactly one command to each controller of the profile: a one-point
JointTrajectory (stamp 0 = start now) for ``trajectory`` controllers, a Float64MultiArray for
``position`` controllers, a Twist for the base. Resampling, merging, the safety filter and the
watchdog live in :mod:`pi_vla_ros.core.executor`.

While ``/pi_vla/intervention`` (std_msgs/Bool) is true a person (a teleoperator's leader arms, or the simulator's
scripted expert) has the robot: the executor publishes nothing and drops its chunks; when it turns false again the
executor starts over from the measured state, as after an episode reset. Recap labels those frames as corrections.
"""

from __future__ import annotations

import time

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.executor import ActionExecutor, ExecutorConfig, validate_chunk
from pi_vla_ros.nodes.common import Rejections, declare, diagnostics, now_sec, run_node, to_duration, to_sec
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import Node, msgs


class ExecutorNode(Node):
    # Every parameter the node declares, with its default (launch files may set only these).
    PARAMETERS = dict(
        profile="bimanual",
        control_rate_hz=0.0,              # 0: the profile's control rate
        blend_s=0.06,
        chunk_timeout_s=2.0,
        chunk_topic="/pi_vla/action_chunk",
        state_topic="/pi_vla/observation/joint_states",
        arm_interface="",                 # "", "trajectory" or "position": override the profile's choice
        trajectory_lookahead_s=0.0,       # time_from_start of streamed points; 0: one control period
        diagnostics_period_s=1.0,
        intervention_topic="/pi_vla/intervention",
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_executor", **kwargs)
        self.p = declare(self, **self.PARAMETERS)
        self.profile = load_profile(self.p.profile)
        rate = self.p.control_rate_hz or self.profile.control_rate_hz
        self.core = ActionExecutor(self.profile, ExecutorConfig(rate, self.p.blend_s, self.p.chunk_timeout_s))
        self.lookahead = self.p.trajectory_lookahead_s or 1.0 / rate
        self.rejections = Rejections(self)
        self.publish_wall_times: list[float] = []   # perf_counter at each tick's publish (for reports)
        self.publish_sim_times: list[float] = []
        self._index = {j: i for i, j in enumerate(self.profile.joints)}
        self._outputs = []
        for ctrl in self.profile.controllers:
            interface = ctrl.interface
            if self.p.arm_interface and interface in ("trajectory", "position") and (
                    ctrl.trajectory_topic and ctrl.position_topic):
                interface = self.p.arm_interface
            topic = {"trajectory": ctrl.trajectory_topic, "position": ctrl.position_topic,
                     "twist": ctrl.twist_topic}[interface]
            if not topic:
                raise ValueError(f"controller {ctrl.name} has no {interface} topic in profile {self.profile.name}")
            msg_type = {"trajectory": msgs.JointTrajectory, "position": msgs.Float64MultiArray,
                        "twist": msgs.Twist}[interface]
            self._outputs.append((ctrl, interface, self.create_publisher(msg_type, topic, 10)))
        self.create_subscription(msgs.JointTrajectory, self.p.chunk_topic, self._on_chunk, 10)
        self.create_subscription(msgs.JointState, self.p.state_topic, self._on_state, 10)
        self.intervening = False
        self.intervention_ticks = 0
        # volatile: accepts a teleop's plain publisher as well as a latched one
        self.create_subscription(msgs.Bool, self.p.intervention_topic, self._on_intervention, 10)
        self.diag_pub = self.create_publisher(msgs.DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0 / rate, self._tick)
        self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics)

    def _on_state(self, msg) -> None:
        if list(msg.name) != list(self.profile.joints):   # the observation node publishes canonical order
            self.rejections(RejectedInput("state_joints", f"unexpected joint order {list(msg.name)}"), "state")
            return
        self.core.on_state(msg.position)

    def _on_intervention(self, msg) -> None:
        if bool(msg.data) == self.intervening:
            return
        self.intervening = bool(msg.data)
        self.get_logger().info("intervention: a person has the robot" if self.intervening
                               else "intervention over: back to the policy, from the measured state")
        self._restart_core()  # either way: no chunk, no last command survives the hand-over

    def _on_chunk(self, msg) -> None:
        if self.intervening:
            return
        try:
            stamp = to_sec(msg.header.stamp)
            times = [stamp + to_sec(p.time_from_start) for p in msg.points]
            widths = {len(p.positions) for p in msg.points}
            if len(widths) > 1:
                raise RejectedInput("chunk_width", f"points have different widths {sorted(widths)}")
            chunk = validate_chunk(self.profile, msg.joint_names, times, [list(p.positions) for p in msg.points])
            self.core.on_chunk(chunk, now_sec(self))
        except RejectedInput as e:
            self.rejections(e, "action chunk")

    def _tick(self) -> None:
        if self.intervening:
            self.intervention_ticks += 1
            return
        now = now_sec(self)
        cmd = self.core.tick(now)
        if cmd is None:
            return
        for ctrl, interface, pub in self._outputs:
            if interface == "twist":
                msg = msgs.Twist()
                msg.linear.x, msg.angular.z = float(cmd.base[0]), float(cmd.base[1])
            else:
                values = [float(cmd.positions[self._index[j]]) for j in ctrl.joints]
                if interface == "position":
                    msg = msgs.Float64MultiArray(data=values)
                else:  # stamp 0: the controller starts the point now and reaches it one lookahead later
                    msg = msgs.JointTrajectory(joint_names=list(ctrl.joints), points=[
                        msgs.JointTrajectoryPoint(positions=values, time_from_start=to_duration(self.lookahead))])
            pub.publish(msg)
        self.publish_wall_times.append(time.perf_counter())
        self.publish_sim_times.append(now)

    def reset_episode(self) -> None:
        """A new episode: drop the chunks and hold the next measured state (never the last episode's command);
        the policy has the robot. Statistics keep counting across episodes."""
        self.intervening = False
        self._restart_core()

    def _restart_core(self) -> None:
        stats = self.core.stats
        self.core = ActionExecutor(self.profile, self.core.config)
        self.core.stats = stats

    def _publish_diagnostics(self) -> None:
        s = self.core.stats
        values = {"commands": s.commands, "starvation_ticks": s.starvation_ticks, "watchdog_trips": s.watchdog_trips,
                  "safety_clamps": s.safety_clamps, "rejected": self.rejections.counter.as_dict()}
        status = diagnostics(self.get_name(), s.starvation_ticks == 0, "holding" if self.core.holding else "ok",
                             values)
        self.diag_pub.publish(msgs.DiagnosticArray(header=msgs.Header(stamp=self.get_clock().now().to_msg()),
                                                   status=[status]))


def main(args=None):
    run_node(ExecutorNode, args)
