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

"""``pi-vla serve``: one policy behind openpi's websocket protocol (serving/protocol.py), safe on a shared network.

Semantics:

1. Bind: loopback (127.0.0.1) by default. Any other address needs TLS (``ssl_context``: wss with the given
   certificate) unless ``allow_insecure_remote`` says otherwise; else the constructor raises ValueError.
2. Handshake: ``GET /healthz`` answers 200 "OK" to anyone (it tells nothing but "up"). Every other request must
   carry ``Authorization: Api-Key <key>`` (what openpi_client 0.1.2 sends for ``api_key=``), compared in constant
   time (SHA-256 digests under ``hmac.compare_digest``): else HTTP 401 before any websocket exists. ``GET /stats``
   (authorized) answers the timing summary as JSON. More than ``max_clients`` connections: HTTP 503.
3. A connection: the metadata map first (openpi's order); then each binary frame is one request, answered by one
   binary reply or one text frame ``"<code>: <detail>"`` (protocol.ERROR_CODES, never a traceback); the
   connection stays open after an error. A frame larger than ``max_frame_bytes`` closes that connection (websocket
   close code 1009, "message too big") without reading it; the server and other connections go on. Requests beyond
   ``rate_hz`` (token bucket, ``burst`` deep, per connection) get ``rate_limited`` without inference.
4. Work: decoding and validation (``decode`` time) run in a thread pool, inference in one worker thread (requests of
   all clients are served in arrival order: ``queue`` time), so the event loop, and with it every other
   connection's handshakes and frames, never waits for the model. Every reply's ``server_timing`` carries
   ``infer_ms`` (openpi's key), ``queue_ms``, ``decode_ms`` and ``prev_encode_ms`` (packing this connection's
   previous reply). A request marked ``reset`` (protocol.py) calls the policy's ``reset()`` first. Each request
   is logged at DEBUG, a summary at INFO at most every ``summary_every_s``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http
import ipaddress
import json
import logging
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pi_vla_ros.serving.protocol import (PROTOCOL_VERSION, ProtocolError, observation_from_request, pack,
                                         reply_from_chunk, unpack, wants_reset)

log = logging.getLogger("pi_vla_ros.serve")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:   # a host name other than localhost may resolve to anything
        return False


class _TokenBucket:
    """``rate_hz`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate_hz: float, burst: int):
        self.rate, self.burst = rate_hz, float(burst)
        self.tokens, self.t = float(burst), time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class PolicyServer:
    """Serves ``policy`` (built for ``profile``, warmed up) until :meth:`stop`; see the module docstring."""

    def __init__(self, policy, profile, *, api_key: str, host: str = "127.0.0.1", port: int = 8000,
                 ssl_context=None, allow_insecure_remote: bool = False, max_frame_bytes: int = 16 << 20,
                 rate_hz: float = 30.0, burst: int = 30, max_clients: int = 8, summary_every_s: float = 30.0):
        if not api_key or len(api_key) < 16:
            raise ValueError("the API key must have at least 16 characters")
        if not is_loopback(host) and ssl_context is None and not allow_insecure_remote:
            raise ValueError(f"refusing to serve on {host} without TLS: pass a certificate (--tls-cert/--tls-key), "
                             "bind 127.0.0.1, or override with --allow-insecure-remote")
        self.policy, self.profile = policy, profile
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self._key_digest = hashlib.sha256(f"Api-Key {api_key}".encode()).digest()
        self.max_frame_bytes, self.rate_hz, self.burst, self.max_clients = max_frame_bytes, rate_hz, burst, max_clients
        self.summary_every_s = summary_every_s
        meta = policy.metadata
        self.metadata = {"server": "pi_vla_ros", "protocol_version": PROTOCOL_VERSION, "policy": meta.name,
                         "action_dim": meta.action_dim, "horizon": meta.horizon, "dt": meta.dt,
                         "cameras": list(meta.cameras), "state_dim": int(profile.state_dim),
                         "action_names": list(profile.action_names), "max_frame_bytes": max_frame_bytes,
                         "untrained": bool(getattr(policy, "untrained", False)), "extensions": ["pi_vla"]}
        self.counts: Counter = Counter()       # requests, replies, and refusals by code
        self.timings: deque[dict] = deque(maxlen=1000)
        self.clients = 0
        self._infer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pi_vla_serve_infer")
        self._decode_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pi_vla_serve_decode")
        self._lock = threading.Lock()
        self._last_summary = time.monotonic()
        self._loop = self._stop_event = self._thread = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # -- running ----------------------------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Serve in this thread until KeyboardInterrupt or :meth:`stop` from another thread."""
        try:
            asyncio.run(self._main())
        finally:
            self._shutdown_pools()

    def start(self) -> "PolicyServer":
        """Serve from a background thread; returns once listening (``self.port`` is the bound port)."""
        self._thread = threading.Thread(target=self._run_thread, daemon=True, name="pi_vla_serve")
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and wait for the serving thread."""
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:   # the loop closed meanwhile: already stopped
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._shutdown_pools()

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl_context else 'ws'}://{self.host}:{self.port}"

    def _run_thread(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - a bind failure is the caller's to see
            self._error = exc
            self._started.set()

    def _shutdown_pools(self) -> None:
        self._infer_pool.shutdown(wait=False, cancel_futures=True)
        self._decode_pool.shutdown(wait=False, cancel_futures=True)

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._handler, self.host, self.port, ssl=self.ssl_context, compression=None,
                         max_size=self.max_frame_bytes, max_queue=4, process_request=self._process_request,
                         server_header="pi_vla_ros") as server:
            self.port = server.sockets[0].getsockname()[1]
            log.info("serving %s on %s (%s)", self.metadata["policy"], self.url,
                     "TLS" if self.ssl_context else "no TLS")
            self._started.set()
            await self._stop_event.wait()

    # -- handshake --------------------------------------------------------------------------------------------------
    def _process_request(self, connection, request):
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        given = hashlib.sha256((request.headers.get("Authorization") or "").encode()).digest()
        if not hmac.compare_digest(given, self._key_digest):
            self._count("unauthorized")
            log.warning("refused %s: no or wrong API key", connection.remote_address)
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "unauthorized\n")
        if path == "/stats":
            response = connection.respond(http.HTTPStatus.OK, json.dumps(self.stats()) + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        if self.clients >= self.max_clients:
            self._count("server_busy")
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "server_busy\n")
        return None

    # -- a connection -----------------------------------------------------------------------------------------------
    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        peer = ws.remote_address
        self.clients += 1
        log.info("client %s connected (%d now)", peer, self.clients)
        bucket = _TokenBucket(self.rate_hz, self.burst)
        prev_encode_ms = None
        try:
            await ws.send(pack(self.metadata))
            async for frame in ws:
                t0 = time.perf_counter()
                self._count("requests")
                if not bucket.take(time.monotonic()):
                    self._count("rate_limited")
                    await ws.send(f"rate_limited: more than {self.rate_hz:g} requests/s")
                    continue
                try:
                    reply, timing = await self._serve_one(frame, t0)
                except ProtocolError as exc:
                    self._count(exc.code)
                    log.info("client %s: %s", peer, exc.frame())
                    await ws.send(exc.frame())
                    continue
                if prev_encode_ms is not None:
                    timing["prev_encode_ms"] = prev_encode_ms
                t_enc = time.perf_counter()
                data = pack(reply)
                prev_encode_ms = (time.perf_counter() - t_enc) * 1e3
                self._record(peer, timing, prev_encode_ms, len(frame), len(data))
                await ws.send(data)
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 1009 or exc.sent is not None and exc.sent.code == 1009:
                self._count("frame_too_large")
                log.warning("client %s: frame over %d bytes, connection closed", peer, self.max_frame_bytes)
        finally:
            self.clients -= 1
            log.info("client %s disconnected", peer)

    async def _serve_one(self, frame, t0: float) -> tuple[dict, dict]:
        loop = asyncio.get_running_loop()
        obs, reset = await loop.run_in_executor(self._decode_pool, self._decode, frame)
        t_decoded = time.perf_counter()
        chunk, t_start, t_end, error = await loop.run_in_executor(self._infer_pool, self._infer, obs, reset)
        if error is not None:
            raise ProtocolError("inference_failed", error)
        timing = {"infer_ms": (t_end - t_start) * 1e3, "queue_ms": (t_start - t_decoded) * 1e3,
                  "decode_ms": (t_decoded - t0) * 1e3}
        return reply_from_chunk(chunk, self.metadata["policy"], self.metadata["untrained"], timing), timing

    def _decode(self, frame):
        meta, req = self.metadata, unpack(frame, self.max_frame_bytes)
        obs = observation_from_request(req, cameras=tuple(meta["cameras"]), state_dim=meta["state_dim"],
                                       horizon=meta["horizon"], action_dim=meta["action_dim"])
        return obs, wants_reset(req)

    def _infer(self, obs, reset: bool = False):
        start = time.perf_counter()
        try:
            if reset and hasattr(self.policy, "reset"):   # a new episode: re-seed the noise, as a local policy does
                self.policy.reset()
            chunk = self.policy.infer(obs)
            actions = np.asarray(chunk.actions)
            error = None if np.all(np.isfinite(actions)) else "the policy produced non-finite actions"
        except Exception as exc:  # noqa: BLE001 - the client gets a short code, the log the traceback
            log.warning("inference failed", exc_info=True)
            chunk, error = None, type(exc).__name__
        return chunk, start, time.perf_counter(), error

    # -- bookkeeping ------------------------------------------------------------------------------------------------
    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _record(self, peer, timing: dict, encode_ms: float, bytes_in: int, bytes_out: int) -> None:
        entry = {"queue_ms": timing["queue_ms"], "decode_ms": timing["decode_ms"], "infer_ms": timing["infer_ms"],
                 "encode_ms": encode_ms, "bytes_in": bytes_in, "bytes_out": bytes_out}
        with self._lock:
            self.counts["replies"] += 1
            self.timings.append(entry)
        log.debug("%s: queue %.2f ms, decode %.2f ms, infer %.2f ms, encode %.2f ms, %d B in, %d B out", peer,
                  entry["queue_ms"], entry["decode_ms"], entry["infer_ms"], encode_ms, bytes_in, bytes_out)
        now = time.monotonic()
        if now - self._last_summary >= self.summary_every_s:
            self._last_summary = now
            s = self.stats()
            p50 = [s["ms"][k]["p50"] for k in ("queue", "decode", "infer", "encode")]
            log.info("%d replies; p50 queue %.2f decode %.2f infer %.2f encode %.2f ms; refused %s",
                     s["counts"].get("replies", 0), *p50, s["refused"])

    def stats(self) -> dict:
        """Counts, and p50/p95/max of each stage over the last 1,000 replies (milliseconds)."""
        with self._lock:
            timings, counts = list(self.timings), dict(self.counts)
        ms = {}
        for k in ("queue", "decode", "infer", "encode"):
            v = np.array([t[f"{k}_ms"] for t in timings]) if timings else np.zeros(0)
            ms[k] = {q: (round(float(np.percentile(v, p)), 3) if v.size else None) for q, p in
                     (("p50", 50), ("p95", 95), ("max", 100))}
        refused = {k: v for k, v in counts.items() if k not in ("requests", "replies")}
        return {"policy": self.metadata["policy"], "clients": self.clients, "counts": counts, "refused": refused,
                "ms": ms}
