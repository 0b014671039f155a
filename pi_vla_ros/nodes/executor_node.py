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

"""Action executor node: a fixed-rate loop from action chunks to the robot's controllers.

Consumes ``/pi_vla/action_chunk``, and on every tick of its timer (50 Hz by default, on ROS time, so
sim time in simulation) publishes exactly one command to each controller of the profile: a one-point
JointTrajectory (stamp 0 = start now) for ``trajectory`` controllers, a Float64MultiArray for
``position`` controllers, a Twist for the base. Resampling, merging, the safety filter and the
watchdog live in :mod:`pi_vla_ros.core.executor`.

While ``/pi_vla/intervention`` (std_msgs/Bool) is true a person (a teleoperator, or the simulator's scripted
expert) has the robot: the executor drops the policy's chunks, and when it turns false again it starts over from the
measured state, as after an episode reset. Recap labels those frames as corrections. During an intervention it
executes teleop commands (``/pi_vla/teleop/command``, from :mod:`pi_vla_ros.nodes.teleop_node`: a JointTrajectory in
the action layout, validated like a chunk, whose points hold the person's target until it is renewed) through the
same resampling, safety filter and watchdog as the policy's chunks, so a person's command keeps every limit a
policy's does, and a teleop that goes silent is held as soon as its last command runs out. Until the first teleop
command of an intervention it publishes nothing (someone outside the graph, like the scripted expert, drives).
Teleop commands outside an intervention are dropped.
"""

from __future__ import annotations

import time
from collections import deque

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.executor import ActionExecutor, ExecutorConfig, validate_chunk
from pi_vla_ros.nodes.common import (ERROR, GraphNode, LATCHED_QOS, OK, Param, Rejections, SENSOR_QOS, WARN, declare,
                                     destroy_entities, diagnostics, now_sec, realtime_priority, run_node, start_managed,
                                     to_duration, to_sec)
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import LifecycleNode, TransitionCallbackReturn, msgs


