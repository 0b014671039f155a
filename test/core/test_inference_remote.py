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

"""RemoteRunner against real loopback servers: ProcessRunner's interface and fault semantics across a network."""

import threading
import time

import numpy as np
import pytest

from pi_vla_ros.core.inference import InferenceFault, RemoteRunner, RemoteSpec, dummy_observation
from pi_vla_ros.policies.base import CommittedActions
from pi_vla_ros.serving.protocol import RemoteError, pack, unpack
from test.serving import conftest as serving
from test.serving.conftest import KEY

bimanual_policy = serving.bimanual_policy
serve = serving.serve
self_signed = serving.self_signed


def _wait(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def _result(runner, obs, now=0.0, timeout=30.0):
    runner.submit(obs, now)
    end = time.monotonic() + timeout
    while (res := runner.poll(now + 1.0)) is None:
        assert time.monotonic() < end and runner.in_flight, "no reply"
        time.sleep(0.002)
    return res


class Gate:
    """A policy wrapper whose inference can be held (a hung server) and counts what the server handed it."""

    def __init__(self, policy):
        self.policy, self.metadata = policy, policy.metadata
        self.open = threading.Event()
        self.open.set()
        self.seen = []

    def infer(self, obs):
        self.seen.append(obs)
        self.open.wait(timeout=30)
        return self.policy.infer(obs)


def test_serves_chunks_with_round_trip_and_server_timing_and_sends_the_rtc_prefix(serve, bimanual_policy):
    policy, profile = bimanual_policy
    gate = Gate(policy)
    server = serve((gate, profile))
    runner = RemoteRunner(RemoteSpec(server.url, KEY), profile)
    try:
        assert runner.ready and runner.metadata == policy.metadata and runner.restarts == 0
        obs = dummy_observation(profile, "put the red cube in the bowl")
        committed = CommittedActions(np.zeros((50, 14), np.float32), frozen=7, overlap=30)
        res = _result(runner, obs.__class__(**{**obs.__dict__, "committed": committed, "stamp": 3.0}))
        assert res.error is None and res.chunk.actions.shape == (50, 14) and res.chunk.stamp == 3.0
        assert 0 < res.rtt_s < 30 and res.server_timing["infer_ms"] / 1e3 == pytest.approx(res.compute_s)
        assert res.compute_s <= res.rtt_s <= res.latency_s
        seen = gate.seen[-1]      # what the policy on the server got: our observation, with the RTC prefix
        assert seen.prompt == "put the red cube in the bowl" and seen.stamp == 3.0
        assert (seen.committed.frozen, seen.committed.overlap) == (7, 30)
        assert runner.faults() == [] and not runner.in_flight
    finally:
        runner.shutdown()


def test_jpeg_images_and_a_failed_request_is_an_error_not_a_fault(serve, bimanual_policy):
    policy, profile = bimanual_policy
    server = serve(rate_hz=0.01, burst=2)        # the warm-up and one request, then rate_limited
    runner = RemoteRunner(RemoteSpec(server.url, KEY, image_encoding="jpeg"), profile)
    try:
        assert _result(runner, dummy_observation(profile)).error is None
        res = _result(runner, dummy_observation(profile))
        assert isinstance(res.error, RemoteError) and res.error.code == "rate_limited" and res.chunk is None
        assert runner.ready and runner.faults() == []
    finally:
        runner.shutdown()


def test_a_refused_key_or_no_server_fails_the_start(serve, bimanual_policy):
    policy, profile = bimanual_policy
    server = serve()
    with pytest.raises(InferenceFault, match="refused the API key") as err:
        RemoteRunner(RemoteSpec(server.url, "wrong-key-0123456789abcdef"), profile)
    assert err.value.reason == "policy_server_start_failed"
    server.stop()
    with pytest.raises(InferenceFault, match="cannot connect") as err:
        RemoteRunner(RemoteSpec(server.url, KEY, open_timeout_s=2), profile)
    assert err.value.reason == "policy_server_start_failed"


def test_server_restart_is_a_fault_then_reconnects_with_backoff(serve, bimanual_policy):
    policy, profile = bimanual_policy
    server = serve()
    port = server.port
    runner = RemoteRunner(RemoteSpec(server.url, KEY, open_timeout_s=2), profile, backoff_s=0.05, backoff_max_s=0.2)
    try:
        assert _result(runner, dummy_observation(profile)).error is None
        server.stop()
        _wait(lambda: not runner.ready)
        faults = runner.faults()
        assert [f.reason for f in faults] == ["policy_server_died"] and runner.last_error is faults[0]
        runner.submit(dummy_observation(profile), 5.0)     # ignored while down
        assert not runner.in_flight
        time.sleep(0.5)                                     # reconnecting fails meanwhile: counted, backing off
        assert {f.reason for f in runner.faults()} <= {"policy_server_start_failed"}
        serve(port=port)
        _wait(lambda: runner.ready)
        assert runner.restarts == 1 and _result(runner, dummy_observation(profile)).error is None
    finally:
        runner.shutdown()


def test_a_hung_server_times_out_and_the_request_is_dropped(serve, bimanual_policy):
    policy, profile = bimanual_policy
    gate = Gate(policy)
    server = serve((gate, profile))
    runner = RemoteRunner(RemoteSpec(server.url, KEY), profile, request_timeout_s=0.5, backoff_s=0.05)
    try:
        gate.open.clear()
        runner.submit(dummy_observation(profile), 0.0)
        _wait(lambda: not runner.ready)
        assert [f.reason for f in runner.faults()] == ["inference_timeout"] and not runner.in_flight
        assert runner.poll(10.0) is None
        gate.open.set()
        _wait(lambda: runner.ready)                          # reconnected: the server itself is fine
        assert _result(runner, dummy_observation(profile)).error is None and runner.restarts == 1
    finally:
        runner.shutdown()


class UndecodableFirst(Gate):
    """π0-FAST on the blank warm-up image: its tokens decode to no chunk; real observations decode."""

    def infer(self, obs):
        from pi_vla_ros.models.fast import InvalidActionTokens

        self.seen.append(obs)
        if len(self.seen) == 1 or obs.prompt == "undecodable":
            raise InvalidActionTokens("702 DCT coefficients decoded, a [50, 14] chunk has 700")
        return self.policy.infer(obs)


def test_invalid_fast_tokens_at_warm_up_are_no_failed_start_and_later_an_error(serve, bimanual_policy):
    policy, profile = bimanual_policy
    undecodable = UndecodableFirst(policy)
    server = serve((undecodable, profile))
    runner = RemoteRunner(RemoteSpec(server.url, KEY), profile)
    try:
        assert runner.ready and runner.metadata.horizon == policy.metadata.horizon and len(undecodable.seen) == 1
        assert _result(runner, dummy_observation(profile)).chunk.actions.shape == (50, 14)
        res = _result(runner, dummy_observation(profile, "undecodable"))
        assert res.chunk is None and "InvalidActionTokens" in str(res.error) and runner.faults() == []
    finally:
        runner.shutdown()


def test_lockstep_hands_over_after_the_simulated_latency(serve, bimanual_policy):
    policy, profile = bimanual_policy
    server = serve()
    runner = RemoteRunner(RemoteSpec(server.url, KEY), profile, lockstep_latency_s=0.1)
    try:
        runner.submit(dummy_observation(profile), 10.0)
        assert runner.poll(10.02) is None and runner.poll(10.09) is None   # the reply is here; the time is not
        res = runner.poll(10.1)
        assert res is not None and res.latency_s == pytest.approx(0.1) and res.rtt_s > 0
    finally:
        runner.shutdown()


def test_an_openpi_server_without_horizon_in_its_metadata(bimanual_policy):
    """openpi's server sends whatever metadata its config has (often {}) and replies actions + server_timing only."""
    from websockets.sync.server import serve as sync_serve

    policy, profile = bimanual_policy

    def handler(ws):   # openpi's websocket_policy_server.py, in its protocol's terms
        ws.send(pack({}))
        for frame in ws:
            obs = unpack(frame)
            assert obs["images"]["cam_high"].shape == (3, 120, 160)   # channels first, as openpi's ALOHA reads
            ws.send(pack({"actions": np.full((10, 14), 0.5), "server_timing": {"infer_ms": 1.0}}))

    with sync_serve(handler, "127.0.0.1", 0, compression=None) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"ws://127.0.0.1:{srv.socket.getsockname()[1]}"
        runner = RemoteRunner(RemoteSpec(url, KEY, image_layout="chw"), profile)
        try:
            assert runner.metadata.horizon == 10 and runner.metadata.dt == 1.0 / profile.policy_rate_hz
            res = _result(runner, dummy_observation(profile))
            assert res.chunk.actions.shape == (10, 14) and res.compute_s == pytest.approx(1e-3)
        finally:
            runner.shutdown()
            srv.shutdown()


def test_tls(serve, bimanual_policy, self_signed):
    from pi_vla_ros.serving.client import server_ssl_context

    policy, profile = bimanual_policy
    server = serve(ssl_context=server_ssl_context(*self_signed))
    runner = RemoteRunner(RemoteSpec(server.url, KEY, ca_file=self_signed[0]), profile)
    try:
        assert _result(runner, dummy_observation(profile)).error is None
    finally:
        runner.shutdown()
    with pytest.raises(InferenceFault, match="CERTIFICATE_VERIFY_FAILED"):
        RemoteRunner(RemoteSpec(server.url, KEY), profile)
