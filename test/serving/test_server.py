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

"""``pi-vla serve``'s server on loopback, driven by openpi's own client from PyPI (openpi-client 0.1.2, unchanged)."""

import json
import ssl
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from openpi_client.websocket_client_policy import WebsocketClientPolicy
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from pi_vla_ros.serving.client import PolicyClient, server_ssl_context
from pi_vla_ros.serving.protocol import RemoteError, pack, unpack
from pi_vla_ros.serving.server import PolicyServer
from test.serving.conftest import KEY, openpi_observation


def _raw(server, key=KEY):
    """A plain websocket to the server, its metadata frame read."""
    ws = connect(server.url, additional_headers={"Authorization": f"Api-Key {key}"}, compression=None, proxy=None,
                 max_size=None, legacy=True)
    unpack(ws.recv(timeout=10))
    return ws


def test_openpi_client_gets_metadata_and_actions(serve):
    server = serve()
    client = WebsocketClientPolicy(server.url, api_key=KEY)
    meta = client.get_server_metadata()
    assert meta["policy"] == "pi06_tiny" and meta["horizon"] == 50 and meta["action_dim"] == 14
    assert meta["cameras"] == ["cam_high", "cam_left_wrist", "cam_right_wrist"] and meta["state_dim"] == 14
    reply = client.infer(openpi_observation())
    assert reply["actions"].shape == (50, 14) and reply["actions"].dtype == np.float32
    assert np.all(np.isfinite(reply["actions"]))
    assert {"infer_ms", "queue_ms", "decode_ms"} <= set(reply["server_timing"]) and reply["pi_vla"]["dt"] == 0.02
    assert server.stats()["counts"]["replies"] == 1


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789abcdef", KEY[:-1], KEY + "x"])
def test_no_key_or_a_wrong_key_is_refused_before_the_websocket(serve, key):
    server = serve()
    with pytest.raises(InvalidStatus) as err:
        WebsocketClientPolicy(server.url, api_key=key)
    assert err.value.response.status_code == 401
    assert server.stats()["refused"] == {"unauthorized": 1}
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=10) as r:   # health needs no key
        assert r.status == 200 and r.read() == b"OK\n"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/stats", timeout=10)
    assert err.value.code == 401
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/stats",
                                     headers={"Authorization": f"Api-Key {KEY}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert json.loads(r.read())["refused"]["unauthorized"] == 2


def test_oversized_and_malformed_frames_are_refused_and_the_server_goes_on(serve):
    server = serve(max_frame_bytes=1 << 20)
    ws = _raw(server)
    bad = [(b"\xc1\x00", "bad_frame"), ("text", "bad_frame"),
           (pack({"state": np.zeros(3, np.float32), "images": {}, "prompt": ""}), "invalid_observation"),
           (pack([1, 2, 3]), "bad_frame"),
           (pack({**openpi_observation(), "state": np.full(14, np.inf, np.float32)}), "invalid_observation")]
    for frame, code in bad:
        ws.send(frame)
        reply = ws.recv(timeout=30)
        assert isinstance(reply, str) and reply.startswith(f"{code}: ") and "Traceback" not in reply
        assert len(reply) <= 300
    ws.send(pack(openpi_observation()))            # the same connection still serves
    assert unpack(ws.recv(timeout=30))["actions"].shape == (50, 14)
    ws.send(b"\0" * (2 << 20))                      # over max_frame_bytes: that connection is closed (1009)
    with pytest.raises(ConnectionClosed) as err:
        ws.recv(timeout=30)
    assert err.value.rcvd.code == 1009
    client = WebsocketClientPolicy(server.url, api_key=KEY)   # everyone else is served as before
    assert client.infer(openpi_observation())["actions"].shape == (50, 14)
    refused = server.stats()["refused"]
    assert refused["bad_frame"] == 3 and refused["invalid_observation"] == 2 and refused["frame_too_large"] == 1


def test_a_second_client_is_served_while_the_first_is_connected(serve):
    server = serve()
    first = WebsocketClientPolicy(server.url, api_key=KEY)   # connected, idle
    second = WebsocketClientPolicy(server.url, api_key=KEY)
    assert second.infer(openpi_observation())["actions"].shape == (50, 14)
    results = []
    threads = [threading.Thread(target=lambda c=c: results.append(c.infer(openpi_observation())["actions"]))
               for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2 and server.stats()["counts"]["replies"] == 3


def test_errors_of_one_request_rate_limit_and_connection_limit(serve):
    server = serve(rate_hz=0.01, burst=2, max_clients=1)
    client = WebsocketClientPolicy(server.url, api_key=KEY)
    for _ in range(2):
        client.infer(openpi_observation())
    with pytest.raises(RuntimeError, match="rate_limited"):    # openpi's client raises on a text frame
        client.infer(openpi_observation())
    with pytest.raises(InvalidStatus) as err:                  # max_clients
        WebsocketClientPolicy(server.url, api_key=KEY)
    assert err.value.response.status_code == 503
    assert server.stats()["refused"] == {"rate_limited": 1, "server_busy": 1}


def test_an_inference_error_is_a_short_code(serve, bimanual_policy):
    policy, profile = bimanual_policy

    class Broken:
        metadata = policy.metadata

        def infer(self, obs):
            raise RuntimeError("secret /home/path in a long message")

    server = serve((Broken(), profile))
    client = PolicyClient(server.url, KEY)
    with pytest.raises(RemoteError) as err:
        client.infer(openpi_observation())
    assert str(err.value) == "inference_failed: RuntimeError" and err.value.code == "inference_failed"


def test_tls_with_a_self_signed_certificate(serve, self_signed):
    cert, key = self_signed
    server = serve(ssl_context=server_ssl_context(cert, key))
    assert server.url.startswith("wss://127.0.0.1:")
    client = PolicyClient(server.url, KEY, ca_file=cert)        # verified against the certificate
    assert client.metadata["policy"] == "pi06_tiny"
    assert unpack(pack(client.infer(openpi_observation())))["actions"].shape == (50, 14)
    with pytest.raises(ssl.SSLCertVerificationError):          # not trusted without it
        PolicyClient(server.url, KEY)
    with pytest.raises(Exception):                              # plain ws to a TLS port: no handshake
        PolicyClient(server.url.replace("wss://", "ws://"), KEY, open_timeout_s=3)


def test_binding_beyond_loopback_needs_tls_or_an_explicit_override(bimanual_policy, self_signed):
    policy, profile = bimanual_policy
    for host in ("0.0.0.0", "192.168.1.10", "robot-gpu.local", ""):
        with pytest.raises(ValueError, match="without TLS"):
            PolicyServer(policy, profile, api_key=KEY, host=host)
    PolicyServer(policy, profile, api_key=KEY, host="0.0.0.0", ssl_context=server_ssl_context(*self_signed))
    PolicyServer(policy, profile, api_key=KEY, host="0.0.0.0", allow_insecure_remote=True)
    PolicyServer(policy, profile, api_key=KEY, host="::1")
    with pytest.raises(ValueError, match="16 characters"):
        PolicyServer(policy, profile, api_key="short")
