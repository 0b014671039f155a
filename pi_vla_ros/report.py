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

"""The run report of a graph run: what the nodes measured, as one JSON-able dict.

``ok`` is false, with each reason in ``why``, when the graph failed: the policy server was down at the end (it died
or hung and did not come back), or no action chunk was produced. ``failures`` counts the inference faults by reason
(core/inference.py's FAULTS), recovered ones included.
"""

from __future__ import annotations

import numpy as np

from pi_vla_ros.core.inference import FAULTS


def _stats_ms(values_s, *percentiles) -> dict:
    if len(values_s) == 0:
        return {f"p{p}": None for p in percentiles} | {"max": None}
    arr = np.asarray(values_s, dtype=float) * 1000.0
    return {f"p{p}": round(float(np.percentile(arr, p)), 3) for p in percentiles} | {"max": round(float(arr.max()), 3)}


def build_report(nodes: dict, *, wall_s: float) -> dict:
    """``nodes``: executable name -> node object of a finished (or paused) run."""
    ex, pol = nodes["pi_vla_executor"], nodes["pi_vla_policy"]
    wall = np.asarray(ex.publish_wall_times)
    sim_t = np.asarray(ex.publish_sim_times)
    n = len(wall)
    s = ex.core.stats
    rejected = {name: node.rejections.counter.as_dict() for name, node in nodes.items() if hasattr(node, "rejections")}
    sim = nodes.get("pi_vla_sim")
    if sim is not None:
        rejected["pi_vla_sim"] = sim.rejections.counter.as_dict()
    report = {
        "profile": ex.profile.name,
        "wall_s": round(wall_s, 3),
        "sim_s": round(float(sim_t[-1]), 3) if n else 0.0,
        "executor": {
            "commands": int(s.commands),
            "rate_hz_wall": round((n - 1) / (wall[-1] - wall[0]), 3) if n > 1 else None,
            "rate_hz_sim": round((n - 1) / (sim_t[-1] - sim_t[0]), 3) if n > 1 else None,
            "interval_ms_wall": _stats_ms(np.diff(wall), 50, 99),
            "starvation_ticks": int(s.starvation_ticks),
            "watchdog_trips": int(s.watchdog_trips),
            "safety_clamps": int(s.safety_clamps),
            "clamps_by_kind": dict(s.clamps_by_kind),
        },
        "policy": {
            "name": pol.policy.metadata.name,
            "untrained": bool(getattr(pol.policy, "untrained", False)),
            "chunks": len(pol.chunk_log),
            "inference_latency_ms": _stats_ms(pol.latencies, 50, 95),
            "compute_ms": _stats_ms(pol.compute_times, 50, 95),
            "network_rtt_ms": _stats_ms(getattr(pol, "round_trips", ()), 50, 95),   # remote inference only
            "observation_age_ms": _stats_ms(pol.observation_ages, 50, 95),
        },
        "rejected_inputs": rejected,
        "rejected_total": int(sum(sum(r.values()) for r in rejected.values())),
    }
    runner = pol.runner
    report["policy"] |= {"server_ready": bool(runner is not None and runner.ready),
                         "restarts": int(getattr(runner, "restarts", 0)),
                         "last_error": None if runner is None or runner.last_error is None else str(runner.last_error)}
    report["failures"] = {r: n for r, n in rejected.get("pi_vla_policy", {}).items() if r in FAULTS}
    why = []
    if not report["policy"]["server_ready"]:
        why.append(f"the policy server was down at the end of the run: {report['policy']['last_error']}")
    if not pol.chunk_log:
        why.append("no action chunk was produced")
    report = {"ok": not why, "why": why} | report
    if sim is not None:
        report["task"] = sim.status()
    return report


def summary(report: dict) -> str:
    ex, pol = report["executor"], report["policy"]
    lines = [
        f"profile {report['profile']}: {report['sim_s']:.1f} s sim in {report['wall_s']:.1f} s wall",
        f"executor: {ex['commands']} commands, {ex['rate_hz_wall']} Hz wall / {ex['rate_hz_sim']} Hz sim, interval "
        f"p50 {ex['interval_ms_wall']['p50']} p99 {ex['interval_ms_wall']['p99']} "
        f"max {ex['interval_ms_wall']['max']} ms, "
        f"starvation {ex['starvation_ticks']}, watchdog trips {ex['watchdog_trips']}, clamps {ex['safety_clamps']}",
        f"policy {pol['name']}{' (UNTRAINED)' if pol['untrained'] else ''}: {pol['chunks']} chunks, latency p50 "
        f"{pol['inference_latency_ms']['p50']} p95 {pol['inference_latency_ms']['p95']} ms, observation age p95 "
        f"{pol['observation_age_ms']['p95']} ms",
        f"rejected inputs: {report['rejected_total']} {report['rejected_inputs']}",
    ]
    if report["failures"]:
        lines.append(f"failures: {report['failures']}, policy server restarts {pol['restarts']}")
    if "task" in report:
        lines.append(f"task: {report['task'].get('instruction')!r} success={report['task'].get('success')}")
    if not report["ok"]:
        lines.append(f"FAILED: {'; '.join(report['why'])}")
    return "\n".join(lines)
