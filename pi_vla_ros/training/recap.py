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

"""Recap (π*0.6, FACTS.md §7): learn from successes, failures and corrections with an advantage-conditioned policy.

One round, all on one LeRobot dataset (demonstrations plus the policy's own rollouts, `pi-vla collect --policy`):

1. Rewards: -1 per step, 0 on the successful last step, and -C_fail more at a failed end; returns are normalized
   by the longest possible episode (max_steps) into [-1, 0], i.e. roughly minus the time still needed.
2. Value: a distributional V(o) (201 bins, policies/pi06/value.py) trained with cross-entropy on those Monte-Carlo
   returns (`train_value`).
3. Advantages: A_t = sum of the next N rewards + V(o_{t+N}) - V(o_t), N = 50; where the episode ends sooner, its
   Monte-Carlo remainder instead of the bootstrap (`label_advantages`).
4. Indicator: A_t > eps, with eps the quantile that makes `positive_fraction` of the autonomous frames positive;
   frames where a human (or the expert) had taken over are always positive, and so, optionally, are whole
   teleoperated demonstrations (`human_episodes`).
5. Policy: fine-tuned from the pre-trained checkpoint with "Advantage: positive|negative" in the prompt (left out
   30% of the time), `pi-vla train --init CKPT --advantages LABELS`; at inference it asks for "positive".
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

LABEL_COLUMNS = ("index", "episode_index", "return", "value", "advantage", "positive", "intervention")
# "intervention" in a labels file: a person drove this frame (a correction, or a demonstration given as human data)


@dataclass(frozen=True)
class RecapConfig:
    max_steps: int                   # the longest episode in frames (task time limit x fps): returns / max_steps
    fail_penalty: float = 0.5        # C_fail, in units of max_steps
    lookahead: int = 50              # N of the advantage estimate
    positive_fraction: float = 0.4   # of the non-intervention frames (FACTS: 30% pre-training, 40% fine-tuning)

    @classmethod
    def for_profile(cls, profile, **kwargs) -> "RecapConfig":
        limit = float((profile.task or {}).get("time_limit_s", 12.0))
        return cls(max_steps=int(round(limit * profile.policy_rate_hz)), **kwargs)


def mc_returns(frames, cfg: RecapConfig) -> np.ndarray:
    """Normalized Monte-Carlo return of every frame [N], in [-1, 0]."""
    n = len(frames.states)
    steps_left = frames.episode_end - np.arange(n) - 1           # rewards of -1 still to come after this frame
    g = -steps_left / cfg.max_steps - np.where(frames.success, 0.0, cfg.fail_penalty)
    return np.clip(g, -1.0, 0.0).astype(np.float32)


def advantages(frames, values: np.ndarray, returns: np.ndarray, cfg: RecapConfig) -> np.ndarray:
    """A_t = (N-step return with a V bootstrap, or the Monte-Carlo return where the episode ends first) - V(o_t)."""
    n = len(values)
    t = np.arange(n)
    ahead = t + cfg.lookahead
    inside = ahead < frames.episode_end
    target = returns.astype(np.float64).copy()
    target[inside] = -cfg.lookahead / cfg.max_steps + values[ahead[inside]]
    return (target - values).astype(np.float32)


def indicator(adv: np.ndarray, intervention: np.ndarray, positive_fraction: float) -> tuple[np.ndarray, float]:
    """(positive [N] bool, eps): A > eps for the given fraction of autonomous frames; interventions always True."""
    autonomous = adv[~intervention]
    eps = float(np.quantile(autonomous, 1.0 - positive_fraction)) if autonomous.size else 0.0
    return (adv > eps) | intervention, eps


# ---------------------------------------------------------------------------------------------- the value function
def train_value(dataset: str, out: str, *, profile: str = "", policy: str = "pi06_sim", steps: int = 1500,
                batch_size: int = 64, lr: float = 1e-3, holdout: float = 0.1, seed: int = 0, threads: int = 1,
                recap: RecapConfig | None = None, progress: bool = True, log_fn=print,
                camera_map: dict[str, str] | None = None, joint_map: dict[str, str] | None = None) -> dict:
    """Train Recap's value function on every episode of `dataset` (a held-out `holdout` fraction of the episodes
    measures it); saves a Pi06Value checkpoint, loss.png and summary.json in `out`. camera_map / joint_map read a
    dataset whose names differ from the profile's, as in training (`load_frames`).
    """
    from pi_vla_ros.policies.pi06.value import Pi06Value
    from pi_vla_ros.policies.tokenizer import build_tokenizer
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.training.common import autocast_dtype, plot_loss, policy_config
    from pi_vla_ros.training.data import (CachedPrefixBatches, dataset_profile, load_frames, norm_stats,
                                          training_words)

    wall0 = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    prof = load_profile(profile or dataset_profile(dataset))
    recap = recap or RecapConfig.for_profile(prof)
    config = policy_config(policy).resolve(prof)
    frames = load_frames(dataset, prof, config, only_success=False, progress=progress, camera_map=camera_map,
                         joint_map=joint_map)
    returns = mc_returns(frames, recap)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_tokenizer(training_words(frames, prof), tmp)
    value = Pi06Value.build(config, prof, norm_stats=norm_stats(frames, config, config.expert.horizon, seed=seed),
                            tokenizer=tokenizer, seed=seed)
    batches = CachedPrefixBatches(frames, value, progress=progress)
    rng = np.random.default_rng(seed)
    n_episodes = len(frames.episodes)
    held = rng.permutation(frames.episodes)[: int(round(holdout * n_episodes))]
    test = np.isin(frames.episode_index, held)
    train_idx = np.flatnonzero(~test)

    model = value.model.train()
    params = list(model.trainable_parameters())
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=1e-4)
    amp = autocast_dtype("auto", torch.device("cpu"))
    bar = _bar(steps, "train value", progress)
    history = []
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = train_idx[torch.randint(0, len(train_idx), (batch_size,), generator=g).numpy()]
        for group in opt.param_groups:  # warm-up, then cosine to 10%
            group["lr"] = lr * (min(1.0, (step + 1) / 100) * (0.55 + 0.45 * math.cos(math.pi * step / steps)))
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            loss = model.loss(batches.batch(idx), torch.from_numpy(returns[idx]))
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        history.append((step + 1, float(loss.detach())))
        bar.update(loss=float(np.mean([v for _, v in history[-50:]])))
    bar.close()
    model.eval()
    values = predict_values(value, frames, batches)
    out = Path(out)
    value.save_pretrained(out, extra={"recap": asdict(recap)})
    plot_loss(history, out / "loss.png", "Recap value function", ylabel="cross-entropy")
    summary = {"dataset": dataset, "profile": prof.name, "steps": steps, "frames": len(frames.states),
               "episodes": n_episodes, "failed_episodes": int(len(np.unique(frames.episode_index[~frames.success]))),
               "heldout_episodes": len(held), "final_loss": round(float(np.mean([v for _, v in history[-50:]])), 4),
               **_value_quality(values, returns, frames, test), "recap": asdict(recap),
               "wall_s": round(time.perf_counter() - wall0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    log_fn(f"value function: held-out correlation with the return {summary['heldout_corr']}, mean |V - G| "
           f"{summary['heldout_mae']}; V success/failure frames {summary['mean_v_success']} / "
           f"{summary['mean_v_failure']} -> {out}")
    return summary


def predict_values(value, frames, batches, batch_size: int = 256) -> np.ndarray:
    return np.concatenate([value.values(batches.batch(np.arange(s, min(s + batch_size, len(frames.states)))))
                           for s in range(0, len(frames.states), batch_size)])


def _value_quality(values, returns, frames, test) -> dict:
    def corr(a, b):
        return round(float(np.corrcoef(a, b)[0, 1]), 3) if len(a) > 2 and np.std(a) > 0 and np.std(b) > 0 else None

    return {"heldout_corr": corr(values[test], returns[test]),
            "heldout_mae": round(float(np.mean(np.abs(values[test] - returns[test]))), 4) if test.any() else None,
            "train_corr": corr(values[~test], returns[~test]),
            "mean_v_success": round(float(values[frames.success].mean()), 3) if frames.success.any() else None,
            "mean_v_failure": round(float(values[~frames.success].mean()), 3) if (~frames.success).any() else None}


# --------------------------------------------------------------------------------------------------- advantages
def label_advantages(dataset: str, value_dir: str, out_file: str, *, profile: str = "",
                     positive_fraction: float | None = None, human_episodes: list[int] | None = None,
                     progress: bool = True, log_fn=print, camera_map: dict[str, str] | None = None,
                     joint_map: dict[str, str] | None = None) -> dict:
    """Write every frame's Recap label (columns LABEL_COLUMNS) to a parquet file; returns a summary.

    human_episodes: dataset episodes a person drove throughout (teleoperated demonstrations): labelled positive
    like corrections, and left out of the quantile that sets eps.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pi_vla_ros.policies.checkpoint import read_json
    from pi_vla_ros.policies.pi06.value import Pi06Value
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.training.data import CachedPrefixBatches, dataset_profile, load_frames

    prof = load_profile(profile or dataset_profile(dataset))
    meta = read_json(Path(value_dir) / "config.json")
    recap = RecapConfig(**meta["recap"])
    if positive_fraction is not None:
        recap = RecapConfig(**{**asdict(recap), "positive_fraction": positive_fraction})
    value = Pi06Value.from_pretrained(value_dir, prof)
    frames = load_frames(dataset, prof, value.config, only_success=False, progress=progress, camera_map=camera_map,
                         joint_map=joint_map)
    values = predict_values(value, frames, CachedPrefixBatches(frames, value, progress=progress))
    returns = mc_returns(frames, recap)
    adv = advantages(frames, values, returns, recap)
    human = frames.intervention | np.isin(frames.episode_index, human_episodes or [])
    positive, eps = indicator(adv, human, recap.positive_fraction)
    table = pa.table({"index": frames.rows, "episode_index": frames.episode_index, "return": returns, "value": values,
                      "advantage": adv, "positive": positive, "intervention": human})
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out_file)
    summary = {"dataset": dataset, "value": str(value_dir), "frames": len(adv), "eps": round(eps, 5),
               "positive_fraction": round(float(positive.mean()), 3),
               "positive_in_success": round(float(positive[frames.success].mean()), 3)
               if frames.success.any() else None,
               "positive_in_failure": round(float(positive[~frames.success].mean()), 3)
               if (~frames.success).any() else None,
               "interventions": int(frames.intervention.sum()), "human_frames": int(human.sum()),
               "recap": asdict(recap)}
    log_fn(f"advantage labels: {summary['positive_fraction']:.0%} positive (eps {eps:.4f}); in successful episodes "
           f"{summary['positive_in_success']}, in failed ones {summary['positive_in_failure']} -> {out_file}")
    return summary


def read_labels(path: str, frames) -> np.ndarray:
    """The `positive` label of each of `frames` (matched by dataset index); every frame must have one."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["index", "positive"])
    by_index = dict(zip(table.column("index").to_pylist(), table.column("positive").to_pylist()))
    missing = [int(i) for i in frames.rows if int(i) not in by_index]
    if missing:
        raise ValueError(f"{path} has no Recap label for {len(missing)} frames (e.g. dataset index {missing[0]}): "
                         "label the dataset again after adding episodes")
    return np.array([by_index[int(i)] for i in frames.rows], dtype=bool)


class _bar:

    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, mininterval=1.0)

    def update(self, **postfix) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in postfix.items()}, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
