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

"""``pi-vla bench soak``: the graph in real time for a long while, optionally with its policy server killed.

One :class:`~pi_vla_ros.runner.GraphRunner` in real time (the main job's layout), the episode never ending
(``on_episode_end: continue``: the policy keeps acting after success, as on a continuous task). Every control
tick the soak looks at the executor and the policy node; every ``sample_s`` it records this process's resident
memory. With ``kill_every_s`` the policy-server process is killed (SIGKILL) that often; for each kill it records
when the executor started holding (its last chunk ran out) and when the next chunk was executed again, in
simulated seconds after the kill (real time: simulated time follows the wall clock). Commands are checked finite
and within the URDF limits on every tick. Figures, never assertions: the README reports them.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def soak(robot: str = "bimanual", duration_s: float = 3600.0, *, kill_every_s: float = 0.0, sample_s: float = 10.0,
         policy: str = "pi06_sim", checkpoint: str = "checkpoints/bimanual_pi06_sim", seed: int = 100002,
         params: dict | None = None, log=print) -> dict:
    from pi_vla_ros.runner import GraphRunner

    overrides = {"pi_vla_instruction": {"on_episode_end": "continue"},
                 "pi_vla_policy": {"execute_steps": 35}} | (params or {})
    with GraphRunner(robot, realtime=True, overrides=overrides, policy=policy, checkpoint=checkpoint,
                     seed=seed) as run:
        run.set_log_level(30)
        ex, pol = run.node("pi_vla_executor"), run.node("pi_vla_policy")
        lower, upper = ex.profile.lower(), ex.profile.upper()
        samples, kills, unsafe = [], [], 0
        next_sample = next_kill = 0.0
        start = run.sim_time()
        while run.sim_time() - start < duration_s:
            run.spin_for(1.0 / ex.core.config.control_rate_hz)
            t = run.sim_time() - start
            last = ex._last_sent
            if last is not None:
                positions = np.asarray(last[0])
                unsafe += int(not np.all(np.isfinite(positions)) or np.any(positions < lower - 1e-9)
                              or np.any(positions > upper + 1e-9))
            if kills and kills[-1]["hold_s"] is None and ex.core.holding:
                kills[-1]["hold_s"] = round(t - kills[-1]["at_s"], 3)
            if kills and kills[-1]["resume_s"] is None and not ex.core.holding and \
                    len(pol.chunk_log) > kills[-1]["chunks"]:
                kills[-1]["resume_s"] = round(t - kills[-1]["at_s"], 3)
            if kill_every_s and t >= next_kill + kill_every_s:
                next_kill = t
                pid = pol.runner.pid
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    kills.append({"at_s": round(t, 3), "pid": pid, "chunks": len(pol.chunk_log),
                                  "hold_s": None, "resume_s": None})
                    log(f"  t={t:7.1f} s  killed the policy server (pid {pid})")
            if t >= next_sample:
                next_sample += sample_s
                samples.append((round(time.perf_counter(), 3), round(t, 3), round(_rss_mb(), 2)))
                if len(samples) % max(1, int(300 / sample_s)) == 1:
                    log(f"  t={t:7.1f} s  rss={samples[-1][2]:.1f} MB  commands={ex.core.stats.commands}  "
                        f"chunks={len(pol.chunk_log)}")
        report = run.report()
    times = np.array([s[1] for s in samples])
    rss = np.array([s[2] for s in samples])
    # growth is fitted once the bounded report buffers are full (the executor's 10-minute timing window, the
    # policy node's last 1,000 chunks) and caches and allocator pools have filled: a leak, not a buffer filling
    settled = times >= min(900.0, duration_s / 4)
    growth = (float(np.polyfit(times[settled], rss[settled], 1)[0]) * 3600.0
              if settled.sum() >= 3 else None)
    report["soak"] = {"duration_s": duration_s, "rss_mb_start": float(rss[0]), "rss_mb_end": float(rss[-1]),
                      "rss_growth_mb_per_hour": None if growth is None else round(growth, 3),
                      "unsafe_commands": unsafe, "kills": kills, "rss_samples": samples}
    return report
