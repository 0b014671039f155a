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

"""``pi-vla serve`` as a user starts it: the shipped checkpoint, a key generated at first start, openpi's client."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from openpi_client.websocket_client_policy import WebsocketClientPolicy

from pi_vla_ros.cli import main
from test.serving.conftest import openpi_observation

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_generates_a_key_once_and_serves_the_shipped_policy(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PI_VLA_API_KEY"} | {"HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "pi_vla_ros.cli", "serve", "--policy", str(ROOT / "checkpoints/bimanual_pi06_sim"),
           "--port", str(port), "--threads", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        key_file = tmp_path / ".config/pi_vla_ros/api_key"
        line = proc.stdout.readline()
        while "new API key" not in line:
            assert line, "the server exited"
            line = proc.stdout.readline()
        key = line.rsplit(" ", 1)[1].strip()
        assert key_file.read_text().strip() == key and key_file.stat().st_mode & 0o777 == 0o600
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no /healthz"
                time.sleep(0.2)
        client = WebsocketClientPolicy("127.0.0.1", port, api_key=key)
        assert client.get_server_metadata()["policy"] == "pi06_sim"   # the profile was found from its joints
        actions = client.infer(openpi_observation())["actions"]
        assert actions.shape == (50, 14) and np.all(np.isfinite(actions))
    finally:
        proc.send_signal(signal.SIGTERM)   # as a service manager stops it
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_serve_refuses_a_public_bind_without_tls_before_loading_anything(capsys):
    assert main(["serve", "--policy", "checkpoints/does_not_exist", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "without TLS" in err
