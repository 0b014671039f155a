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

"""How well a flow-matching checkpoint fits a dataset, by noise level: `pi-vla bench flow-fit`.

The flow-matching MSE on the robot's own action dims (never the 32-dim padding of π0 / π0.5), for flow times t
drawn uniformly inside each bucket, on batches of the dataset's frames (the same noise and times for every
checkpoint given the same seed). High t is the model's guess of the chunk from the observation alone; low t is
the fine detail. The training loss cannot be compared this way: π0's covers the padding, and it is drawn at
Beta-distributed times. Comparable between checkpoints normalized the same way (z-score for π0 and π0.6;
π0.5's quantile normalization scales the actions differently).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

BUCKETS = ((0.0, 0.2), (0.2, 0.5), (0.5, 1.0))


def load_for_dataset(checkpoint: str, dataset: str, profile: str | None = None):
    """(registry name, profile, policy) of a checkpoint, bound to the dataset's robot unless `profile` is given;
    a path that is no checkpoint or no dataset is one ValueError naming it.
    """
    from pi_vla_ros.episodes import resolve_policy
    from pi_vla_ros.policies.factory import make_policy
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.training.data import dataset_profile

    if not (Path(checkpoint) / "config.json").is_file():
        raise ValueError(f"{checkpoint}: not a checkpoint directory (no config.json)")
    if not (Path(dataset) / "meta" / "info.json").is_file():
        raise ValueError(f"{dataset}: not a LeRobot dataset (no meta/info.json)")
    name, path = resolve_policy(checkpoint)
    prof = load_profile(profile or dataset_profile(dataset))
    return name, prof, make_policy(name, prof, path)


def flow_fit(checkpoint: str, dataset: str, *, profile: str | None = None, episodes: int = 8, batches: int = 6,
             batch_size: int = 64, seed: int = 0) -> dict:
    """{"buckets": {"t=a-b": mse}, "all": mean over buckets, ...} for the checkpoint on the first `episodes`."""
    from pi_vla_ros.training.data import load_frames, make_batches

    name, prof, policy = load_for_dataset(checkpoint, dataset, profile)
    model = policy.model.eval()
    frames = load_frames(dataset, prof, policy.config, episodes=list(range(episodes)), only_success=False)
    source = make_batches(frames, policy, cache_prefix=False)
    n_dims = len(prof.action_names)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    errors, samples = {f"t={lo:g}-{hi:g}": [] for lo, hi in BUCKETS}, 0
    with torch.no_grad():
        for _ in range(batches):
            batch = source.batch(rng.choice(len(source), min(batch_size, len(source)), replace=False), rng)
            actions = batch["actions"]
            samples += actions.shape[0]
            keep = batch.get("action_mask", torch.ones(actions.shape[:2], dtype=torch.bool))
            if actions.shape[-1] > n_dims and not getattr(model.config, "noise_dims", 0):
                keep = keep[..., None] & (torch.arange(actions.shape[-1]) < n_dims)  # score the robot's dims only
            for (lo, hi), key in zip(BUCKETS, errors):
                t = lo + (hi - lo) * torch.rand(actions.shape[0], generator=gen)
                noise = torch.randn(actions.shape, generator=gen)
                loss = model.compute_loss({**batch, "action_mask": keep}, noise=noise, time=t)
                errors[key].append(float(loss))
    buckets = {k: round(float(np.mean(v)), 5) for k, v in errors.items()}
    return {"checkpoint": str(checkpoint), "policy": name, "dataset": str(dataset), "episodes": episodes,
            "samples": samples, "action_dims": n_dims, "buckets": buckets,
            "all": round(float(np.mean(list(buckets.values()))), 5)}


def run(checkpoints: list[str], dataset: str, out: str | None = None, **kw) -> list[dict]:
    reports = []
    for ckpt in checkpoints:
        report = flow_fit(ckpt, dataset, **kw)
        print(f"{ckpt} ({report['policy']}): " + ", ".join(f"{k} {v:.4f}" for k, v in report["buckets"].items()))
        reports.append(report)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(reports, indent=1))
    return reports
