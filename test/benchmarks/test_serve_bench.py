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

"""The serve benchmark's delaying proxy: every byte arrives intact, in order, and no earlier than its delay."""

import socket
import threading
import time

from pi_vla_ros.benchmarks.serve_bench import DelayProxy


def test_delay_proxy_forwards_both_ways_intact_and_late():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo():
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    proxy = DelayProxy(port, 0.05).start()
    try:
        payload = bytes(range(256)) * 2000   # 512 kB: several reads, kept in order
        with socket.create_connection(("127.0.0.1", proxy.port)) as c:
            t0 = time.monotonic()
            c.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += c.recv(1 << 16)
            elapsed = time.monotonic() - t0
        assert got == payload and elapsed >= 0.1   # 50 ms each way, at least
    finally:
        proxy.stop()
        server.close()
