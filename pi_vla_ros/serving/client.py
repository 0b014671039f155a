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

"""A blocking client for an openpi-protocol policy server (``pi-vla serve``, or openpi's own), and key/TLS helpers.

:class:`PolicyClient` opens the websocket (``Authorization: Api-Key <key>`` exactly as openpi_client sends it, no
compression, no HTTP proxy from the environment), reads the metadata frame, and then ``infer`` sends one request and
waits at most ``timeout_s`` for its reply: a text frame raises :class:`~pi_vla_ros.serving.protocol.RemoteError`,
a closed connection ``websockets.ConnectionClosed``, no reply in time ``TimeoutError`` (the connection is then
unusable: a late reply would be taken for the next request's, so the caller closes it).
"""

from __future__ import annotations

import inspect
import os
import secrets
import ssl
from pathlib import Path

from pi_vla_ros.serving.protocol import RemoteError, pack, unpack


def client_ssl_context(ca_file: str = "") -> ssl.SSLContext:
    """Certificate and host name verified: against ``ca_file`` (e.g. the server's self-signed certificate), else the
    system's trust store.
    """
    return ssl.create_default_context(cafile=ca_file or None)


def server_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def read_api_key(key_file: str = "", env: str = "") -> str:
    """The key in ``key_file`` (first line), else in the environment variable ``env``; ValueError if neither."""
    if key_file:
        key = Path(key_file).expanduser().read_text().strip()
        if not key:
            raise ValueError(f"API key file {key_file} is empty")
        return key
    if env and os.environ.get(env):
        return os.environ[env].strip()
    raise ValueError(f"no API key: pass a key file, or set ${env or 'PI_VLA_API_KEY'}")


def ensure_api_key(key_file: str) -> tuple[str, bool]:
    """(key, created): the key stored in ``key_file``, or a new random one written there (mode 0600)."""
    path = Path(key_file).expanduser()
    if path.is_file():
        return read_api_key(str(path)), False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key, True


class PolicyClient:
    def __init__(self, url: str, api_key: str = "", *, ca_file: str = "", open_timeout_s: float = 10.0,
                 max_frame_bytes: int = 16 << 20):
        from websockets.sync.client import connect

        headers = {"Authorization": f"Api-Key {api_key}"} if api_key else None
        ssl_context = client_ssl_context(ca_file) if url.startswith("wss://") else None
        # websockets >= 16 warns unless a directly returned connection is asked for by name
        legacy = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
        self._ws = connect(url, additional_headers=headers, ssl=ssl_context, compression=None, proxy=None,
                           open_timeout=open_timeout_s, max_size=max_frame_bytes, close_timeout=1.0, **legacy)
        try:
            meta = unpack(self._ws.recv(timeout=open_timeout_s))
        except BaseException:
            self.close()
            raise
        self.metadata = meta if isinstance(meta, dict) else {}
        self.bytes_sent = self.bytes_received = 0   # of the last request and its reply

    @property
    def closed(self) -> bool:
        """The connection is closed or closing (the server went away while we were idle)."""
        from websockets.protocol import State

        return self._ws.protocol.state in (State.CLOSING, State.CLOSED)

    def infer(self, request: dict, timeout_s: float | None = None) -> dict:
        data = pack(request)
        self.bytes_sent = len(data)
        self._ws.send(data)
        reply = self._ws.recv(timeout=timeout_s)
        self.bytes_received = len(reply)
        if isinstance(reply, str):
            raise RemoteError(reply)
        return unpack(reply)

    def close(self) -> None:
        try:
            self._ws.close()
        except Exception:  # noqa: BLE001 - closing a broken connection: nothing left to do
            pass
