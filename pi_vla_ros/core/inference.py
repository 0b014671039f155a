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

"""Running the policy without blocking the control loop, and supervising the policy server.

Three runners with one interface: ``submit(obs, now)`` (one request at a time), ``poll(now)`` (the result once it is
there), ``in_flight``, ``shutdown()``, and a small status: ``ready`` (a request submitted now would be served),
``last_error`` (the most recent :class:`InferenceFault`, kept after recovery; None if none), ``restarts``, and
``faults()``, which hands over each fault exactly once (the node logs and counts them).

- ``ThreadedRunner`` computes in a worker thread; torch releases the GIL, so the 50 Hz executor keeps its timing.
- ``SimulatedLatencyRunner`` (deterministic tests on simulated time) computes at once but hands the result over
  only when the simulated clock has advanced by the configured latency, so the graph sees the same asynchrony
  without depending on how fast the test machine is.
- ``ProcessRunner`` (real robots, ``pi-vla launch``) runs the policy in a spawned child, the policy server, and
  supervises it. Semantics:

  1. Start: the child builds the policy and runs one warm-up inference on a blank observation, whose actions must
     all be finite (else ``non_finite_warmup``); any other build error, an exit, or no hello within
     ``start_timeout_s`` is ``policy_server_start_failed``. The constructor waits for the first start and raises
     the InferenceFault when it fails (``wait=False``: it starts in the background like a restart).
  2. Death: the child exiting or its pipe closing, with or without a request in flight, is ``policy_server_died``,
     seen at once (the closed pipe wakes the supervisor).
  3. Hang: a request without a reply after the per-request timeout is ``inference_timeout``; the child is killed
     (SIGKILL: a stopped or wedged process cannot ignore it). The timeout is ``request_timeout_s`` when set, else
     ``max(timeout_floor_s, timeout_factor * the longest of the last 20 round trips)``, the server's warm-up
     counting as the first round trip; ``initial_timeout_s`` before anything was measured.
  4. Restart: after a fault the runner is not ready at once (``submit`` is then ignored; a request in flight is
     dropped: ``in_flight`` turns false and ``poll`` never returns it), the child is killed, and a supervisor
     thread starts a new one after ``backoff_s * 2**k`` (at most ``backoff_max_s``), k = consecutive faults
     without a served inference in between. The caller's loop never waits for any of this: requests are sent
     by a short-lived thread (a large observation blocks until the server reads it; a hung server never does),
     replies and faults are picked up by the supervisor.
  5. The child ignores SIGINT (Ctrl-C reaches the whole process group; ``shutdown`` stops it: a "stop" message to
     an idle server, SIGKILL to a busy, hung or loading one).
- ``RemoteRunner`` (``inference_mode: remote``) uses a policy server across the network (``pi-vla serve``, or an
  openpi server: serving/protocol.py) with ProcessRunner's interface and fault semantics:

  1. Start: connect (API key, TLS), read the metadata, one warm-up request on a blank observation whose actions must
     be finite (``non_finite_warmup``) and give the horizon where the metadata does not; a refused key, no server,
     another action width than the profile's, or another policy than before a reconnect: ``policy_server_start_failed``.
  2. The connection closing or failing, with or without a request in flight: ``policy_server_died``.
  3. No reply within the timeout (ProcessRunner's rule over the measured round trips, the warm-up's first):
     ``inference_timeout``; the connection is closed (a late reply must never be taken for the next request's).
  4. Reconnect after ``backoff_s * 2**k`` (at most ``backoff_max_s``), k = faults without a served inference between;
     not ready meanwhile (``submit`` ignored, the request in flight dropped). A text frame from the server (bad
     request, rate limit) fails only that request: an :class:`InferenceResult` with the error, no fault.
  5. One worker thread encodes (raw or JPEG images), sends and waits; ``submit`` and ``poll`` never block, except in
     lockstep (``lockstep_latency_s`` set: simulated time, tests and evaluation): the reply is handed over exactly
     ``lockstep_latency_s`` of simulated time after the request, and ``poll`` waits for a reply still on the wire
     (simulated time stands still meanwhile), so what the simulated robot sees does not depend on the machine.

  Each result carries ``rtt_s`` (send to reply, wall clock) and the server's ``server_timing``. ``reset_policy()``
  (a new episode), and the first request after a warm-up, ask the server to ``reset()`` the policy first, so its
  noise stream starts where a local policy's would.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from pi_vla_ros.policies.base import ActionChunk, Observation, Policy

FAULTS = ("policy_server_died", "inference_timeout", "policy_server_start_failed", "non_finite_warmup")


class InferenceFault(RuntimeError):
    """A failure of the inference machinery itself (not of one request): ``reason`` is one of :data:`FAULTS`."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"[{reason}] {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class InferenceResult:
    chunk: ActionChunk | None
    error: Exception | None
    latency_s: float          # what the control loop experienced (wall or simulated)
    compute_s: float          # wall-clock compute time of infer()
    requested_at: float       # ROS time of the request
    rtt_s: float | None = None            # remote: send to reply on the wall clock (network + server)
    server_timing: dict | None = None     # remote: the server's per-stage timing (infer_ms, queue_ms, ...)


def _timed_infer(policy: Policy, obs: Observation) -> tuple[ActionChunk | None, Exception | None, float]:
    start = time.perf_counter()
    try:
        chunk, error = policy.infer(obs), None
    except Exception as exc:  # noqa: BLE001 - reported to the node, which logs and counts it
        chunk, error = None, exc
    return chunk, error, time.perf_counter() - start


class _InProcess:
    """Status of the in-process runners: the policy lives in this process, so it is always there."""

    ready = True
    last_error: InferenceFault | None = None
    restarts = 0

    def faults(self) -> list[InferenceFault]:
        return []


class ThreadedRunner(_InProcess):
    """Inference in a worker thread of this process."""

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


class SimulatedLatencyRunner(_InProcess):
    """Inference at once, handed over ``latency_s`` of (simulated) time later: deterministic on simulated time."""

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


def warm_up(policy: Policy, profile) -> float:
    """One inference on a blank observation (first-call costs are paid before the loop starts), then ``reset()``.
    Returns its compute time; raises what ``infer`` raised (but π0-FAST's invalid action tokens), or
    ``non_finite_warmup`` when an action is not finite (such a policy would only ever produce rejected chunks: it
    must never report ready).
    """
    import numpy as np

    chunk, error, compute = _timed_infer(policy, dummy_observation(profile))
    if type(error).__name__ == "InvalidActionTokens":
        # π0-FAST on a blank image may decode no chunk at all: the first-call costs are paid all the same, and
        # the loop rejects and counts such a chunk (invalid_action_tokens) whenever it happens
        policy.reset()
        return compute
    if error is not None:
        raise error
    actions = np.asarray(chunk.actions, dtype=np.float64)
    bad = int(actions.size - np.count_nonzero(np.isfinite(actions)))
    if bad:
        raise InferenceFault("non_finite_warmup", f"{policy.metadata.name}: {bad} of {actions.size} warm-up "
                                                  f"actions are not finite")
    policy.reset()
    return compute


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

    def load(self):
        """(policy, profile), not warmed up."""
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
        return policy, profile

    def build(self):
        policy, profile = self.load()
        if self.warmup:
            warm_up(policy, profile)
        return policy


def _serve(conn, spec: PolicySpec) -> None:
    """Policy server loop in the child process: one request at a time over a local pipe."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole process group: the parent stops us
    if spec.nice:   # the control loop must win the CPU when both want it; inference can wait a little
        os.nice(spec.nice)
    try:
        policy, profile = spec.load()
        warm_s = warm_up(policy, profile) if spec.warmup else None
    except Exception as exc:  # noqa: BLE001 - reported to the parent with its reason
        if isinstance(exc, InferenceFault):
            conn.send(("error", exc.reason, exc.message))
        else:
            conn.send(("error", "policy_server_start_failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", policy.metadata, bool(getattr(policy, "untrained", False)), warm_s))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request[0] == "stop":
            return
        chunk, error, compute = _timed_infer(policy, request[1])
        conn.send((chunk, None if error is None else f"{type(error).__name__}: {error}", compute))


def _send(conn, data: bytes) -> None:
    try:
        conn.send_bytes(data)
    except OSError:   # the server is gone: the supervisor sees it and reports it
        pass


def _request_timeout(runner) -> float:
    """A fixed ``request_timeout_s`` if set, else ``timeout_factor`` times the slowest recent round trip (at least
    ``timeout_floor_s``; ``initial_timeout_s`` before the first): the rule ProcessRunner and RemoteRunner share.
    """
    if runner.request_timeout_s > 0:
        return runner.request_timeout_s
    trips = list(runner._round_trips)
    return max(runner.timeout_floor_s, runner.timeout_factor * max(trips)) if trips else runner.initial_timeout_s


def _exit_text(code: int | None) -> str:
    return "still running" if code is None else f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class ProcessRunner:
    """Inference in a supervised child process (a local policy server): see the module docstring.

    In one Python process the GIL is shared: a small model's many short torch calls then delay the
    50 Hz loop by several milliseconds. A separate process shares nothing; requests and chunks cross a
    local pipe (a few hundred KB per request). ``metadata`` and ``untrained`` mirror the policy's.
    """

    def __init__(self, spec: PolicySpec, on_done: Callable[[], None] | None = None, *, start_timeout_s: float = 300.0,
                 request_timeout_s: float = 0.0, timeout_floor_s: float = 2.0, timeout_factor: float = 5.0,
                 initial_timeout_s: float = 30.0, backoff_s: float = 0.5, backoff_max_s: float = 30.0,
                 wait: bool = True):
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")   # no fork: torch and GL state do not survive it
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s, self.initial_timeout_s = request_timeout_s, initial_timeout_s
        self.timeout_floor_s, self.timeout_factor = timeout_floor_s, timeout_factor
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.policy = self
        self.metadata = None
        self.untrained = False
        self.ready = False
        self.last_error: InferenceFault | None = None
        self.restarts = 0                          # successful starts after the first
        self._started = False
        self._on_done = on_done
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proc = self._conn = None
        self._faults: list[InferenceFault] = []
        self._round_trips: deque[float] = deque(maxlen=20)
        self._failures = 0                         # consecutive faults without a served inference: the backoff
        self._requested_at: float | None = None    # ROS time of the request in flight
        self._sent_at = self._deadline = self._timeout = 0.0
        self._reply = None
        if wait:
            fault = self._start()
            if fault is not None:
                self._kill()
                raise fault
        self._thread = threading.Thread(target=self._supervise, args=(not wait,), daemon=True,
                                        name="pi_vla_policy_supervisor")
        self._thread.start()

    # -- the caller's side ----------------------------------------------------------------------
    @property
    def in_flight(self) -> bool:
        return self._requested_at is not None

    @property
    def pid(self) -> int | None:
        """The policy server's process id (None while none runs)."""
        proc = self._proc
        return None if proc is None else proc.pid

    @property
    def timeout_s(self) -> float:
        """The timeout a request submitted now gets (module docstring, 3)."""
        return _request_timeout(self)

    def submit(self, obs: Observation, now: float) -> None:
        """Send one request; ignored while not ready (the fault that made it so is reported by ``faults()``)."""
        from multiprocessing.reduction import ForkingPickler

        if not self.ready:
            return
        data = ForkingPickler.dumps(("infer", obs))   # here: an unpicklable observation is the caller's bug
        with self._lock:
            assert self._requested_at is None, "one inference at a time"
            if not self.ready:
                return
            self._requested_at, self._sent_at, self._timeout = now, time.monotonic(), self.timeout_s
            self._deadline = self._sent_at + self._timeout
            conn = self._conn
        threading.Thread(target=_send, args=(conn, data), daemon=True, name="pi_vla_policy_send").start()

    def poll(self, now: float) -> InferenceResult | None:
        with self._lock:
            if self._reply is None:
                return None
            (chunk, error, compute), requested_at = self._reply, self._requested_at
            self._reply, self._requested_at = None, None
        err = None if error is None else RuntimeError(error)
        return InferenceResult(chunk, err, max(compute, now - requested_at), compute, requested_at)

    def faults(self) -> list[InferenceFault]:
        with self._lock:
            faults, self._faults = self._faults, []
        return faults

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            idle, self.ready = self.ready and self._requested_at is None, False
            conn, proc = self._conn, self._proc
        if idle and conn is not None:   # a clean stop; a busy, hung or loading server is killed below
            try:
                conn.send(("stop",))
                proc.join(timeout=5)
            except OSError:
                pass
        self._thread.join(timeout=5)    # it wakes at least every 0.2 s
        self._kill()

    # -- the supervisor's side ------------------------------------------------------------------
    def _supervise(self, starting: bool) -> None:
        while not self._stop.is_set():
            try:
                fault = self._start() if starting else self._serve_replies()
            except Exception as exc:  # noqa: BLE001 - e.g. no process could be spawned: a fault, not a dead thread
                fault = InferenceFault("policy_server_start_failed" if starting else "policy_server_died",
                                       f"{type(exc).__name__}: {exc}")
            if self._stop.is_set():
                break
            if fault is None:   # (re)started: serve
                starting = False
                self._notify()
                continue
            self._report(fault)
            self._kill()
            delay = min(self.backoff_max_s, self.backoff_s * 2 ** self._failures)
            self._failures += 1
            if self._stop.wait(delay):
                break
            starting = True
        self._kill()

    def _start(self) -> InferenceFault | None:
        """Spawn a server and wait for its hello; on success it is the current server, and ready."""
        conn, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child, self.spec), daemon=True, name="pi_vla_policy_server")
        proc.start()
        child.close()
        with self._lock:   # shutdown() joins this thread before it kills what is here: no server is left behind
            self._proc, self._conn = proc, conn
        deadline = time.monotonic() + self.start_timeout_s
        while not conn.poll(0.2):
            if self._stop.is_set():
                return InferenceFault("policy_server_start_failed", "shut down while starting")
            if time.monotonic() > deadline:
                return InferenceFault("policy_server_start_failed",
                                      f"the policy server did not start within {self.start_timeout_s:g} s")
        try:
            hello = conn.recv()
        except (EOFError, OSError):
            proc.join(timeout=5)
            return InferenceFault("policy_server_start_failed",
                                  f"the policy server exited while starting ({_exit_text(proc.exitcode)})")
        if hello[0] != "ready":
            return InferenceFault(hello[1], hello[2])
        _, self.metadata, self.untrained, warm_s = hello
        with self._lock:
            self._round_trips.clear()
            if warm_s is not None:
                self._round_trips.append(warm_s)
            self.restarts += self._started
            self._started = self.ready = True
        return None

    def _serve_replies(self) -> InferenceFault | None:
        """Hand replies over until the server fails (returns why) or the runner stops (None)."""
        conn, proc = self._conn, self._proc
        while not self._stop.is_set():
            with self._lock:
                deadline = self._deadline if self._requested_at is not None and self._reply is None else None
            wait = 0.2 if deadline is None else min(0.2, max(0.0, deadline - time.monotonic()))
            try:
                if not conn.poll(wait):
                    if deadline is not None and time.monotonic() >= deadline:
                        return InferenceFault("inference_timeout", f"no reply within {self._timeout:.2f} s: the "
                                                                   f"policy server is hung and is killed")
                    continue
                reply = conn.recv()
            except (EOFError, OSError):
                proc.join(timeout=1)
                return InferenceFault("policy_server_died", f"the policy server is gone ({_exit_text(proc.exitcode)})")
            with self._lock:
                if self._requested_at is None or self._reply is not None:
                    continue      # nothing asked for it (cannot happen): never hand it over
                self._round_trips.append(time.monotonic() - self._sent_at)
                self._reply = reply
                if reply[1] is None:
                    self._failures = 0
            self._notify()
        return None

    def _report(self, fault: InferenceFault) -> None:
        with self._lock:
            self.ready = False
            self.last_error = fault
            self._faults.append(fault)
            if self._reply is None:   # the request in flight is lost with its server
                self._requested_at = None
        self._notify()

    def _kill(self) -> None:
        with self._lock:
            proc, self._proc, self._conn = self._proc, None, None
        # The pipe is not closed here: a request still being sent holds it, and a closed descriptor could be reused
        # by the next server's pipe; it closes when its last user lets go.
        if proc is not None:
            if proc.is_alive():
                proc.kill()   # SIGKILL: a stopped or wedged server cannot ignore it
            proc.join(timeout=5)

    def _notify(self) -> None:
        if self._on_done is not None:
            try:
                self._on_done()
            except Exception:  # noqa: BLE001 - the node's context is shutting down; nobody waits any more
                pass


