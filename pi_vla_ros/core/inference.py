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
