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

"""Chunk latency of real-time chunking's two forms on a π0 / π0.5 policy: guidance vs training-time RTC.

``python -m pi_vla_ros.benchmarks.rtc_bench --policy pi05_sim --chunks 30 --out runs/bench/rtc_latency.json``

Every chunk is one ``policy.infer`` on the same observation with committed actions (``frozen`` steps executed
before the chunk arrives, the executing chunk ending at ``overlap``), as the policy node sends them:

* ``none``: no committed actions (plain sampling, the floor);
* ``guidance``: the inference-time RTC of arXiv 2506.07339, one vector-Jacobian product per Euler step;
* ``training``: training-time RTC (arXiv 2512.05964), the committed prefix hard-inpainted, no gradient.

Latency does not depend on the weights, so the policy is built from seeded random weights (its actions are not
used). p50 / p95 over ``chunks`` after ``warmup`` chunks, one torch thread by default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch


def measure(policy_name: str = "pi05_sim", profile: str = "bimanual", chunks: int = 30, warmup: int = 3,
            frozen: int = 10, overlap: int = 25, threads: int = 1) -> dict:
    from pi_vla_ros.policies.base import CommittedActions, Observation
    from pi_vla_ros.policies.pi0 import Pi0Policy
    from pi_vla_ros.policies.registry import get_config
    from pi_vla_ros.profiles import load_profile

    torch.set_num_threads(threads)
    prof = load_profile(profile)
    rng = np.random.default_rng(0)
    images = {c.name: rng.integers(0, 256, (c.height, c.width, 3), dtype=np.uint8) for c in prof.cameras}
    state = rng.uniform(-0.3, 0.3, prof.state_dim).astype(np.float32)
    committed = CommittedActions(np.tile(rng.uniform(-0.3, 0.3, prof.action_dim), (50, 1)).astype(np.float32),
                                 frozen=frozen, overlap=overlap)
    results = {}
    for mode in ("none", "guidance", "training"):
        delay = frozen if mode == "training" else 0
        config = dataclasses.replace(get_config(policy_name), training_rtc_max_delay=delay)
        policy = Pi0Policy.build(config, prof, seed=0)
        obs = Observation(images=images, state=state, prompt="pick up the red cube", stamp=0.0,
                          committed=None if mode == "none" else committed)
        times = []
        for i in range(warmup + chunks):
            t0 = time.perf_counter()
            policy.infer(obs)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        results[mode] = {"p50_ms": round(1e3 * float(np.percentile(times, 50)), 1),
                         "p95_ms": round(1e3 * float(np.percentile(times, 95)), 1)}
    return {"policy": policy_name, "profile": profile, "chunks": chunks, "frozen": frozen, "overlap": overlap,
            "threads": threads, "cpu": platform.processor() or platform.machine(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "latency": results}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", default="pi05_sim")
    p.add_argument("--profile", default="bimanual")
    p.add_argument("--chunks", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    report = measure(args.policy, args.profile, args.chunks, threads=args.threads)
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