@dataclass(frozen=True)
class RemoteSpec:
    """Where and how to reach a remote policy server."""

    url: str                      # ws://host:port or wss://host:port
    api_key: str = ""
    ca_file: str = ""             # wss: the CA (or the server's self-signed certificate) to verify it against
    image_encoding: str = "raw"   # raw | jpeg (ours only: an openpi server reads raw arrays)
    jpeg_quality: int = 90
    image_layout: str = "hwc"     # raw images as [H, W, 3], or [3, H, W] as openpi's ALOHA clients send them
    open_timeout_s: float = 10.0


class RemoteRunner:
    """Inference on a remote policy server (module docstring); ``metadata`` and ``untrained`` are the server's."""

    def __init__(self, spec: RemoteSpec, profile, on_done: Callable[[], None] | None = None, *,
                 request_timeout_s: float = 0.0, timeout_floor_s: float = 2.0, timeout_factor: float = 5.0,
                 initial_timeout_s: float = 30.0, backoff_s: float = 0.5, backoff_max_s: float = 30.0,
                 warmup: bool = True, lockstep_latency_s: float | None = None, wait: bool = True):
        if spec.image_encoding not in ("raw", "jpeg") or spec.image_layout not in ("hwc", "chw"):
            raise ValueError(f"image_encoding raw|jpeg and image_layout hwc|chw, got {spec.image_encoding!r}, "
                             f"{spec.image_layout!r}")
        self.spec, self.profile = spec, profile
        self.request_timeout_s, self.initial_timeout_s = request_timeout_s, initial_timeout_s
        self.timeout_floor_s, self.timeout_factor = timeout_floor_s, timeout_factor
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.warmup, self.lockstep_latency_s = warmup, lockstep_latency_s
        self.policy = self
        self.metadata = None
        self.untrained = False
        self.ready = False
        self.last_error: InferenceFault | None = None
        self.restarts = 0                          # successful reconnections after the first connection
        self._client = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._on_done = on_done
        self._faults: list[InferenceFault] = []
        self._round_trips: deque[float] = deque(maxlen=20)
        self._failures = 0
        self._requested_at: float | None = None
        self._pending: Observation | None = None   # submitted, not yet taken by the worker
        self._reply: tuple | None = None           # (chunk, error, rtt_s, server_timing)
        self._reset_next = False                   # the next request asks the server to reset the policy
        self._timeout = 0.0
        connected = False
        if wait:
            fault = self._connect()
            if fault is not None:
                raise fault
            connected = True
        self._thread = threading.Thread(target=self._run, args=(connected,), daemon=True, name="pi_vla_remote")
        self._thread.start()

    # -- the caller's side ----------------------------------------------------------------------
    @property
    def in_flight(self) -> bool:
        return self._requested_at is not None

    @property
    def timeout_s(self) -> float:
        """The timeout a request submitted now gets (ProcessRunner's rule)."""
        return _request_timeout(self)

    def submit(self, obs: Observation, now: float) -> None:
        """Hand one request to the worker; ignored while not ready (the fault is reported by ``faults()``)."""
        with self._cond:
            if not self.ready:
                return
            assert self._requested_at is None, "one inference at a time"
            self._requested_at, self._pending, self._reply = now, obs, None
            self._cond.notify_all()

    def poll(self, now: float) -> InferenceResult | None:
        with self._cond:
            if self._requested_at is None:
                return None
            if self.lockstep_latency_s is not None:   # simulated time stands still until the reply is here
                deadline = time.monotonic() + self._timeout + self.spec.open_timeout_s
                while self._reply is None and self._requested_at is not None and not self._stop.is_set():
                    if not self._cond.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic()))) \
                            and time.monotonic() > deadline:
                        break
            if self._reply is None or self._requested_at is None:
                return None
            chunk, error, rtt, timing = self._reply
            if self.lockstep_latency_s is not None and now - self._requested_at < self.lockstep_latency_s - 1e-9:
                return None
            requested_at = self._requested_at
            self._reply = self._requested_at = None
        compute = (timing or {}).get("infer_ms")
        compute = rtt if not isinstance(compute, (int, float)) else float(compute) / 1e3
        latency = now - requested_at if self.lockstep_latency_s is not None else max(rtt, now - requested_at)
        return InferenceResult(chunk, error, latency, compute, requested_at, rtt, timing)

    def faults(self) -> list[InferenceFault]:
        with self._cond:
            faults, self._faults = self._faults, []
        return faults

    def reset_policy(self) -> None:
        """A new episode: the next request asks the server to ``reset()`` the policy (re-seed its noise) first."""
        with self._cond:
            self._reset_next = True

    def shutdown(self) -> None:
        self._stop.set()
        with self._cond:
            self.ready = False
            client = self._client
            self._cond.notify_all()
        if client is not None:
            client.close()        # wakes a worker waiting for a reply
        self._thread.join(timeout=5)

    # -- the worker's side ----------------------------------------------------------------------
    def _run(self, connected: bool) -> None:
        while not self._stop.is_set():
            if not connected:
                fault = self._connect()
                if fault is None:
                    connected = True
                    self._notify()
                    continue
            else:
                fault = self._serve_requests()
            if self._stop.is_set():
                break
            if fault is None:
                continue
            connected = False
            self._report(fault)
            delay = min(self.backoff_max_s, self.backoff_s * 2 ** self._failures)
            self._failures += 1
            if self._stop.wait(delay):
                break
        self._close()

    def _connect(self) -> InferenceFault | None:
        """Connect and warm up; on success the connection is current and the runner ready."""
        from websockets.exceptions import InvalidStatus

        from pi_vla_ros.policies.base import PolicyMetadata
        from pi_vla_ros.serving.client import PolicyClient

        spec, profile = self.spec, self.profile
        try:
            client = PolicyClient(spec.url, spec.api_key, ca_file=spec.ca_file, open_timeout_s=spec.open_timeout_s)
        except InvalidStatus as exc:
            status = exc.response.status_code
            why = "refused the API key" if status == 401 else "is full" if status == 503 else "refused us"
            return InferenceFault("policy_server_start_failed", f"{spec.url} {why} (HTTP {status})")
        except Exception as exc:  # noqa: BLE001 - no server, TLS failure, ...: one line, then the backoff
            return InferenceFault("policy_server_start_failed", f"cannot connect to {spec.url}: "
                                                                f"{type(exc).__name__}: {exc}")
        meta = client.metadata
        width = meta.get("action_dim", profile.action_dim)
        if width != profile.action_dim:
            client.close()
            return InferenceFault("policy_server_start_failed", f"{spec.url} serves {width} action dims, profile "
                                                                f"{profile.name} needs {profile.action_dim}")
        dt = float(meta.get("dt", 1.0 / profile.policy_rate_hz))
        horizon = meta.get("horizon") if isinstance(meta.get("horizon"), int) else None
        trip = None
        if self.warmup or horizon is None:   # an openpi server does not say its horizon: the warm-up tells
            try:
                chunk, trip = self._warm_up(client, dt, horizon)
            except InferenceFault as fault:
                client.close()
                return fault
            if chunk is not None:
                horizon = chunk.actions.shape[0]
                self.untrained = bool(chunk.info.get("untrained", False))
        new = PolicyMetadata(name=str(meta.get("policy", "remote")), action_dim=profile.action_dim,
                             horizon=int(horizon), dt=dt,
                             cameras=tuple(meta.get("cameras", [c.name for c in profile.cameras])))
        if self.metadata is not None and (new.horizon, new.dt, new.name) != (self.metadata.horizon, self.metadata.dt,
                                                                             self.metadata.name):
            client.close()
            return InferenceFault("policy_server_start_failed", f"{spec.url} now serves {new}, not {self.metadata}")
        with self._cond:
            self.metadata = new
            self._client = client
            self._round_trips.clear()
            if trip is not None:
                self._round_trips.append(trip)
            self.restarts += self.ready is False and self.last_error is not None
            self._reset_next = trip is not None   # after the warm-up, as warm_up() resets a local policy
            self.ready = True
        return None

    def _warm_up(self, client, dt: float, horizon: int | None):
        import numpy as np

        from pi_vla_ros.serving.protocol import RemoteError, chunk_from_reply

        t0 = time.monotonic()
        try:
            reply = client.infer(self._request(dummy_observation(self.profile)), timeout_s=self.initial_timeout_s)
            chunk = chunk_from_reply(reply, stamp=0.0, dt=dt, horizon=horizon, action_dim=self.profile.action_dim)
        except RemoteError as exc:
            # π0-FAST on a blank image may decode no chunk: the server is up all the same (as warm_up() locally);
            # only a server that does not say its horizon needs a chunk to learn it
            if "InvalidActionTokens" not in str(exc) or horizon is None:
                raise InferenceFault("policy_server_start_failed", f"warm-up request to {self.spec.url} failed: "
                                                                   f"{exc}") from None
            return None, time.monotonic() - t0
        except Exception as exc:  # noqa: BLE001 - any failure of the first request is a failed start
            raise InferenceFault("policy_server_start_failed", f"warm-up request to {self.spec.url} failed: "
                                                               f"{type(exc).__name__}: {exc}") from None
        bad = int(chunk.actions.size - np.count_nonzero(np.isfinite(chunk.actions)))
        if bad:
            raise InferenceFault("non_finite_warmup", f"{self.spec.url}: {bad} of {chunk.actions.size} warm-up "
                                                      "actions are not finite")
        return chunk, time.monotonic() - t0

    def _request(self, obs: Observation, reset: bool = False) -> dict:
        from pi_vla_ros.serving.protocol import request_from_observation

        spec = self.spec
        delay = None if obs.committed is None or self.metadata is None else obs.committed.frozen * self.metadata.dt
        return request_from_observation(obs, image_encoding=spec.image_encoding, jpeg_quality=spec.jpeg_quality,
                                        layout=spec.image_layout, delay_s=delay, reset=reset)

    def _serve_requests(self) -> InferenceFault | None:
        """Send each submitted request and hand its reply over, until the connection fails (returns why)."""
        from websockets.exceptions import ConnectionClosed

        from pi_vla_ros.serving.protocol import ProtocolError, RemoteError, chunk_from_reply

        while not self._stop.is_set():
            with self._cond:
                if self._pending is None:
                    self._cond.wait(timeout=0.1)
                    if self._pending is None and self._client.closed:   # gone while idle: seen within 0.1 s
                        return InferenceFault("policy_server_died", f"{self.spec.url} closed the connection")
                    continue
                obs, self._pending = self._pending, None
                reset, self._reset_next = self._reset_next, False
                self._timeout = timeout = self.timeout_s
                client, meta = self._client, self.metadata
            t0 = time.monotonic()
            try:
                reply = client.infer(self._request(obs, reset), timeout_s=timeout)
                chunk, error = chunk_from_reply(reply, stamp=obs.stamp, dt=meta.dt, horizon=meta.horizon,
                                                action_dim=meta.action_dim), None
            except (RemoteError, ProtocolError) as exc:   # this request failed; the connection is fine
                chunk, error = None, exc
            except TimeoutError:
                return InferenceFault("inference_timeout", f"no reply from {self.spec.url} within {timeout:.2f} s: "
                                                           "the connection is closed")
            except (ConnectionClosed, OSError) as exc:
                return InferenceFault("policy_server_died", f"connection to {self.spec.url} lost: "
                                                            f"{type(exc).__name__}: {exc}")
            rtt = time.monotonic() - t0
            timing = chunk.info.get("server_timing") if chunk is not None else None
            with self._cond:
                if self._requested_at is None:
                    continue
                self._round_trips.append(rtt)
                self._reply = (chunk, error, rtt, timing)
                if error is None:
                    self._failures = 0
                self._cond.notify_all()
            self._notify()
        return None

    def _report(self, fault: InferenceFault) -> None:
        self._close()
        with self._cond:
            self.ready = False
            self.last_error = fault
            self._faults.append(fault)
            self._pending = None
            if self._reply is None:   # the request in flight is lost with the connection
                self._requested_at = None
            self._cond.notify_all()
        self._notify()

    def _close(self) -> None:
        with self._cond:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _notify(self) -> None:
        if self._on_done is not None:
            try:
                self._on_done()
            except Exception:  # noqa: BLE001 - the node's context is shutting down; nobody waits any more
                pass
