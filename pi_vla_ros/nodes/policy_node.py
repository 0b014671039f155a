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

"""Policy node: the VLA action-chunking loop.

Every tick it (1) hands over a finished inference as a trajectory_msgs/JointTrajectory on
``/pi_vla/action_chunk`` (header.stamp = observation time, one point per action), and (2) starts
the next inference when the chunk scheduler says so, on the newest synchronized observation and the
current language from ``/pi_vla/language``. Inference never blocks this loop (see core/inference.py).

A managed (lifecycle) node: ``configure`` loads the policy (in its server process) and warms it up (its actions must
be finite), ``activate`` starts the loop, ``deactivate`` stops requesting chunks and drops the one in flight (the
executor's watchdog then holds), ``cleanup`` stops the policy server. ``autostart`` (the launch files' default)
configures and activates at start-up.

Faults of the inference machinery (core/inference.py: ``policy_server_died``, ``inference_timeout``,
``policy_server_start_failed``, ``non_finite_warmup``) are each logged once as an error and counted with the
rejections. While the runner is not ready (the server is down or restarting) no chunk is requested, so the
executor's watchdog holds once the last chunk runs out; when the server is back the loop resumes by itself.
``inference_mode: remote`` asks a policy server across the network (``pi-vla serve`` or an openpi server; see
RemoteRunner in core/inference.py) with the same faults and hold-and-resume; each chunk's info and ``/diagnostics``
then carry the network round trip (``rtt_s``) next to the inference latency, and RTC's frozen prefix counts the
network delay, since the delay estimate is built from the latencies the loop experienced.
``/diagnostics`` (every ``diagnostics_period_s``): ERROR while the server is down, or after 3 inferences in a row
were rejected (``inference_error``, ``bad_policy_output``); WARN when inactive, waiting for language or for
observations, or when the last chunk was made from a prompt cut to the model's ``max_tokens`` (counted in
``truncated_prompts``: the policy acted on part of the instruction); OK when chunks flow.

Hierarchical policies (config ``subtask``, e.g. ``pi05_hier``) with ``task`` set (the parameter, or per episode a
message on ``task_topic``, which holds until ``reset_episode()``): the prompt is the task; the policy
decodes the current subtask from it and the observation at most every ``subtask_period_s`` (in between the last
prediction is passed on as given; with ``subtask_from_steps``, a task of several steps has the most likely of its
own steps chosen, so the subtask is always one the person asked for, in their words) and acts on it; a
``/pi_vla/language`` other than empty or the task itself is then a person's verbal instruction (what the
instruction node publishes, e.g. after a spoken "next") and overrides the prediction until it is cleared. Each
chunk's subtask is published on ``subtask_topic`` (std_msgs/String, JSON: task, subtask, confidence, source =
predicted | reused | instruction, stamp). A π0-FAST token sequence that is not the encoding of a chunk is rejected
as ``invalid_action_tokens``.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections import deque

import numpy as np

from pi_vla_ros.core.chunking import ChunkScheduler, ChunkingConfig
from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.inference import (PolicySpec, ProcessRunner, RemoteRunner, RemoteSpec, SimulatedLatencyRunner,
                                       ThreadedRunner, warm_up)
from pi_vla_ros.core.instructions import split_subtasks, validate_text
from pi_vla_ros.core.observation import ObservationCore
from pi_vla_ros.nodes.common import (ERROR, GraphNode, LATCHED_QOS, OK, Param, RecentLog, Rejections, SENSOR_QOS, WARN,
                                     declare, destroy_entities, diagnostics, now_sec, run_node, start_managed,
                                     to_duration, to_sec, to_stamp)
from pi_vla_ros.policies.base import CommittedActions, Observation
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import LifecycleNode, TransitionCallbackReturn, msgs


class PolicyNode(GraphNode, LifecycleNode):
    PARAMETERS = dict(
        profile=Param("bimanual", "robot profile: a name in config/ or a profile YAML path"),
        policy=Param("pi06_tiny", "policy config name in the registry"),
        checkpoint=Param("", "checkpoint directory (model.safetensors, config.json, norm_stats.json)"),
        allow_untrained=Param(False, "allow random weights (plumbing tests only); refused otherwise"),
        device=Param("cpu", "torch device for inference (cpu, cuda, cuda:N)"),
        execute_steps=Param(25, "actions of each chunk executed before the next chunk takes over", (1, 1000)),
        margin_steps=Param(2, "extra steps of lead when requesting the next chunk", (0, 100)),
        real_time_chunking=Param(True, "guide each chunk to agree with the actions still executing (RTC)"),
        advantage_guidance=Param(0.0, "Recap checkpoints: classifier-free guidance weight (0: plain conditioning)",
                                 (0.0, 10.0)),
        inference_mode=Param("process", "process: a policy server child (no shared GIL); thread; simulated: a fixed "
                             "latency on simulated time (deterministic tests); remote: a policy server at remote_url",
                             choices=("process", "thread", "simulated", "remote")),
        simulated_latency_s=Param(0.1, "latency of inference_mode simulated, and of remote with remote_lockstep",
                                  (0.0, 10.0)),
        remote_url=Param("ws://127.0.0.1:8000", "remote: the policy server (ws://, or wss:// for TLS)"),
        remote_api_key_file=Param("", "remote: file holding the API key (else the variable remote_api_key_env)"),
        remote_api_key_env=Param("PI_VLA_API_KEY", "remote: environment variable holding the API key"),
        remote_tls_ca=Param("", "remote wss: CA or self-signed server certificate to verify against (default: system)"),
        remote_image_encoding=Param("raw", "remote: raw arrays (openpi-compatible) or jpeg (smaller, lossy; ours only)",
                                    choices=("raw", "jpeg")),
        remote_jpeg_quality=Param(90, "remote jpeg: quality", (1, 100)),
        remote_image_layout=Param("hwc", "remote raw images: hwc, or chw as openpi's ALOHA clients send them",
                                  choices=("hwc", "chw")),
        remote_lockstep=Param(False, "remote on lockstep simulated time (tests, eval): each reply is handed over "
                              "simulated_latency_s of simulated time after its request (time stands still until it "
                              "is here)"),
        torch_threads=Param(1, "inference threads: leave the other cores to the control loop", (1, 256)),
        warmup=Param(True, "one inference on a blank observation during configure"),
        server_nice=Param(10, "policy server niceness: the 50 Hz loop gets the CPU first", (0, 19)),
        inference_timeout_s=Param(0.0, "policy server: a request without a reply after this is a hang, the server is "
                                  "killed and restarted (0: 5x the longest recent inference, at least 2 s)",
                                  (0.0, 3600.0)),
        restart_backoff_s=Param(0.5, "policy server: first restart delay after a fault, doubled per fault in a row",
                                (0.0, 60.0)),
        restart_backoff_max_s=Param(30.0, "policy server: longest restart delay", (0.0, 3600.0)),
        diagnostics_period_s=Param(1.0, "period of /diagnostics", (0.01, 60.0)),
        tick_rate_hz=Param(50.0, "rate of the chunking loop", (1.0, 1000.0)),
        observation_prefix=Param("/pi_vla/observation", "validated observations from pi_vla_observation"),
        language_topic=Param("/pi_vla/language", "language conditioning (std_msgs/String, transient local)"),
        chunk_topic=Param("/pi_vla/action_chunk", "action chunks out (trajectory_msgs/JointTrajectory)"),
        max_age_s=Param(0.5, "observations older than this are not used", (0.01, 60.0)),
        max_skew_s=Param(0.06, "cameras and joint state must lie this close in time", (0.0, 10.0)),
        seed=Param(0, "sampling-noise seed", (0, 2**31 - 1)),
        autostart=Param(True, "configure and activate at start-up (false: wait for a lifecycle manager)"),
        task=Param("", "hierarchical policies: the task prompt (the language topic then overrides the subtask)"),
        subtask_period_s=Param(1.0, "hierarchical: re-predict the subtask at most this often", (0.0, 3600.0)),
        subtask_from_steps=Param(True, "hierarchical: a task of two or more steps (split as typed instructions are) "
                                       "has its subtask chosen among them, by the policy's likelihood; false: "
                                       "decoded as free text"),
        subtask_topic=Param("/pi_vla/subtask", "hierarchical: each chunk's subtask out (std_msgs/String, JSON)"),
        task_topic=Param("/pi_vla/task", "hierarchical: a new task prompt in place of `task` (std_msgs/String, "
                         "transient local; '' restores `task`)"),
    )

    def __init__(self, policy=None, **kwargs):
        super().__init__("pi_vla_policy", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self._given_policy = policy
        self.runner = None
        self.active = False
        self.language = ""
        self.task = ""     # hierarchical: the task prompt (the parameter, or the last one on task_topic)
        self.rejections = Rejections(self)
        # for reports and tests, bounded (hours of running must not grow memory): the last 1,000 chunks, ~12 minutes
        # at execute 35 (a chunk's log entry is ~0.8 KB: a 10,000 bound kept the 1-hour soak's memory growing)
        self.latencies: deque[float] = deque(maxlen=1_000)        # seconds, as experienced by the loop
        self.compute_times: deque[float] = deque(maxlen=1_000)    # seconds of wall-clock compute
        self.observation_ages: deque[float] = deque(maxlen=1_000)
        self.round_trips: deque[float] = deque(maxlen=1_000)      # remote: seconds of network + server, wall clock
        self.chunk_log = RecentLog(keep=1_000)                    # per chunk: stamp, prompt, latency, ...
        self._entities: list = []
        self._runner_ready = True              # as last seen: a change is logged once
        self._rejected_in_a_row: list[str] = []   # reasons of the inferences rejected since the last good chunk
        self.truncated_prompts = 0             # chunks made from a prompt cut to the model's max_tokens
        self._last_prompt_truncated = False
        start_managed(self)

    # -- lifecycle ------------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.profile = load_profile(self.p.profile)
            self.runner = self._make_runner(self._given_policy)
            self.policy = self.runner.policy
            meta = self.policy.metadata
            if meta.action_dim != self.profile.action_dim:
                raise ValueError(f"policy {meta.name} outputs {meta.action_dim} dims, profile {self.profile.name} "
                                 f"needs {self.profile.action_dim}")
        except Exception as exc:  # noqa: BLE001 - any load failure: one clear line, the node stays unconfigured
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            if self.runner is not None:
                self.runner.shutdown()
                self.runner = None
            return TransitionCallbackReturn.FAILURE
        if getattr(self.policy, "untrained", False):
            self.get_logger().warning(f"policy {self.p.policy!r} has UNTRAINED random weights: plumbing only")
        self.scheduler = ChunkScheduler(ChunkingConfig(horizon=meta.horizon, execute_steps=self.p.execute_steps,
                                                       dt=meta.dt, margin_steps=self.p.margin_steps))
        self.obs_core = ObservationCore(self.profile, max_age_s=self.p.max_age_s, max_skew_s=self.p.max_skew_s)
        self._reset_loop_state()
        prefix = self.p.observation_prefix.rstrip("/")
        self._entities = [self.create_subscription(msgs.JointState, f"{prefix}/joint_states", self._on_state,
                                                   SENSOR_QOS)]
        self._entities += [self.create_subscription(msgs.Image, f"{prefix}/{cam.name}/image_raw",
                                                    lambda m, c=cam.name: self._on_image(c, m), SENSOR_QOS)
                           for cam in self.profile.cameras]
        self._entities.append(self.create_subscription(msgs.String, self.p.language_topic, self._on_language,
                                                       LATCHED_QOS))
        self._entities.append(self.create_subscription(msgs.String, self.p.task_topic, self._on_task, LATCHED_QOS))
        self.chunk_pub = self.create_lifecycle_publisher(msgs.JointTrajectory, self.p.chunk_topic, 10)
        self.latency_pub = self.create_publisher(msgs.Float64, "/pi_vla/inference_latency", 10)
        self.info_pub = self.create_publisher(msgs.String, "/pi_vla/chunk_info", 10)
        self.subtask_pub = self.create_publisher(msgs.String, self.p.subtask_topic, 10)   # a task may come later
        self.diag_pub = self.create_publisher(msgs.DiagnosticArray, "/diagnostics", 10)
        self._entities.append(self.create_timer(1.0 / self.p.tick_rate_hz, self._tick))
        self._entities.append(self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._episode_start = now_sec(self)   # a result requested before activation is never published
        self.active = True
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.active = False
        self.scheduler = ChunkScheduler(self.scheduler.config)
        self._executing = None
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.active = False
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        destroy_entities(self, self._entities)
        self._entities = []
        if self.runner is not None:
            self.runner.shutdown()
            self.runner = None

    def _reset_loop_state(self) -> None:
        self._waiting_logged = False
        self._blocked_reason: str | None = None
        self._submitted_prompt = ""
        self._submitted_rtc: dict | None = None   # real-time chunking's frozen / overlap steps of that request
        self._episode_start = -float("inf")
        self._executing: tuple[float, float, np.ndarray] | None = None   # last published chunk: stamp, dt, actions
        self._subtask: tuple[str, float, float] | None = None   # hierarchical: last prediction, when, confidence
        self.task = self.p.task
        self._submitted_source = "predicted"

    def _make_runner(self, policy):
        spec = PolicySpec(self.p.policy, self.p.profile, self.p.checkpoint or None, self.p.allow_untrained,
                          self.p.device, self.p.seed, int(self.p.torch_threads), self.p.warmup,
                          int(self.p.server_nice), float(self.p.advantage_guidance))
        mode = self.p.inference_mode
        if mode == "remote":
            if policy is not None:
                raise ValueError("an in-memory policy cannot be remote: use inference_mode 'thread' or 'simulated'")
            return self._make_remote_runner()
        if mode == "process":
            if policy is not None:
                raise ValueError("an in-memory policy cannot run in a policy server process: use inference_mode "
                                 "'thread' or 'simulated'")
            # results and faults are picked up by the next tick (<= 1 / tick_rate_hz later)
            return ProcessRunner(spec, request_timeout_s=self.p.inference_timeout_s,
                                 backoff_s=self.p.restart_backoff_s, backoff_max_s=self.p.restart_backoff_max_s)
        if policy is None:
            policy = spec.build()
        elif self.p.warmup:
            warm_up(policy, self.profile)
        if mode == "simulated":
            return SimulatedLatencyRunner(policy, self.p.simulated_latency_s)
        return ThreadedRunner(policy)

    def _make_remote_runner(self) -> RemoteRunner:
        from pi_vla_ros.serving.client import read_api_key

        p = self.p
        try:
            key = read_api_key(p.remote_api_key_file, p.remote_api_key_env)
        except ValueError:
            key = ""   # the server then refuses us with HTTP 401: one clear start failure
        spec = RemoteSpec(p.remote_url, key, p.remote_tls_ca, p.remote_image_encoding, int(p.remote_jpeg_quality),
                          p.remote_image_layout)
        return RemoteRunner(spec, self.profile, request_timeout_s=p.inference_timeout_s, backoff_s=p.restart_backoff_s,
                            backoff_max_s=p.restart_backoff_max_s, warmup=p.warmup,
                            lockstep_latency_s=p.simulated_latency_s if p.remote_lockstep else None)

    # -- inputs ---------------------------------------------------------------------------------
    def _on_state(self, msg) -> None:
        try:
            self.obs_core.on_joint_state(to_sec(msg.header.stamp), msg.name, msg.position, now=now_sec(self))
        except RejectedInput as e:
            self.rejections(e, "observation state")

    def _on_image(self, camera: str, msg) -> None:
        try:
            self.obs_core.on_image(camera, to_sec(msg.header.stamp), msg.width, msg.height, msg.encoding,
                                   msg.step, msg.data, now=now_sec(self))
        except RejectedInput as e:
            self.rejections(e, camera)

    def _on_language(self, msg) -> None:
        try:   # anyone can publish here: 1 MB of text would cost seconds of tokenization per chunk
            validate_text(msg.data, kind="language")
        except RejectedInput as e:
            self.rejections(e, "language")
            return
        if msg.data != self.language:
            self.get_logger().info(f"language: {msg.data!r}")
        self.language = msg.data

    def _on_task(self, msg) -> None:
        try:
            validate_text(msg.data, kind="task")
        except RejectedInput as e:
            self.rejections(e, "task")
            return
        task = msg.data or self.p.task
        if task != self.task:
            self.get_logger().info(f"task: {task!r}")
            self._subtask = None    # a prediction for another task is not reused
        self.task = task

    # -- the loop -------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._check_runner()
        if not self.active:
            return
        now = now_sec(self)
        result = self.runner.poll(now)
        if result is not None and result.requested_at >= self._episode_start:  # else: from a previous episode
            self._publish(result, now)
        if not self.runner.ready or not self.scheduler.should_request(now, self.runner.in_flight):
            return
        if not self.language and not self.task:
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
        subtask, choices = None, ()
        if self.task:  # hierarchical: a person's instruction, else the last prediction while it is recent
            choices = tuple(split_subtasks(self.task)) if self.p.subtask_from_steps else ()
            last = self._subtask
            person = self.language if self.language != self.task else ""   # the task itself overrides nothing
            subtask = person or (last[0] if last and now - last[1] < self.p.subtask_period_s else None)
            self._submitted_source = "instruction" if person else "reused" if subtask is not None else "predicted"
        obs = Observation(images=synced.images, state=synced.state, prompt=self.task or self.language,
                          stamp=synced.stamp, committed=committed, subtask=subtask, subtask_choices=choices)
        self._submitted_prompt = self.task or self.language
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

    def _check_runner(self) -> None:
        """Each fault of the runner: one error line, counted; a recovery: one info line."""
        for fault in self.runner.faults():
            self.rejections.counter.add(fault.reason)
            n = self.rejections.counter.as_dict()[fault.reason]
            self.get_logger().error(f"policy server: {fault} (count {n}); no chunks until it is back")
        if self.runner.ready != self._runner_ready:
            self._runner_ready = self.runner.ready
            if self._runner_ready:
                self.get_logger().info(f"policy server ready again (restart {self.runner.restarts})")

    def _publish(self, result, now: float) -> None:
        if result.error is not None:
            # π0-FAST: not the encoding of a chunk (the exception itself in process, its text from a server)
            invalid = "InvalidActionTokens" in f"{type(result.error).__name__}: {result.error}"
            self._reject(RejectedInput("invalid_action_tokens" if invalid else "inference_error", repr(result.error)))
            return
        chunk = result.chunk
        actions = np.asarray(chunk.actions, dtype=np.float64)
        if actions.shape != (self.policy.metadata.horizon, self.profile.action_dim) or not np.all(np.isfinite(actions)):
            self._reject(RejectedInput("bad_policy_output", f"shape {actions.shape}, finite "
                                                            f"{bool(np.all(np.isfinite(actions)))}"))
            return
        self._rejected_in_a_row = []
        self._last_prompt_truncated = bool(chunk.info.get("prompt_truncated", False))
        self.truncated_prompts += self._last_prompt_truncated
        msg = msgs.JointTrajectory()
        msg.header.stamp = to_stamp(chunk.stamp)
        msg.joint_names = list(self.profile.action_names)
        msg.points = [msgs.JointTrajectoryPoint(positions=row.tolist(), time_from_start=to_duration(i * chunk.dt))
                      for i, row in enumerate(actions)]
        self.chunk_pub.publish(msg)
        self._executing = (chunk.stamp, chunk.dt, actions)
        if self.task and "subtask" in chunk.info:
            source, confidence = self._submitted_source, float(chunk.info["subtask_confidence"])
            if source == "predicted":
                self._subtask = (chunk.info["subtask"], now, confidence)
            elif source == "reused" and self._subtask is not None:
                confidence = self._subtask[2]   # the prediction's own, not the "given" 1.0
            self.subtask_pub.publish(msgs.String(data=json.dumps(
                {"task": self._submitted_prompt, "subtask": chunk.info["subtask"], "stamp": chunk.stamp,
                 "confidence": round(confidence, 4), "source": source})))
        self.scheduler.on_chunk(now, result.latency_s)
        self.latencies.append(result.latency_s)
        self.compute_times.append(result.compute_s)
        info = {"stamp": chunk.stamp, "prompt": self._submitted_prompt, "requested_at": result.requested_at,
                "latency_s": result.latency_s, "compute_s": result.compute_s, "published_at": now,
                "rtc": self._submitted_rtc}
        if result.rtt_s is not None:
            self.round_trips.append(result.rtt_s)
            info["rtt_s"] = result.rtt_s
        self.chunk_log.append(info)
        self.latency_pub.publish(msgs.Float64(data=result.latency_s))
        self.info_pub.publish(msgs.String(data=json.dumps(info)))

    def _reject(self, error: RejectedInput) -> None:
        self.rejections(error, "policy")
        self._rejected_in_a_row = (self._rejected_in_a_row + [error.reason])[-3:]

    def _publish_diagnostics(self) -> None:
        self._check_runner()
        r = self.runner
        values = {"chunks": len(self.chunk_log), "server_ready": r.ready, "restarts": r.restarts,
                  "last_error": "" if r.last_error is None else str(r.last_error),
                  "rejected": self.rejections.counter.as_dict(), "active": self.active,
                  "truncated_prompts": self.truncated_prompts}
        if self.round_trips:   # remote: network round trip next to the latency the loop experienced
            values["rtt_ms_p50"] = round(1e3 * float(np.median(self.round_trips)), 2)
            values["latency_ms_p50"] = round(1e3 * float(np.median(self.latencies)), 2)
        if not self.active:
            level, message = WARN, "inactive: not requesting chunks"
        elif not r.ready:
            level, message = ERROR, f"policy server down, restarting: {r.last_error}"
        elif len(self._rejected_in_a_row) == 3:
            level, message = ERROR, f"the last 3 inferences were rejected: {', '.join(self._rejected_in_a_row)}"
        elif not self.language and not self.task:
            level, message = WARN, f"waiting for language on {self.p.language_topic}"
        elif self._blocked_reason is not None:
            level, message = WARN, f"waiting for observations: {self._blocked_reason}"
        elif self._last_prompt_truncated:
            shown = textwrap.shorten(self._submitted_prompt, 60, placeholder=" ...")   # over-long by definition
            level, message = WARN, f"prompt {shown!r} cut to the model's max_tokens: the policy acts on part of it"
        else:
            level, message = OK, "running"
        self.diag_pub.publish(msgs.DiagnosticArray(header=msgs.Header(stamp=self.get_clock().now().to_msg()),
                                                   status=[diagnostics(self.get_name(), level, message, values)]))

    def reset_episode(self) -> None:
        """A new episode: forget the chunk schedule, buffered observations, language, the last subtask prediction
        and a task given on ``task_topic`` (back to the ``task`` parameter).

        An inference still in flight is dropped when it returns; the policy re-seeds its sampling noise.
        """
        self._episode_start = now_sec(self)
        self.scheduler = ChunkScheduler(self.scheduler.config)
        self.obs_core = ObservationCore(self.profile, max_age_s=self.p.max_age_s, max_skew_s=self.p.max_skew_s)
        self.language = ""
        self.task = self.p.task
        self._subtask = None
        self._executing = None
        self._waiting_logged = False
        self._blocked_reason = None
        if self.runner.policy is not self.runner:   # in process only: a policy server keeps its noise stream
            self.runner.policy.reset()
        elif hasattr(self.runner, "reset_policy"):   # remote: the server re-seeds before the next request
            self.runner.reset_policy()

    def destroy_node(self):
        self.active = False
        self._release()
        return super().destroy_node()


def main(args=None):
    return run_node(PolicyNode, args)
