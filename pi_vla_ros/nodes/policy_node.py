"""Policy node: the VLA action-chunking loop.

Every tick it (1) hands over a finished inference as a trajectory_msgs/JointTrajectory on
``/pi_vla/action_chunk`` (header.stamp = observation time, one point per action), and (2) starts
the next inference when the chunk scheduler says so, on the newest synchronized observation and the
current language from ``/pi_vla/language``. Inference never blocks this loop (see core/inference.py).
"""

from __future__ import annotations

import json
import math

import numpy as np

from pi_vla_ros.core.chunking import ChunkingConfig, ChunkScheduler
from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.inference import (PolicySpec, ProcessRunner, SimulatedLatencyRunner, ThreadedRunner,
                                       dummy_observation)
from pi_vla_ros.core.observation import ObservationCore
from pi_vla_ros.nodes.common import (LATCHED_QOS, Rejections, declare, now_sec, run_node, to_duration, to_sec,
                                     to_stamp)
from pi_vla_ros.policies.base import CommittedActions, Observation
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import Node, msgs


class PolicyNode(Node):
    # Every parameter the node declares, with its default (launch files may set only these).
    PARAMETERS = dict(
        profile="bimanual",
        policy="pi06_tiny",
        checkpoint="",
        allow_untrained=False,         # run random weights (plumbing tests only); refused otherwise
        device="cpu",
        execute_steps=25,              # N of H actions executed before the next chunk takes over
        margin_steps=2,
        real_time_chunking=True,       # guide each chunk to agree with the actions still executing (RTC)
        advantage_guidance=0.0,        # Recap checkpoints: classifier-free guidance weight (0: plain conditioning)
        inference_mode="process",      # "process" (policy server child: no shared GIL), "thread", or
                                       # "simulated" (deterministic tests on simulated time)
        simulated_latency_s=0.1,
        torch_threads=1,               # leave the other cores to the control loop and the cameras
        warmup=True,                   # one inference on a blank observation before the loop starts
        server_nice=10,                # policy server process niceness: the 50 Hz loop gets the CPU first
        tick_rate_hz=50.0,
        observation_prefix="/pi_vla/observation",
        language_topic="/pi_vla/language",
        chunk_topic="/pi_vla/action_chunk",
        max_age_s=0.5,
        max_skew_s=0.06,
        seed=0,
    )

    def __init__(self, policy=None, **kwargs):
        super().__init__("pi_vla_policy", **kwargs)
        self.p = declare(self, **self.PARAMETERS)
        self.profile = load_profile(self.p.profile)
        self.runner = self._make_runner(policy)
        self.policy = self.runner.policy
        if getattr(self.policy, "untrained", False):
            self.get_logger().warning(f"policy {self.p.policy!r} has UNTRAINED random weights: plumbing only")
        meta = self.policy.metadata
        if meta.action_dim != self.profile.action_dim:
            raise ValueError(f"policy {meta.name} outputs {meta.action_dim} dims, profile {self.profile.name} "
                             f"needs {self.profile.action_dim}")
        self.scheduler = ChunkScheduler(ChunkingConfig(horizon=meta.horizon, execute_steps=self.p.execute_steps,
                                                       dt=meta.dt, margin_steps=self.p.margin_steps))
        self.obs_core = ObservationCore(self.profile, max_age_s=self.p.max_age_s, max_skew_s=self.p.max_skew_s)
        self.rejections = Rejections(self)
        self.language = ""
        self.latencies: list[float] = []       # seconds, as experienced by the loop
        self.compute_times: list[float] = []   # seconds of wall-clock compute
        self.observation_ages: list[float] = []
        self.chunk_log: list[dict] = []        # per chunk: stamp, prompt, latency (for reports and tests)
        self._waiting_logged = False
        self._blocked_reason: str | None = None
        self._submitted_prompt = ""
        self._submitted_rtc: dict | None = None   # real-time chunking's frozen / overlap steps of that request
        self._episode_start = -float("inf")
        self._executing: tuple[float, float, np.ndarray] | None = None   # last published chunk: stamp, dt, actions

        prefix = self.p.observation_prefix.rstrip("/")
        self.create_subscription(msgs.JointState, f"{prefix}/joint_states", self._on_state, 10)
        for cam in self.profile.cameras:
            self.create_subscription(msgs.Image, f"{prefix}/{cam.name}/image_raw",
                                     lambda m, c=cam.name: self._on_image(c, m), 2)
        self.create_subscription(msgs.String, self.p.language_topic, self._on_language, LATCHED_QOS)
        self.chunk_pub = self.create_publisher(msgs.JointTrajectory, self.p.chunk_topic, 10)
        self.latency_pub = self.create_publisher(msgs.Float64, "/pi_vla/inference_latency", 10)
        self.info_pub = self.create_publisher(msgs.String, "/pi_vla/chunk_info", 10)
        self.create_timer(1.0 / self.p.tick_rate_hz, self._tick)

    def _make_runner(self, policy):
        spec = PolicySpec(self.p.policy, self.p.profile, self.p.checkpoint or None, self.p.allow_untrained,
                          self.p.device, self.p.seed, int(self.p.torch_threads), self.p.warmup,
                          int(self.p.server_nice), float(self.p.advantage_guidance))
        mode = self.p.inference_mode
        if mode == "process":
            if policy is not None:
                raise ValueError("an in-memory policy cannot run in a policy server process: use inference_mode "
                                 "'thread' or 'simulated'")
            return ProcessRunner(spec, on_done=self.create_guard_condition(self._tick).trigger)
        if mode not in ("thread", "simulated"):
            raise ValueError(f"inference_mode must be 'process', 'thread' or 'simulated', got {mode!r}")
        if policy is None:
            policy = spec.build()
        elif self.p.warmup:
            policy.infer(dummy_observation(self.profile))
            policy.reset()
        if mode == "simulated":
            return SimulatedLatencyRunner(policy, self.p.simulated_latency_s)
        return ThreadedRunner(policy, on_done=self.create_guard_condition(self._tick).trigger)

    # -- inputs ---------------------------------------------------------------------------------
    def _on_state(self, msg) -> None:
        try:
            self.obs_core.on_joint_state(to_sec(msg.header.stamp), msg.name, msg.position)
        except RejectedInput as e:
            self.rejections(e, "observation state")

    def _on_image(self, camera: str, msg) -> None:
        try:
            self.obs_core.on_image(camera, to_sec(msg.header.stamp), msg.width, msg.height, msg.encoding,
                                   msg.step, msg.data)
        except RejectedInput as e:
            self.rejections(e, camera)

    def _on_language(self, msg) -> None:
        if msg.data != self.language:
            self.get_logger().info(f"language: {msg.data!r}")
        self.language = msg.data

    # -- the loop -------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = now_sec(self)
        result = self.runner.poll(now)
        if result is not None and result.requested_at >= self._episode_start:  # else: from a previous episode
            self._publish(result, now)
        if not self.scheduler.should_request(now, self.runner.in_flight):
            return
        if not self.language:
            if not self._waiting_logged:
                self.get_logger().info(f"waiting for language on {self.p.language_topic}")
                self._waiting_logged = True
            return
        try:
            synced = self.obs_core.latest(now)
        except RejectedInput as e:
            if e.reason != self._blocked_reason and e.reason != "no_data":
                self.rejections(e, "observation")     # counted once per blocked stretch, not every tick
            self._blocked_reason = e.reason
            return
        self._blocked_reason = None
        self.observation_ages.append(now - synced.stamp)
        committed = self._committed(synced.stamp, now) if self.p.real_time_chunking else None
        obs = Observation(images=synced.images, state=synced.state, prompt=self.language, stamp=synced.stamp,
                          committed=committed)
        self._submitted_prompt = self.language
        self._submitted_rtc = None if committed is None else {"frozen": committed.frozen, "overlap": committed.overlap}
        self.runner.submit(obs, now)

    def _committed(self, stamp: float, now: float) -> CommittedActions | None:
        """The executing chunk resampled onto the next chunk's time grid (stamp + i dt), for real-time chunking.

        Steps before the expected arrival (observation age + the scheduler's delay estimate) will already have been
        executed from the current chunk: they are frozen. Past the current chunk's end nothing is committed.
        """
        if self._executing is None:
            return None
        prev_stamp, prev_dt, prev = self._executing
        meta = self.policy.metadata
        grid = stamp + meta.dt * np.arange(meta.horizon)
        prev_times = prev_stamp + prev_dt * np.arange(len(prev))
        overlap = int(np.searchsorted(grid, prev_times[-1] + 1e-9, side="right"))
        if overlap == 0:
            return None
        frozen = math.ceil((now - stamp) / meta.dt - 1e-9) + self.scheduler.delay_steps()
        rows = np.stack([np.interp(grid, prev_times, prev[:, j]) for j in range(prev.shape[1])], axis=1)
        return CommittedActions(rows.astype(np.float32), min(max(frozen, 0), overlap), overlap)

    def _publish(self, result, now: float) -> None:
        if result.error is not None:
            self.rejections(RejectedInput("inference_error", repr(result.error)), "policy")
            return
        chunk = result.chunk
        actions = np.asarray(chunk.actions, dtype=np.float64)
        if actions.shape != (self.policy.metadata.horizon, self.profile.action_dim) or not np.all(np.isfinite(actions)):
            self.rejections(RejectedInput("bad_policy_output", f"shape {actions.shape}, finite "
                                                              f"{bool(np.all(np.isfinite(actions)))}"), "policy")
            return
        msg = msgs.JointTrajectory()
        msg.header.stamp = to_stamp(chunk.stamp)
        msg.joint_names = list(self.profile.action_names)
        msg.points = [msgs.JointTrajectoryPoint(positions=row.tolist(), time_from_start=to_duration(i * chunk.dt))
                      for i, row in enumerate(actions)]
        self.chunk_pub.publish(msg)
        self._executing = (chunk.stamp, chunk.dt, actions)
        self.scheduler.on_chunk(now, result.latency_s)
        self.latencies.append(result.latency_s)
        self.compute_times.append(result.compute_s)
        info = {"stamp": chunk.stamp, "prompt": self._submitted_prompt, "requested_at": result.requested_at,
                "latency_s": result.latency_s, "compute_s": result.compute_s, "published_at": now,
                "rtc": self._submitted_rtc}
        self.chunk_log.append(info)
        self.latency_pub.publish(msgs.Float64(data=result.latency_s))
        self.info_pub.publish(msgs.String(data=json.dumps(info)))

    def reset_episode(self) -> None:
        """A new episode: forget the chunk schedule, buffered observations and language; an inference still in
        flight is dropped when it returns; the policy re-seeds its sampling noise."""
        self._episode_start = now_sec(self)
        self.scheduler = ChunkScheduler(self.scheduler.config)
        self.obs_core = ObservationCore(self.profile, max_age_s=self.p.max_age_s, max_skew_s=self.p.max_skew_s)
        self.language = ""
        self._executing = None
        self._waiting_logged = False
        self._blocked_reason = None
        if hasattr(self.runner, "policy") and hasattr(self.runner.policy, "reset") and self.runner.policy is not self.runner:
            self.runner.policy.reset()

    def destroy_node(self):
        self.runner.shutdown()
        return super().destroy_node()


def main(args=None):
    run_node(PolicyNode, args)
