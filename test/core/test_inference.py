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

"""ProcessRunner supervision with real policy-server processes: death (SIGKILL), a hang (SIGSTOP), a non-finite
warm-up and a failed start each give their reason once, and the runner serves again by itself. Every wait is
bounded; the tiny untrained policy keeps each server start to a few seconds.
"""

import os
import signal
import time
from dataclasses import dataclass

import numpy as np
import pytest

from pi_vla_ros.core.inference import InferenceFault, PolicySpec, ProcessRunner, dummy_observation
from pi_vla_ros.policies.base import ActionChunk
from pi_vla_ros.profiles import load_profile

SPEC = PolicySpec("pi06_tiny", "ur5e", None, allow_untrained=True)
OBS = dummy_observation(load_profile("ur5e"), prompt="pick up the cube")


@dataclass(frozen=True)
class NaNSpec(PolicySpec):
    """A policy that loads but acts NaN (as corrupt weights or norm stats would)."""

    def load(self):
        policy, profile = super().load()
        meta = policy.metadata
        policy.infer = lambda obs: ActionChunk(np.full((meta.horizon, meta.action_dim), np.nan, np.float32),
                                               meta.dt, obs.stamp)
        return policy, profile


def wait_for(condition, timeout_s=60.0):
    """Poll ``condition`` until it returns something true (returned), failing after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < end, f"not within {timeout_s} s"
        time.sleep(0.005)
    return value


def serve_one(runner, now=0.0):
    assert runner.ready and not runner.in_flight
    runner.submit(OBS, now)
    result = wait_for(lambda: runner.poll(now + 1.0), 30.0)
    assert result.error is None and np.all(np.isfinite(result.chunk.actions))
    return result


def next_fault(runner, timeout_s=30.0):
    faults = wait_for(runner.faults, timeout_s)
    assert len(faults) == 1, faults        # one report per occurrence
    return faults[0]


@pytest.fixture
def runners():
    made = []
    yield lambda *a, **kw: made.append(ProcessRunner(*a, **kw)) or made[-1]
    for r in made:
        r.shutdown()


def test_server_killed_twice_restarts_and_serves_again(runners):
    r = runners(SPEC, backoff_s=0.05)
    serve_one(r)
    assert r.timeout_s == pytest.approx(max(r.timeout_floor_s, r.timeout_factor * max(r._round_trips)))
    first = r.pid
    os.kill(first, signal.SIGINT)                  # Ctrl-C reaches the process group: the server ignores it
    serve_one(r)
    os.kill(first, signal.SIGSTOP)                 # so the request is certainly in flight when it dies
    r.submit(OBS, 1.0)
    assert r.in_flight
    t0 = time.monotonic()
    os.kill(first, signal.SIGKILL)
    fault = next_fault(r)
    assert fault.reason == "policy_server_died" and "signal 9" in fault.message
    assert time.monotonic() - t0 < 1.0             # seen at once, not after a timeout
    assert not r.ready and not r.in_flight and r.poll(2.0) is None   # the request is dropped, never handed over
    r.submit(OBS, 2.0)                             # not ready: ignored, no BrokenPipeError
    assert not r.in_flight
    wait_for(lambda: r.ready)
    assert r.restarts == 1 and r.pid != first and r.last_error is fault
    serve_one(r, 3.0)

    second = r.pid
    os.kill(second, signal.SIGKILL)                # killed while idle: noticed without a request
    assert next_fault(r).reason == "policy_server_died"
    wait_for(lambda: r.ready)
    assert r.restarts == 2
    serve_one(r, 4.0)
    assert r.faults() == []


def test_hung_server_times_out_is_killed_and_restarted(runners):
    r = runners(SPEC, request_timeout_s=1.0, backoff_s=0.05)
    serve_one(r)
    hung = r.pid
    os.kill(hung, signal.SIGSTOP)
    t0 = time.monotonic()
    r.submit(OBS, 1.0)
    fault = next_fault(r, 10.0)
    assert fault.reason == "inference_timeout"
    assert 1.0 <= time.monotonic() - t0 < 2.0
    assert not r.in_flight
    with pytest.raises(ProcessLookupError):        # SIGKILLed and reaped
        wait_for(lambda: os.kill(hung, 0), 5.0)
    wait_for(lambda: r.ready)
    assert r.restarts == 1
    serve_one(r, 2.0)


def test_non_finite_warmup_is_never_ready(runners):
    spec = NaNSpec(**vars(SPEC))
    with pytest.raises(InferenceFault, match="non_finite_warmup") as raised:
        runners(spec)                              # the first start: configure fails with the reason
    assert raised.value.reason == "non_finite_warmup"
    r = runners(spec, wait=False, backoff_s=0.05)  # started in the background: retried, never ready
    fault = next_fault(r)
    assert fault.reason == "non_finite_warmup" and "not finite" in fault.message
    assert not r.ready and r.last_error is fault
    r.submit(OBS, 0.0)
    assert not r.in_flight


def test_failed_start_is_one_clear_error(runners):
    spec = PolicySpec("pi06_tiny", "ur5e", "/nonexistent/checkpoint", allow_untrained=False)
    with pytest.raises(InferenceFault, match="policy_server_start_failed") as raised:
        runners(spec)
    assert "/nonexistent/checkpoint" in raised.value.message


def test_invalid_fast_tokens_at_warm_up_are_no_failed_start():
    from pi_vla_ros.core.inference import warm_up
    from pi_vla_ros.models.fast import InvalidActionTokens
    from pi_vla_ros.profiles import load_profile

    class Undecodable:

        resets = 0

        def infer(self, obs):
            raise InvalidActionTokens("702 DCT coefficients decoded, a [50, 14] chunk has 700")

        def reset(self):
            self.resets += 1

    policy = Undecodable()
    assert warm_up(policy, load_profile("bimanual")) >= 0.0 and policy.resets == 1

    class Broken(Undecodable):

        def infer(self, obs):
            raise RuntimeError("weights do not fit")

    with pytest.raises(RuntimeError, match="weights do not fit"):
        warm_up(Broken(), load_profile("bimanual"))
