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

"""Loopback servers for the serving tests: a small untrained policy (plumbing only), a key, a self-signed cert."""

import datetime
import ipaddress

import numpy as np
import pytest

from pi_vla_ros.core.inference import PolicySpec
from pi_vla_ros.serving.server import PolicyServer

KEY = "test-key-0123456789abcdef"


@pytest.fixture(scope="session")
def bimanual_policy():
    from pi_vla_ros.profiles import load_profile

    return PolicySpec("pi06_tiny", "bimanual", None, allow_untrained=True).build(), load_profile("bimanual")


@pytest.fixture
def serve(bimanual_policy):
    servers = []

    def _serve(policy_profile=None, **kwargs):
        policy, profile = policy_profile or bimanual_policy
        kwargs.setdefault("port", 0)
        server = PolicyServer(policy, profile, api_key=KEY, **kwargs).start()
        servers.append(server)
        return server

    yield _serve
    for s in servers:
        s.stop()


def openpi_observation(cameras=("cam_high", "cam_left_wrist", "cam_right_wrist"), state_dim=14):
    """An observation as openpi's ALOHA clients send it: images channels first."""
    rng = np.random.default_rng(0)
    return {"state": rng.normal(size=state_dim).astype(np.float32), "prompt": "put the red cube in the bowl",
            "images": {c: rng.integers(0, 255, (3, 120, 160), dtype=np.uint8) for c in cameras}}


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory):
    """(cert.pem, key.pem) for 127.0.0.1 and localhost, made here with the cryptography package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pi_vla_ros test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return str(d / "cert.pem"), str(d / "key.pem")
