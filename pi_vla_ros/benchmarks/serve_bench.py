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

"""``pi-vla bench serve``: what serving a policy across the network costs, and what a slow network does to a robot.

1. Round trips on loopback: ``pi-vla serve``'s server in a child process (its own interpreter, as on another
   machine; one torch thread, like the client's local policy), the client here. Each of ``requests`` rounds takes
   one observation rendered by the simulator (cameras, joint state, instruction, and an RTC prefix as the policy
   node sends) and runs it (a) through the policy in this process (local inference), (b) to the server with raw
   images, (c) with JPEG images, (d) through a proxy that delays every byte by ``delay_ms / 2`` each way. Rounds
   interleave the four, so load on the machine hits them alike. Per request: round trip (client wall clock, from
   encoding the images to the decoded reply), the server's stage timing, request and reply bytes.
   Overhead = round trip - the server's inference time.
2. Closed loop: ``pi-vla eval`` of the checkpoint, served by that server through the delaying proxy, on lockstep
   simulated time (each reply handed over ``base_latency_s + delay_ms`` of simulated time after its request, the
   bytes really crossing the proxy), RTC on and off, ``episodes`` each on the same seeds, raw or JPEG images (then
   also JPEG's pixel error on rendered frames); optionally the local baseline (``base_latency_s``, no network).
Figures, never assertions.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time

import numpy as np

KEY_ENV = "PI_VLA_API_KEY"


def _serve_child(conn, spec, key: str) -> None:
    """The server process: build, warm up, serve on a free loopback port, report it, stop when told."""
    import logging

    from pi_vla_ros.serving.server import PolicyServer

    logging.basicConfig(level=logging.WARNING)
    policy, profile = spec.load()
    from pi_vla_ros.core.inference import warm_up

    warm_up(policy, profile)
    server = PolicyServer(policy, profile, api_key=key, port=0, rate_hz=1000.0, burst=1000).start()
    conn.send(server.port)
    try:
        conn.recv()                  # "stop"; EOF when the benchmark died: stop all the same
        conn.send(server.stats())
    except (EOFError, OSError):
        pass
    finally:
        server.stop()
        os._exit(0)                  # nothing else to wait for (torch and pool threads)


class DelayProxy:
    """A loopback TCP proxy that delivers every byte ``one_way_s`` late in each direction (an in-process netem)."""

    def __init__(self, target_port: int, one_way_s: float):
        self.target_port, self.one_way_s = target_port, one_way_s
        self.port = 0
        self._loop = self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pi_vla_delay_proxy")

    def start(self) -> "DelayProxy":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        self._loop = loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)   # this thread's loop: gather() at shutdown looks it up
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        # stopped: close the listener and end every connection's tasks before the loop goes
        self._server.close()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        except asyncio.CancelledError:   # the proxy is stopping: the connection ends with it, quietly
            writer.close()

    async def _pipe(self, reader, writer) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver():
            while (item := await queue.get()) is not None:
                due, data = item
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(1 << 16):
                queue.put_nowait((time.monotonic() + self.one_way_s, data))
            queue.put_nowait(None)
            await task
        finally:
            task.cancel()


def _observations(profile_name: str, n: int, horizon: int, seed: int):
    """``n`` observations of simulated scenes (seeds ``seed``..), with a realistic RTC prefix."""
    from pi_vla_ros.policies.base import CommittedActions, Observation
    from pi_vla_ros.sim.simulator import Simulator

    sim = Simulator(profile_name, seed=seed)
    out = []
    for i in range(n):
        sim.reset(seed + i)
        q = sim.joint_positions().astype(np.float32)
        prefix = np.repeat(q[None, :len(sim.profile.action_names)], horizon, axis=0)
        out.append(Observation(images={c.name: sim.render(c.name).copy() for c in sim.profile.cameras}, state=q,
                               prompt=sim.instruction, stamp=0.0,
                               committed=CommittedActions(prefix, frozen=5, overlap=horizon - 15)))
    sim.close()
    return out


def _pct(values, digits: int = 2) -> dict:
    v = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(v, 50)), digits), "p95": round(float(np.percentile(v, 95)), digits),
            "mean": round(float(v.mean()), digits), "n": int(v.size)}


def round_trips(policy, profile_name: str, url: str, proxy_url: str, key: str, requests: int, warmup: int,
                log=print) -> dict:
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.serving.client import PolicyClient
    from pi_vla_ros.serving.protocol import pack, request_from_observation

    profile = load_profile(profile_name)
    scenes = _observations(profile_name, 8, policy.metadata.horizon, seed=100000)
    modes = {"raw": (url, "raw"), "jpeg": (url, "jpeg"), "raw_delayed": (proxy_url, "raw")}
    clients = {m: PolicyClient(u, key) for m, (u, _) in modes.items()}
    dt = policy.metadata.dt

    def encode(obs, encoding):   # as the policy node's RemoteRunner does
        delay = None if obs.committed is None else obs.committed.frozen * dt
        return request_from_observation(obs, image_encoding=encoding, delay_s=delay)
    rows: dict[str, list] = {"local": [], **{m: [] for m in modes}}
    for i in range(warmup + requests):
        obs = scenes[i % len(scenes)]
        t0 = time.perf_counter()
        policy.infer(obs)
        local_ms = (time.perf_counter() - t0) * 1e3
        done = [("local", {"rtt_ms": local_ms})]
        for m, client in clients.items():
            t0 = time.perf_counter()   # from encoding the images on, as the policy node's runner has it
            request = encode(obs, modes[m][1])
            reply = client.infer(request, timeout_s=60)
            rtt = (time.perf_counter() - t0) * 1e3
            timing = reply["server_timing"]
            done.append((m, {"rtt_ms": rtt, "infer_ms": timing["infer_ms"], "queue_ms": timing["queue_ms"],
                             "decode_ms": timing["decode_ms"], "overhead_ms": rtt - timing["infer_ms"],
                             "bytes_sent": client.bytes_sent, "bytes_received": client.bytes_received}))
        if i >= warmup:
            for m, row in done:
                rows[m].append(row)
        if (i + 1) % 10 == 0:
            log(f"  round trips: {i + 1}/{warmup + requests}")
    for c in clients.values():
        c.close()
    bare = scenes[0].__class__(**{**scenes[0].__dict__, "committed": None})
    out = {"profile": profile_name, "cameras": {c.name: [c.height, c.width] for c in profile.cameras},
           "requests": requests, "warmup": warmup,
           "bytes_raw_without_rtc_prefix": len(pack(encode(bare, "raw"))),
           "bytes_jpeg_without_rtc_prefix": len(pack(encode(bare, "jpeg")))}
    out["local_infer_ms"] = _pct([r["rtt_ms"] for r in rows["local"]])
    for m in modes:
        out[m] = {k: _pct([r[k] for r in rows[m]], 0 if k.startswith("bytes") else 2)
                  for k in ("rtt_ms", "infer_ms", "queue_ms", "decode_ms", "overhead_ms", "bytes_sent",
                            "bytes_received")}
        out[m]["rtt_minus_local_p50_ms"] = round(out[m]["rtt_ms"]["p50"] - out["local_infer_ms"]["p50"], 2)
    out["samples_ms"] = {"local": [round(r["rtt_ms"], 2) for r in rows["local"]],
                         **{m: [round(r["rtt_ms"], 2) for r in rows[m]] for m in modes}}
    return out


def jpeg_error(profile: str, quality: int = 90, scenes: int = 8, seed: int = 100000) -> dict:
    """What JPEG costs in fidelity on rendered camera images: mean and max absolute pixel error (0-255)."""
    from pi_vla_ros.serving.protocol import decode_jpeg, encode_jpeg

    errors = [np.abs(decode_jpeg(encode_jpeg(img, quality)).astype(int) - img)
              for obs in _observations(profile, scenes, 1, seed) for img in obs.images.values()]
    return {"quality": quality, "mean_abs_error": round(float(np.mean([e.mean() for e in errors])), 3),
            "p99_abs_error": round(float(np.percentile(np.concatenate([e.ravel() for e in errors]), 99)), 1)}


def closed_loop(checkpoint: str, profile: str, url: str, episodes: int, seed: int, latency_s: float,
                execute_steps: int, log=print, progress: bool = True, image_encoding: str = "raw") -> dict:
    from pi_vla_ros.evaluation.closed_loop import evaluate

    remote = {"inference_mode": "remote", "remote_url": url, "remote_lockstep": True,
              "simulated_latency_s": latency_s, "execute_steps": execute_steps,
              "remote_image_encoding": image_encoding}
    out = {"image_encoding": image_encoding} | ({"jpeg": jpeg_error(profile)} if image_encoding == "jpeg" else {})
    for name, rtc in (("remote_rtc_on", True), ("remote_rtc_off", False)):
        params = {"pi_vla_policy": remote | {"real_time_chunking": rtc}}
        report = evaluate(profile, checkpoint, episodes, seed=seed, media_episodes=0, progress=progress,
                          params=params, log=log)
        out[name] = {k: v for k, v in report.items() if k != "per_episode"} | {
            "latency_s": latency_s, "real_time_chunking": rtc,
            "successes_by_seed": [int(e["success"]) for e in report["per_episode"]]}
    return out


def local_baseline(checkpoint: str, profile: str, episodes: int, seed: int, latency_s: float, execute_steps: int,
                   log=print, progress: bool = True) -> dict:
    from pi_vla_ros.evaluation.closed_loop import evaluate

    params = {"pi_vla_policy": {"simulated_latency_s": latency_s, "execute_steps": execute_steps}}
    report = evaluate(profile, checkpoint, episodes, seed=seed, media_episodes=0, progress=progress, params=params,
                      log=log)
    return {k: v for k, v in report.items() if k != "per_episode"} | {
        "latency_s": latency_s, "real_time_chunking": True,
        "successes_by_seed": [int(e["success"]) for e in report["per_episode"]]}


def run(checkpoint: str = "checkpoints/bimanual_pi06_sim", profile: str = "bimanual", *, requests: int = 100,
        warmup: int = 5, delay_ms: float = 100.0, episodes: int = 20, seed: int = 100000,
        base_latency_s: float = 0.1, execute_steps: int = 35, baseline: bool = True, plot: str | None = None,
        image_encoding: str = "raw", progress: bool = True, log=print) -> dict:
    import json
    import secrets
    from pathlib import Path

    from pi_vla_ros.core.inference import PolicySpec

    os.environ.setdefault("MUJOCO_GL", "egl")
    name = json.loads((Path(checkpoint) / "config.json").read_text())["config"]["name"]
    spec = PolicySpec(name, profile, checkpoint, False, torch_threads=1)
    key = secrets.token_urlsafe(32)
    os.environ[KEY_ENV] = key    # the policy node reads it (remote_api_key_env)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_child, args=(child, spec, key), daemon=True)
    proc.start()
    report: dict = {"checkpoint": checkpoint, "policy": name, "delay_ms": delay_ms}
    try:
        deadline = time.monotonic() + 600
        while not parent.poll(0.5):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the policy server did not start (exit code {proc.exitcode})")
        port = parent.recv()
        url = f"ws://127.0.0.1:{port}"
        proxy = DelayProxy(port, delay_ms / 2e3).start()
        proxy_url = f"ws://127.0.0.1:{proxy.port}"
        import torch

        torch.set_num_threads(1)
        policy, _ = spec.load()
        log(f"serve bench: {name} at {url}, +{delay_ms:g} ms proxy at {proxy_url}")
        if requests:
            report["round_trips"] = round_trips(policy, profile, url, proxy_url, key, requests, warmup, log)
            rt = report["round_trips"]
            log(f"local {rt['local_infer_ms']['p50']} ms; remote raw {rt['raw']['rtt_ms']['p50']} ms (overhead "
                f"{rt['raw']['overhead_ms']['p50']} ms, {rt['raw']['bytes_sent']['p50']:.0f} B), jpeg "
                f"{rt['jpeg']['rtt_ms']['p50']} ms ({rt['jpeg']['bytes_sent']['p50']:.0f} B), +{delay_ms:g} ms "
                f"{rt['raw_delayed']['rtt_ms']['p50']} ms")
        del policy
        if episodes:
            latency = base_latency_s + delay_ms / 1e3
            report["closed_loop"] = closed_loop(checkpoint, profile, proxy_url, episodes, seed, latency,
                                                execute_steps, log, progress, image_encoding)
            if baseline:
                report["closed_loop"]["local"] = local_baseline(checkpoint, profile, episodes, seed, base_latency_s,
                                                                execute_steps, log, progress)
        proxy.stop()
        parent.send("stop")
        report["server_stats"] = parent.recv() if parent.poll(30) else None
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    if plot:
        _plot(report, plot)
    return report


def _plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("round_trips", "closed_loop") if k in report]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "round_trips":   # what the network adds: round trip - the server's inference time
            rt = report["round_trips"]
            labels = {"raw": "raw", "jpeg": "JPEG", "raw_delayed": f"raw, +{report['delay_ms']:g} ms"}
            x = np.arange(len(labels))
            for dx, q, color in ((-0.2, "p50", "tab:blue"), (0.2, "p95", "tab:orange")):
                vals = [rt[k]["overhead_ms"][q] for k in labels]
                bars = ax.bar(x + dx, vals, 0.4, color=color, label=f"overhead {q}")
                for b, v in zip(bars, vals):
                    ax.annotate(f"{v:.1f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
            ax.set_yscale("log")
            ax.set_xticks(x, [f"{v}\n{rt[k]['bytes_sent']['p50'] / 1e3:.0f} kB/request" for k, v in labels.items()],
                          fontsize=8)
            ax.set_ylabel("round trip - server inference (ms)")
            ax.legend(fontsize=7)
            ax.set_title(f"{report['policy']} on loopback, {rt['requests']} requests (local inference p50 "
                         f"{rt['local_infer_ms']['p50']:.0f} ms)", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
        else:
            cl = report["closed_loop"]
            names = [k for k in ("local", "remote_rtc_on", "remote_rtc_off") if k in cl]
            enc = "" if cl.get("image_encoding", "raw") == "raw" else f", {cl['image_encoding']}"
            rates = [100 * cl[k]["success_rate"] for k in names]
            text = {"local": f"local\n{1e3 * cl['local']['latency_s']:.0f} ms" if "local" in cl else "",
                    "remote_rtc_on": f"remote +{report['delay_ms']:g} ms{enc}\nRTC on",
                    "remote_rtc_off": f"remote +{report['delay_ms']:g} ms{enc}\nRTC off"}
            colors = {"local": "0.6", "remote_rtc_on": "tab:green", "remote_rtc_off": "tab:red"}
            bars = ax.bar(range(len(names)), rates, color=[colors[k] for k in names])
            for b, k in zip(bars, names):
                ax.annotate(f"{cl[k]['successes']}/{cl[k]['episodes']}, {cl[k]['time_to_success_s']['mean']} s",
                            (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
            ax.set_xticks(range(len(names)), [text[k] for k in names], fontsize=8)
            ax.set_ylim(0, 105)
            ax.set_ylabel("closed-loop success (%)")
            ax.set_title(f"{report['policy']}, bimanual pick-and-place, same seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