class ExecutorNode(GraphNode, LifecycleNode):
    """A managed node: unconfigured and inactive it commands nothing. ``configure`` reads the profile and creates
    the controller publishers; ``activate`` starts commanding from the measured state; ``deactivate`` sends one
    hold (last command, base stopped) and stops; ``cleanup`` releases everything. ``autostart`` does configure +
    activate at start-up (the launch files' default); without it a lifecycle manager or
    ``ros2 lifecycle set /pi_vla_executor activate`` decides when the robot may move.
    """

    PARAMETERS = dict(
        profile=Param("bimanual", "robot profile: a name in config/ or a profile YAML path"),
        control_rate_hz=Param(0.0, "command rate (0: the profile's control rate)", (0.0, 1000.0)),
        blend_s=Param(0.06, "cross-fade from the executing chunk to a new one", (0.0, 1.0)),
        chunk_timeout_s=Param(2.0, "a chunk older than this is not executed (watchdog)", (0.05, 60.0)),
        chunk_topic=Param("/pi_vla/action_chunk", "action chunks in (trajectory_msgs/JointTrajectory)"),
        state_topic=Param("/pi_vla/observation/joint_states", "validated joint states in the profile's order"),
        arm_interface=Param("", "override the profile's arm interface", choices=("", "trajectory", "position")),
        trajectory_lookahead_s=Param(0.0, "time_from_start of streamed points (0: one control period)", (0.0, 1.0)),
        diagnostics_period_s=Param(1.0, "period of /diagnostics", (0.01, 60.0)),
        intervention_topic=Param("/pi_vla/intervention", "std_msgs/Bool: true while a person has the robot"),
        teleop_topic=Param("/pi_vla/teleop/command", "a person's targets during an intervention (JointTrajectory, "
                                                     "action layout)"),
        language_topic=Param("/pi_vla/language", "the current task: empty means the episode ended (hold, idle)"),
        autostart=Param(True, "configure and activate at start-up (false: wait for a lifecycle manager)"),
        thread_priority=Param(50, "SCHED_FIFO priority of the control loop when the executor has its own process, "
                                  "as ros2_control's controller_manager (0: normal scheduling)", (0, 99)),
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_executor", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.core: ActionExecutor | None = None
        self.active = False
        self.intervening = False
        self.intervention_ticks = 0
        self.teleop_commands = 0         # teleop commands accepted (all interventions)
        self._teleop_driving = False     # a teleop command arrived in this intervention: publish its filtered target
        self.rejections = Rejections(self)
        # perf_counter and ROS time of each tick's publish, for run reports: the last 10 minutes at 50 Hz (a
        # robot runs for hours; unbounded lists grew 3.7 MB per 10 minutes in a soak)
        self.publish_wall_times: deque[float] = deque(maxlen=30_000)
        self.publish_sim_times: deque[float] = deque(maxlen=30_000)
        self._entities: list = []
        self._last_sent = None
        self.idle = False                # the task ended (empty language): holding is expected, not starvation
        self._idle_since = -float("inf")
        start_managed(self)

    def on_own_process(self) -> None:
        """Run the control loop's thread at real-time priority when the executor is a process of its own.

        Only the spinning thread is raised (Fast DDS's threads keep normal scheduling); in a shared process the
        other nodes' work would inherit it, so the in-process graph never calls this. Without the right to (no
        CAP_SYS_NICE and no rtprio limit, e.g. outside the `realtime` group) it warns once and runs normally.
        """
        refused = realtime_priority(self.p.thread_priority, whole_process=True)
        if refused:
            self.get_logger().warning(f"thread_priority {self.p.thread_priority}: SCHED_FIFO refused ({refused}); the "
                                      "control loop runs with normal scheduling (add the user to a group with an "
                                      "rtprio limit, as for ros2_control)")
        elif self.p.thread_priority:
            self.get_logger().info(f"control loop at SCHED_FIFO priority {self.p.thread_priority}")

    # -- lifecycle ------------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.profile = load_profile(self.p.profile)
            rate = self.p.control_rate_hz or self.profile.control_rate_hz
            self.core = ActionExecutor(self.profile, ExecutorConfig(rate, self.p.blend_s, self.p.chunk_timeout_s))
            self.lookahead = self.p.trajectory_lookahead_s or 1.0 / rate
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
                self._outputs.append((ctrl, interface, self.create_lifecycle_publisher(msg_type, topic, 10)))
        except (OSError, ValueError, KeyError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.diag_pub = self.create_publisher(msgs.DiagnosticArray, "/diagnostics", 10)
        self._entities = [
            self.create_subscription(msgs.JointTrajectory, self.p.chunk_topic, self._on_chunk, 10),
            self.create_subscription(msgs.JointTrajectory, self.p.teleop_topic, self._on_teleop, 10),
            self.create_subscription(msgs.JointState, self.p.state_topic, self._on_state, SENSOR_QOS),
            # volatile: accepts a teleop's plain publisher as well as a latched one
            self.create_subscription(msgs.Bool, self.p.intervention_topic, self._on_intervention, 10),
            self.create_subscription(msgs.String, self.p.language_topic, self._on_language, LATCHED_QOS),
            self.create_timer(1.0 / rate, self._tick),
            self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics),
        ]
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._restart_core()          # from the measured state: nothing from before the activation is replayed
        self.active = True
        self.get_logger().info("active: commanding the controllers")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._publish_hold()
        self.active = False
        self.get_logger().info("inactive: holding, no more commands")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        if self.active:
            self._publish_hold()
            self.active = False
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        destroy_entities(self, self._entities)
        for _, _, pub in getattr(self, "_outputs", []):
            self.destroy_lifecycle_publisher(pub)
        self._entities, self._outputs, self.core = [], [], None

    # -- inputs ---------------------------------------------------------------------------------
    def _on_state(self, msg) -> None:
        try:   # an internal topic, still checked: names in the profile's order, sizes, finiteness
            self.core.on_state(msg.position, msg.name)
        except RejectedInput as e:
            self.rejections(e, "state")

    def _on_intervention(self, msg) -> None:
        if bool(msg.data) == self.intervening:
            return
        self.intervening = bool(msg.data)
        self.get_logger().info("intervention: a person has the robot" if self.intervening
                               else "intervention over: back to the policy, from the measured state")
        self._restart_core()  # either way: no chunk, no last command survives the hand-over

    def _on_language(self, msg) -> None:
        idle = not msg.data
        if idle and not self.idle and self.core is not None:
            self._idle_since = now_sec(self)
            self.core.idle()
            self.get_logger().info("no task (episode ended): holding the last command")
        self.idle = idle

    def _on_chunk(self, msg) -> None:
        if self.intervening or not self.active:
            return
        if to_sec(msg.header.stamp) <= self._idle_since:   # computed for the episode that has ended: never executed
            return
        self._take(msg, "action chunk", blend=True)

    def _on_teleop(self, msg) -> None:
        if not self.intervening or not self.active:
            return
        if self._take(msg, "teleop command", blend=False):   # a stream of targets: no cross-fade (no delay)
            self._teleop_driving = True
            self.teleop_commands += 1

    def _take(self, msg, source: str, blend: bool) -> bool:
        try:
            stamp = to_sec(msg.header.stamp)
            times = [stamp + to_sec(p.time_from_start) for p in msg.points]
            widths = {len(p.positions) for p in msg.points}
            if len(widths) > 1:
                raise RejectedInput("chunk_width", f"points have different widths {sorted(widths)}")
            chunk = validate_chunk(self.profile, msg.joint_names, times, [list(p.positions) for p in msg.points])
            self.core.on_chunk(chunk, now_sec(self), blend)
        except RejectedInput as e:
            self.rejections(e, source)
            return False
        return True

    # -- the loop -------------------------------------------------------------------------------
    def _tick(self) -> None:
        if not self.active:
            return
        if self.intervening:
            self.intervention_ticks += 1
            if not self._teleop_driving:
                return
        now = now_sec(self)
        trips = self.core.stats.watchdog_trips
        cmd = self.core.tick(now)
        if cmd is None:
            return
        if self.core.stats.watchdog_trips != trips:
            self.get_logger().warning(f"watchdog: holding, {self.core.stats.last_trip}")
        self._send(cmd.positions, cmd.base)
        self._last_sent = (cmd.positions, cmd.base)
        self.publish_wall_times.append(time.perf_counter())
        self.publish_sim_times.append(now)

    def _send(self, positions, base) -> None:
        for ctrl, interface, pub in self._outputs:
            if interface == "twist":
                msg = msgs.Twist()
                msg.linear.x, msg.angular.z = float(base[0]), float(base[1])
            else:
                values = [float(positions[self._index[j]]) for j in ctrl.joints]
                if interface == "position":
                    msg = msgs.Float64MultiArray(data=values)
                else:  # stamp 0: the controller starts the point now and reaches it one lookahead later
                    msg = msgs.JointTrajectory(joint_names=list(ctrl.joints), points=[
                        msgs.JointTrajectoryPoint(positions=values, time_from_start=to_duration(self.lookahead))])
            pub.publish(msg)

    def _publish_hold(self) -> None:
        """One last command on deactivation: arms where they were last commanded, the base stopped."""
        if self._last_sent is not None and (not self.intervening or self._teleop_driving):
            positions, base = self._last_sent
            self._send(positions, [0.0] * len(base))

    def reset_episode(self) -> None:
        """A new episode: drop the chunks and hold the next measured state (never the last episode's command);
        the policy has the robot. Statistics keep counting across episodes.
        """
        self.intervening = False
        self._restart_core()

    def _restart_core(self) -> None:
        self._last_sent = None
        self._teleop_driving = False
        stats = self.core.stats
        self.core = ActionExecutor(self.profile, self.core.config)
        self.core.stats = stats

    def _publish_diagnostics(self) -> None:
        s = self.core.stats
        values = {"commands": s.commands, "starvation_ticks": s.starvation_ticks, "watchdog_trips": s.watchdog_trips,
                  "safety_clamps": s.safety_clamps, "rejected": self.rejections.counter.as_dict(),
                  "active": self.active, "intervening": self.intervening, "teleop_commands": self.teleop_commands}
        if not self.active:
            level, message = WARN, "inactive: not commanding"
        elif self.intervening:
            level, message = OK, "a person has the robot" + (" (teleop through the safety filter)"
                                                             if self._teleop_driving else "")
        elif self.idle and self.core.holding:
            level, message = OK, "idle: no task, holding"
        elif self.core.holding:
            level = ERROR if s.commands and s.starvation_ticks else WARN
            message = "holding: no valid chunk covers now" if s.commands else "holding: waiting for the first chunk"
        else:
            level, message = OK, "executing"
        self.diag_pub.publish(msgs.DiagnosticArray(header=msgs.Header(stamp=self.get_clock().now().to_msg()),
                                                   status=[diagnostics(self.get_name(), level, message, values)]))


def main(args=None):
    return run_node(ExecutorNode, args)
