"""Running the policy without blocking the control loop.

Two runners with one interface. ``ThreadedRunner`` (real robots, real-time runs) computes in a worker
thread; torch releases the GIL, so the 50 Hz executor keeps its timing. ``SimulatedLatencyRunner``
(deterministic tests on simulated time) computes at once but hands the result over only when the
simulated clock has advanced by the configured latency, so the graph sees the same asynchrony
without depending on how fast the test machine is.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from pi_vla_ros.policies.base import ActionChunk, Observation, Policy


@dataclass(frozen=True)
class InferenceResult:
    chunk: ActionChunk | None
    error: Exception | None
    latency_s: float          # what the control loop experienced (wall or simulated)
    compute_s: float          # wall-clock compute time of infer()
    requested_at: float       # ROS time of the request


def _timed_infer(policy: Policy, obs: Observation) -> tuple[ActionChunk | None, Exception | None, float]:
    start = time.perf_counter()
    try:
        chunk, error = policy.infer(obs), None
    except Exception as exc:  # noqa: BLE001 - reported to the node, which logs and counts it
        chunk, error = None, exc
    return chunk, error, time.perf_counter() - start


class ThreadedRunner:
    def __init__(self, policy: Policy, on_done: Callable[[], None] | None = None):
        self.policy = policy
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pi_vla_infer")
        self._future: Future | None = None
        self._requested_at = 0.0
        self._on_done = on_done
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> bool:
        return self._future is not None

    def submit(self, obs: Observation, now: float) -> None:
        with self._lock:
            assert self._future is None, "one inference at a time"
            self._requested_at = now
            self._future = self._pool.submit(_timed_infer, self.policy, obs)
            if self._on_done is not None:
                self._future.add_done_callback(lambda _f: self._on_done())

    def poll(self, now: float) -> InferenceResult | None:
        with self._lock:
            if self._future is None or not self._future.done():
                return None
            chunk, error, compute = self._future.result()
            self._future = None
            # What the loop experienced: request to hand-over on its own clock (>= compute time).
            return InferenceResult(chunk, error, max(compute, now - self._requested_at), compute,
                                   self._requested_at)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class SimulatedLatencyRunner:
    def __init__(self, policy: Policy, latency_s: float):
        self.policy = policy
        self.latency_s = latency_s
        self._pending: tuple[float, ActionChunk | None, Exception | None, float] | None = None

    @property
    def in_flight(self) -> bool:
        return self._pending is not None

    def submit(self, obs: Observation, now: float) -> None:
        assert self._pending is None, "one inference at a time"
        chunk, error, compute = _timed_infer(self.policy, obs)
        self._pending = (now, chunk, error, compute)

    def poll(self, now: float) -> InferenceResult | None:
        if self._pending is None or now - self._pending[0] < self.latency_s - 1e-9:
            return None
        requested_at, chunk, error, compute = self._pending
        self._pending = None
        return InferenceResult(chunk, error, now - requested_at, compute, requested_at)

    def shutdown(self) -> None:
        pass


def dummy_observation(profile, prompt: str = "warm up") -> Observation:
    """A valid all-zero observation for a profile: warms up a policy before the loop starts."""
    import numpy as np

    images = {c.name: np.zeros((c.height, c.width, 3), np.uint8) for c in profile.cameras}
    return Observation(images=images, state=np.zeros(profile.state_dim, np.float32), prompt=prompt, stamp=0.0)


@dataclass(frozen=True)
class PolicySpec:
    """Everything a policy server process needs to build the policy itself (picklable)."""

    name: str
    profile: str
    checkpoint: str | None
    allow_untrained: bool
    device: str = "cpu"
    seed: int = 0
    torch_threads: int = 1
    warmup: bool = True
    nice: int = 0             # scheduling niceness of a policy server process (0 = same as the caller)
    advantage_guidance: float = 0.0   # Recap's classifier-free guidance weight (0: keep the policy's default)

    def build(self):
        import torch

        from pi_vla_ros.policies.factory import make_policy
        from pi_vla_ros.profiles import load_profile

        torch.set_num_threads(max(1, self.torch_threads))
        profile = load_profile(self.profile)
        policy = make_policy(self.name, profile, self.checkpoint, allow_untrained=self.allow_untrained,
                             device=self.device, seed=self.seed)
        if self.advantage_guidance:
            if not (getattr(policy, "GUIDANCE", False) and policy.config.advantage_conditioned):
                raise ValueError(f"advantage_guidance needs an advantage-conditioned (Recap) π0.6 checkpoint; "
                                 f"{self.name} {self.checkpoint or ''} is not one")
            policy.advantage_guidance = float(self.advantage_guidance)
        if self.warmup:
            policy.infer(dummy_observation(profile))
            policy.reset()
        return policy


def _serve(conn, spec: PolicySpec) -> None:
    """Policy server loop in the child process: one request at a time over a local pipe."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole process group: the parent stops us
    if spec.nice:   # the control loop must win the CPU when both want it; inference can wait a little
        os.nice(spec.nice)
    try:
        policy = spec.build()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", policy.metadata, bool(getattr(policy, "untrained", False))))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request[0] == "stop":
            return
        chunk, error, compute = _timed_infer(policy, request[1])
        conn.send((chunk, None if error is None else f"{type(error).__name__}: {error}", compute))


