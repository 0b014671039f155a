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

"""Embedded simulator node: a profile's robot in MuJoCo behind the same ROS interfaces as the real one.

Publishes ``/clock`` (it is the clock source: it steps on a steady-clock timer), ``/joint_states``
(joint order is deliberately not the profile's, as with real drivers), each camera's
sensor_msgs/Image (rgb8), ``/sim/status`` (JSON: instruction, success, the task's subtasks and when each was
detected done, ...) and, when the task succeeds,
``success`` on ``/pi_vla/episode_end`` (as a person or a success detector would). Accepts exactly the
controller interfaces of the profile: per joint group a JointTrajectoryController topic and a forward
position controller topic, and a Twist for a mobile base. Until someone publishes language, it types the
episode's instruction on ``/pi_vla/instruction``, as an operator would.

Cameras render inline on simulated time (deterministic) or, in real time, in a worker thread that also publishes
them, so that rendering never stalls the physics and the clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
from array import array

import mujoco
import numpy as np

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.nodes.common import (GraphNode, LATCHED_QOS, Param, Rejections, SENSOR_QOS, declare, realtime_priority,
                                     run_node, to_sec, to_stamp)
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import Clock, ClockType, Node, msgs
from pi_vla_ros.sim.controllers import CommandRejected, TrajectoryRejected
from pi_vla_ros.sim.simulator import Simulator


class SimNode(GraphNode, Node):
    PARAMETERS = dict(
        profile=Param("bimanual", "robot profile: a name in config/ or a profile YAML path"),
        seed=Param(0, "episode seed: object placement and the instruction", (0, 2**31 - 1)),
        target_object=Param("", "the cube the instruction names ('' = chosen by the seed)"),
        task=Param("", "task type instead of the profile's ('' = the profile's; pick_place_sequence: every cube into "
                   "the bowl in the order the instruction gives)"),
        step_period_s=Param(0.01, "one tick: physics substeps, controllers, /clock and /joint_states", (0.001, 0.1)),
        real_time_factor=Param(1.0, "steady-clock period = step_period_s / real_time_factor", (0.01, 100.0)),
        render_in_thread=Param(False, "render cameras off the stepping thread (real-time runs)"),
        lockstep=Param(False, "no timer: the process running the graph calls step() (deterministic simulated time)"),
        publish_instruction=Param(True, "type the episode's instruction on /pi_vla/instruction until language is seen"),
        status_period_s=Param(0.5, "period of /sim/status", (0.01, 60.0)),
        thread_priority=Param(50, "SCHED_FIFO priority of the stepping thread (the /clock source) when the simulator "
                                  "has its own process and real-time steps, as the executor's control loop (0: normal "
                                  "scheduling)", (0, 99)),
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_sim", **kwargs)
        # Mesa's software rasterizer (headless EGL without a GPU) would start one worker thread per core for every
        # frame; rendering in the calling thread keeps the control loop's wake-ups on time (p99 5.3 -> 1.2 ms here).
        os.environ.setdefault("LP_NUM_THREADS", "0")
        self.p = declare(self, self.PARAMETERS)
        self.profile = load_profile(self.p.profile)
        self.sim = Simulator(self.profile, seed=int(self.p.seed), task=self.p.task or None)
        self.sim.reset(int(self.p.seed), self.p.target_object or None)
        self.episode_start = 0.0
        self.substeps = max(1, round(self.p.step_period_s / self.sim.physics_dt))
        self.rejections = Rejections(self)
        self._paused: set[str] = set()
        self._language_seen = False
        self._next_status = 0.0
        self._next_frame = {c.name: 0.0 for c in self.profile.cameras}
        # joint_states in name order, as joint_state_broadcaster does: never assume the profile's order
        self._js_order = sorted(range(len(self.profile.joints)), key=lambda i: self.profile.joints[i])
        self._js_names = [self.profile.joints[i] for i in self._js_order]
        scene = self.sim.scene   # qpos/qvel addresses in that order: one gather per field and tick, no copies
        self._js_qadr, self._js_dadr = scene.qadr[self._js_order], scene.dadr[self._js_order]

        self.clock_pub = self.create_publisher(msgs.Clock, "/clock", 10)
        self.js_pub = self.create_publisher(msgs.JointState, "/joint_states", 10)
        self.image_pubs = {c.name: self.create_publisher(msgs.Image, c.topic, SENSOR_QOS) for c in self.profile.cameras}
        self.status_pub = self.create_publisher(msgs.String, "/sim/status", LATCHED_QOS)
        self.instruction_pub = self.create_publisher(msgs.String, "/pi_vla/instruction", 10)
        # a success detector, as a person marking "success" would be: the episode ends (instruction node)
        self.episode_end_pub = self.create_publisher(msgs.String, "/pi_vla/episode_end", 10)
        self._succeeded = False
        self.create_subscription(msgs.String, "/pi_vla/language", self._on_language, LATCHED_QOS)
        for ctrl in self.profile.controllers:
            group = self.sim.controllers[ctrl.name]
            if ctrl.interface == "twist":
                self.create_subscription(msgs.Twist, ctrl.twist_topic, lambda m, g=group: self._on_twist(g, m), 10)
                continue
            if ctrl.trajectory_topic:
                self.create_subscription(msgs.JointTrajectory, ctrl.trajectory_topic,
                                         lambda m, g=group: self._on_trajectory(g, m), 10)
            if ctrl.position_topic:
                self.create_subscription(msgs.Float64MultiArray, ctrl.position_topic,
                                         lambda m, g=group: self._on_position(g, m), 10)

        self._render_jobs: queue.Queue | None = None
        self._render_thread: threading.Thread | None = None
        if self.p.render_in_thread:
            self._render_data = mujoco.MjData(self.sim.model)
            self._render_jobs = queue.Queue(maxsize=2)
            started = threading.Event()
            self._render_thread = threading.Thread(target=self._render_worker, args=(started,), daemon=True)
            self._render_thread.start()
            if not started.wait(timeout=60):   # GL context creation is slow: not inside the loop
                raise RuntimeError("camera renderer did not start")
        if not self.p.lockstep:
            period = self.p.step_period_s / self.p.real_time_factor
            self.create_timer(period, self.step, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def on_own_process(self) -> None:
        """Step at real-time priority: the executor's commands go out on this thread's /clock, so its wake-up jitter
        is theirs (p99 command interval 25.6 -> ~24 ms here, with the renderer and the policy sharing 2 cores).
        The stepping thread and the middleware's; the camera renderer keeps normal scheduling.
        """
        if self.p.lockstep:
            return
        renderer = (self._render_thread.native_id,) if self._render_thread is not None else ()
        refused = realtime_priority(self.p.thread_priority, whole_process=True, keep_normal=renderer)
        if refused:
            self.get_logger().warning(f"thread_priority {self.p.thread_priority}: SCHED_FIFO refused ({refused}); the "
                                      "simulator steps with normal scheduling")

    # -- stepping -------------------------------------------------------------------------------
    def step(self) -> None:
        """One tick: physics and controllers, then /clock, /joint_states, due cameras and the status."""
        self.sim.step(self.substeps)
        t = self.sim.time
        stamp = to_stamp(t)
        self.clock_pub.publish(msgs.Clock(clock=stamp))
        d = self.sim.data   # as joint_positions()/velocities()/efforts(), gathered straight into the message's arrays
        self.js_pub.publish(msgs.JointState(header=msgs.Header(stamp=stamp), name=self._js_names,
                                            position=array("d", d.qpos[self._js_qadr].tobytes()),
                                            velocity=array("d", d.qvel[self._js_dadr].tobytes()),
                                            effort=array("d", d.qfrc_actuator[self._js_dadr].tobytes())))
        due = [c for c in self.profile.cameras if t + 1e-9 >= self._next_frame[c.name]]
        for cam in due:
            self._next_frame[cam.name] += 1.0 / cam.rate_hz
        due = [c.name for c in due if c.name not in self._paused]
        if due:
            if self._render_jobs is None:
                for name in due:
                    self._publish_image(name, t, self.sim.render(name))
            else:
                try:
                    self._render_jobs.put_nowait((t, due, self.sim.data.qpos.copy(), self.sim.data.mocap_pos.copy(),
                                                  self.sim.data.mocap_quat.copy()))
                except queue.Full:
                    self.rejections(RejectedInput("render_overrun", f"renderer behind, frames at {t:.2f} s dropped"))
        if not self._succeeded and self.sim.success():
            self._succeeded = True
            self.publish_status()
            self.episode_end_pub.publish(msgs.String(data="success"))
        if t + 1e-9 >= self._next_status:
            self._next_status += self.p.status_period_s
            self.publish_status()
            if self.p.publish_instruction and not self._language_seen:
                self.instruction_pub.publish(msgs.String(data=self.sim.instruction))

    def _publish_image(self, camera: str, t: float, rgb: np.ndarray) -> None:
        h, w, _ = rgb.shape
        self.image_pubs[camera].publish(msgs.Image(header=msgs.Header(stamp=to_stamp(t), frame_id=f"{camera}_link"),
                                                   height=h, width=w, encoding="rgb8", is_bigendian=0,
                                                   step=w * 3, data=rgb.tobytes()))

    def _render_worker(self, started: threading.Event) -> None:
        m, d = self.sim.model, self._render_data
        renderers = {}
        for cam in self.profile.cameras:    # the GL context belongs to this thread
            if (cam.width, cam.height) not in renderers:
                renderers[(cam.width, cam.height)] = mujoco.Renderer(m, height=cam.height, width=cam.width)
        started.set()
        while True:
            job = self._render_jobs.get()
            if job is None:     # destroy_node: release the GL context in this thread, then stop
                renderers.clear()
                return
            t, cams, qpos, mocap_pos, mocap_quat = job
            d.qpos[:], d.mocap_pos[:], d.mocap_quat[:] = qpos, mocap_pos, mocap_quat
            mujoco.mj_forward(m, d)
            for name in cams:
                cam = self.profile.camera(name)
                r = renderers[(cam.width, cam.height)]
                r.update_scene(d, camera=self.sim.scene.cameras[name])
                try:   # rclpy publishers are thread-safe: the frame goes out from here, as a camera driver's would
                    self._publish_image(name, t, r.render())
                except Exception:  # noqa: BLE001 - the context is shutting down: the node is being destroyed
                    return

    # -- controller inputs ----------------------------------------------------------------------
    def _on_trajectory(self, group, msg) -> None:
        points = [(to_sec(p.time_from_start), list(p.positions), list(p.velocities) or None,
                   list(p.accelerations) or None) for p in msg.points]
        idx = [self.profile.joints.index(j) for j in group.joint_names]
        try:
            group.trajectory.accept(list(msg.joint_names), points, to_sec(msg.header.stamp), self.sim.time,
                                    self.sim.joint_positions()[idx], self.sim.joint_velocities()[idx])
        except TrajectoryRejected as e:
            self.rejections(RejectedInput(e.reason, f"{group.name}: {e.message}"), "joint_trajectory")

    def _on_position(self, group, msg) -> None:
        try:
            group.position.command(list(msg.data))
        except CommandRejected as e:
            self.rejections(RejectedInput(e.reason, f"{group.name}: {e.message}"), "position command")

    def _on_twist(self, twist, msg) -> None:
        try:
            twist.command(msg.linear.x, msg.angular.z, self.sim.time)
        except CommandRejected as e:
            self.rejections(RejectedInput(e.reason, e.message), "cmd_vel")

    def _on_language(self, msg) -> None:
        self._language_seen = self._language_seen or bool(msg.data)

    # -- for runners and tests ------------------------------------------------------------------
    def reset_episode(self, seed: int, target_object: str | None = None) -> str:
        """A new episode without rebuilding anything: the scene is placed from ``seed`` (``target_object``:
        name this cube instead of the seed's choice) and the robot is back at home, but simulated time runs on
        (the clock never goes backwards). Cameras, the status and the new instruction go out on the next tick.
        """
        t = self.sim.time
        instruction = self.sim.reset(int(seed), target_object or None)
        self.sim.data.time = t
        mujoco.mj_forward(self.sim.model, self.sim.data)
        self.episode_start = t
        self._succeeded = False
        self._language_seen = False
        self._next_status = t
        self._next_frame = {c.name: t for c in self.profile.cameras}
        return instruction

    def publish_status(self) -> None:
        self.status_pub.publish(msgs.String(data=json.dumps(self.status())))

    def status(self) -> dict:
        return {"time": round(self.sim.time, 4), "episode_time": round(self.sim.time - self.episode_start, 4),
                "seed": self.sim.seed, "instruction": self.sim.instruction,
                "target_object": self.sim.target_object, "success": bool(self.sim.success()),
                "wrong_object_moved": bool(self.sim.wrong_object_moved()),
                "subtasks": [s.text for s in self.sim.task.subtasks], "current_subtask": self.sim.task.current,
                "subtask_done_at": [None if t is None else round(t, 4) for t in self.sim.task.subtask_done_at]}

    def pause_camera(self, camera: str, paused: bool = True) -> None:
        (self._paused.add if paused else self._paused.discard)(camera)

    def destroy_node(self):
        if self._render_thread is not None:   # the renderer reads the model: stop it before the model goes
            with contextlib.suppress(queue.Empty):
                while True:
                    self._render_jobs.get_nowait()
            self._render_jobs.put(None)
            self._render_thread.join(timeout=5)
            self._render_thread = None
        self.sim.close()
        return super().destroy_node()


def main(args=None):
    return run_node(SimNode, args)