class ProcessRunner:
    """Inference in a child process (a local policy server).

    In one Python process the GIL is shared: a small model's many short torch calls then delay the
    50 Hz loop by several milliseconds. A separate process shares nothing; requests and chunks cross a
    local pipe (a few hundred KB per request). ``metadata`` and ``untrained`` mirror the policy's.
    """

    def __init__(self, spec: PolicySpec, on_done: Callable[[], None] | None = None, start_timeout_s: float = 300.0):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")   # no fork: torch and GL state do not survive it
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, spec), daemon=True, name="pi_vla_policy_server")
        self._proc.start()
        child.close()
        if not self._conn.poll(start_timeout_s):
            self._proc.terminate()
            raise TimeoutError(f"policy server did not start within {start_timeout_s} s")
        try:
            hello = self._conn.recv()
        except EOFError:
            hello = ("error", f"the process exited with code {self._proc.exitcode}")
        if hello[0] != "ready":
            self._proc.join(timeout=5)
            raise RuntimeError(f"policy server failed to start: {hello[1]}")
        _, self.metadata, self.untrained = hello
        self.policy = self
        self._on_done = on_done
        self._lock = threading.Lock()
        self._requested_at: float | None = None
        self._reply = None
        threading.Thread(target=self._receive, daemon=True, name="pi_vla_policy_client").start()

    def _receive(self) -> None:
        while True:
            try:
                reply = self._conn.recv()      # blocks in C, without the GIL
            except (EOFError, OSError):
                return
            with self._lock:
                self._reply = reply
            if self._on_done is not None:
                try:
                    self._on_done()
                except Exception:  # noqa: BLE001 - the node's context is shutting down; nobody waits any more
                    return

    @property
    def in_flight(self) -> bool:
        return self._requested_at is not None

    def submit(self, obs: Observation, now: float) -> None:
        with self._lock:
            assert self._requested_at is None, "one inference at a time"
            self._requested_at = now
        self._conn.send(("infer", obs))

    def poll(self, now: float) -> InferenceResult | None:
        with self._lock:
            if self._reply is None:
                return None
            (chunk, error, compute), requested_at = self._reply, self._requested_at
            self._reply, self._requested_at = None, None
        err = None if error is None else RuntimeError(error)
        return InferenceResult(chunk, err, max(compute, now - requested_at), compute, requested_at)

    def shutdown(self) -> None:
        try:
            self._conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.terminate()
        self._conn.close()
