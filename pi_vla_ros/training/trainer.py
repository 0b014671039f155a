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

"""``pi-vla train``: flow-matching training of a registry policy on a LeRobot dataset.

The recipe (openpi / LeRobot): AdamW (betas 0.9/0.95, weight decay), gradient clipping at 1.0, linear warm-up then
cosine decay to ``lr * final_lr_fraction``, an exponential moving average of the weights (what the checkpoint's
policy uses), bf16 autocast where the hardware has it (CUDA; CPUs with native bf16, e.g. AVX512-BF16), optional
gradient checkpointing. Only the trainable part learns: the π0.6 expert (and observation encoder) with its VLM
frozen -- trained on a cache of the frozen VLM's output (training/data.py) -- or, for π0 / π0.5, everything except
the VLM when ``freeze_vlm``.

π0.5's recipe (models/pi0.py): for configs whose VLM learns target tokens (``fast_tokens`` / ``subtask``), the loss is
``CE(text + FAST) + loss_alpha * flow`` with knowledge insulation (``knowledge_insulation``: the flow loss reaches no
VLM parameter), or CE alone in the pre-training ``stage="pre"``; each term is logged (progress bar, loss.png,
``training/state.json`` "loss_terms", summary "final_terms"). The FAST tokenizer is fitted on the training set's
normalized chunks and saved with the checkpoint. Such a VLM must train: ``freeze_vlm`` is then an error.
Training-time RTC (``training_rtc_max_delay`` in the policy config): per sample a random prefix of up to that many
actions is given clean and left out of the flow loss.

Determinism: batch k's frames, noise and flow times come from generators seeded by (seed, k, rank), so a run resumed
from a checkpoint continues exactly as if it had never stopped.

Checkpoint (``out``), written to ``out.tmp`` and renamed over ``out`` (the previous one is replaced only once the new
one is complete)::

    config.json model.safetensors norm_stats.json tokenizer/   the policy (EMA weights), make_policy(name, profile, out)
    training/state.safetensors                                 raw weights, EMA, AdamW moments (no pickles)
    training/state.json                                        step, options, RNG-free resume info, loss history
    loss.png                                                   the loss curve

Multi-GPU: run under ``torchrun --nproc_per_node N -m pi_vla_ros.cli train ...`` (torchrun sets WORLD_SIZE, RANK,
LOCAL_RANK, MASTER_ADDR/PORT; any run with WORLD_SIZE set goes through DDP, even a single process). Each rank draws
its own batches, gradients are averaged by torch DDP (NCCL on CUDA, gloo on CPU), rank 0 writes checkpoints. The
effective batch is batch_size x world size.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pi_vla_ros.training.common import autocast_dtype, cpu_has_bf16, plot_loss, policy_config  # noqa: F401

log = logging.getLogger(__name__)
STATE_VERSION = 1


@dataclass
class TrainConfig:
    policy: str
    dataset: str
    out: str
    profile: str = ""                 # default: the dataset's robot_type
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 200
    final_lr_fraction: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999          # 0 disables the EMA
    precision: str = "auto"           # auto | bf16 | fp32
    gradient_checkpointing: bool = False
    freeze_vlm: bool = True           # π0/π0.5: train the action expert only (π0.6's VLM is always frozen)
    cache_prefix: bool = True         # π0.6: train on the cached output of the frozen VLM
    only_success: bool = True         # train on successful episodes only
    # Draw no samples from superseded attempts (a missed grasp before its retry, training.data.superseded_attempts):
    # the retry is learned, the miss is not. Recap keeps them: its labels judge them.
    skip_superseded: bool = True
    # Nor from a corrected rollout's frames before the correction (training.data.corrected_before_takeover): the
    # correction is learned, the policy's own mistake is not. Recap keeps them too.
    skip_corrected: bool = True
    episodes: tuple[int, ...] | None = None
    save_every: int = 0               # steps between checkpoints (0: only at the end)
    seed: int = 0
    threads: int = 0                  # torch CPU threads (0: torch's default)
    device: str = "auto"              # auto | cpu | cuda
    resume: bool = False
    max_minutes: float = 0.0          # stop early (and save) after this much wall time; 0: no limit
    pause_at_step: int = 0            # stop (and save) once this step is reached; resume continues the run
    progress: bool = True
    overrides: dict | None = None     # policy config fields to change, e.g. {"obs_width": 32, "expert.depth": 2}
    augment_shift: int = 0            # random image shift of up to +-N pixels (pad with the edge, crop), per camera
    init: str = ""                    # fine-tune from this checkpoint (its weights, norm stats and tokenizer)
    advantages: str = ""              # Recap: per-frame labels from `pi-vla recap label` (trains on every episode)
    advantage_dropout: float = 0.3    # Recap: probability of leaving the indicator out of a sample's prompt
    # Clamp normalized action targets to +-this (0: off): new data can leave an --init checkpoint's range, e.g. a
    # joint that never moved in its demos.
    target_clip: float = 5.0
    # Dataset camera -> profile camera, e.g. {"front": "cam_high"} ("" leaves a dataset camera out); unmapped
    # dataset cameras must carry the profile's camera names (pi_vla_ros.training.data.camera_sources).
    camera_map: dict | None = None
    # Dataset state/action name -> profile joint, e.g. {"shoulder_pan": "shoulder_pan_joint"}, where names differ by
    # more than order and LeRobot's ".pos" suffix (pi_vla_ros.training.data.column_order).
    joint_map: dict | None = None
    # π0.5's recipe (policies whose VLM learns target tokens): loss = CE + loss_alpha * flow; stage "pre" = CE only.
    loss_alpha: float = 10.0
    knowledge_insulation: bool = True
    stage: str = "post"               # pre | post
    fast_fit_chunks: int = 4096       # training chunks the FAST tokenizer is fitted on


def _rank_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def lr_at(step: int, cfg: TrainConfig, budget_used: float = 0.0) -> float:
    """Linear warm-up to lr, then cosine decay to lr * final_lr_fraction at cfg.steps.

    budget_used (0..1) is the share of a --max-minutes budget already spent: the decay follows whichever of
    steps and time runs out first, so a run stopped by its budget still ends annealed.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    p = min(1.0, max((step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps), budget_used))
    lo = cfg.lr * cfg.final_lr_fraction
    return lo + (cfg.lr - lo) * 0.5 * (1 + math.cos(math.pi * p))


def _budget_used(cfg: TrainConfig, wall0: float, t_decay: float | None) -> float:
    """Share of the --max-minutes budget left after warm-up that is spent (0 without a budget)."""
    if cfg.max_minutes <= 0 or t_decay is None:
        return 0.0
    left = cfg.max_minutes * 60 - (t_decay - wall0)
    return 1.0 if left <= 0 else (time.perf_counter() - t_decay) / left


class _LossModule(nn.Module):
    """What DDP wraps: the policy model's losses for a batch, {"loss": total, term: value, ...}."""

    def __init__(self, model: nn.Module, cfg: TrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, batch, noise, time, rtc_prefix=None):
        if not hasattr(self.model, "compute_losses"):  # π0.6: the flow loss alone
            return {"loss": self.model.compute_loss(batch, noise=noise, time=time)}
        return self.model.compute_losses(batch, noise, time, alpha=self.cfg.loss_alpha, flow=self.cfg.stage != "pre",
                                         insulate=self.cfg.knowledge_insulation, rtc_prefix=rtc_prefix)


class EMA:
    """Exponential moving average of the trainable parameters, with the usual warm-up of the decay."""

    def __init__(self, params: dict[str, torch.Tensor], decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in params.items()}

    def update(self, params: dict[str, torch.Tensor], step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in params.items():
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)


def build_policy(name: str, profile, norm_stats, tokenizer, device, seed: int, overrides: dict | None = None,
                 advantage_conditioned: bool = False, fast=None):
    from pi_vla_ros.policies.pi0 import Pi0Config, Pi0Policy
    from pi_vla_ros.policies.pi06 import Pi06Policy

    config = dataclasses.replace(policy_config(name, overrides), advantage_conditioned=advantage_conditioned)
    if isinstance(config, Pi0Config):
        policy = Pi0Policy.build(config, profile, norm_stats=norm_stats, tokenizer=tokenizer, device=str(device),
                                 seed=seed, fast=fast, untrained=False)
    else:
        policy = Pi06Policy.build(config, profile, norm_stats=norm_stats, tokenizer=tokenizer, device=str(device),
                                  seed=seed, untrained=False)
    return policy


def _checkpoint_stats_and_tokenizer(path):
    """Norm stats, tokenizer and FAST tokenizer (or None) of a policy checkpoint (fine-tuning keeps the model's input
    and output spaces).
    """
    from pi_vla_ros.models.fast import FastTokenizer
    from pi_vla_ros.policies.checkpoint import read_json
    from pi_vla_ros.policies.pi06.processing import NormStats
    from pi_vla_ros.policies.tokenizer import load_tokenizer

    stats = read_json(Path(path) / "norm_stats.json")["norm_stats"]
    fast = FastTokenizer.load(Path(path) / "fast") if (Path(path) / "fast").is_dir() else None
    return {k: NormStats.from_dict(v) for k, v in stats.items()}, load_tokenizer(Path(path) / "tokenizer"), fast


def fit_fast(frames, config, stats, n: int, seed: int):
    """A FAST tokenizer fitted on up to n normalized model-space chunks (the robot's action dims) of the frames."""
    from pi_vla_ros.models.fast import FastTokenizer
    from pi_vla_ros.policies.pi06.processing import Normalizer, to_delta
    from pi_vla_ros.training.data import chunk_indices

    rng = np.random.default_rng([seed, 5])
    idx = np.sort(rng.choice(len(frames.states), size=min(n, len(frames.states)), replace=False))
    rows, _ = chunk_indices(frames, idx, config.horizon)
    chunks = Normalizer(stats, config.norm_mode).normalize(
        to_delta(frames.actions[rows], frames.states[idx], config.delta_mask), "actions")
    return FastTokenizer.fit(chunks, vocab_size=config.fast_vocab)


def _load_weights(policy, path, profile) -> None:
    """Copy a checkpoint's weights into a freshly built policy of the same architecture (strict)."""
    from pi_vla_ros.policies.factory import make_policy

    source = make_policy(policy.config.name, profile, str(path))
    with torch.no_grad():
        policy.model.load_state_dict(source.model.state_dict(), strict=True)


def trainable_named_parameters(model: nn.Module, freeze_vlm: bool) -> dict[str, nn.Parameter]:
    """Parameters that learn: model.trainable_parameters() where defined (π0.6), else all but the VLM's."""
    if hasattr(model, "trainable_parameters"):
        keep = {id(p) for p in model.trainable_parameters()}
    else:
        keep = {id(p) for n, p in model.named_parameters()
                if not (freeze_vlm and (n.startswith("vlm.") or ".vlm." in n or "paligemma." in n))}
    params = {}
    for n, p in model.named_parameters():
        p.requires_grad_(id(p) in keep)
        if id(p) in keep:
            params[n] = p
    return params


def train(cfg: TrainConfig, log_fn=print) -> dict:
    """Train; returns a summary (steps, final loss, samples/s, wall time, checkpoint path)."""
    threads = torch.get_num_threads()
    try:
        return _train(cfg, log_fn)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, log_fn) -> dict:
    from pi_vla_ros.policies.tokenizer import build_tokenizer
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.training.data import dataset_profile, load_frames, make_batches, norm_stats, training_words

    wall0 = time.perf_counter()
    rank, world = _rank_world()
    distributed = "WORLD_SIZE" in os.environ
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    if distributed:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    profile = load_profile(cfg.profile or dataset_profile(cfg.dataset))
    config = policy_config(cfg.policy, cfg.overrides).resolve(profile)
    progress = cfg.progress and rank == 0

    # ---- data, normalization, tokenizer, policy
    t0 = time.perf_counter()
    recap = bool(cfg.advantages)
    frames = load_frames(cfg.dataset, profile, config, episodes=list(cfg.episodes) if cfg.episodes else None,
                         only_success=cfg.only_success and not recap, progress=progress, camera_map=cfg.camera_map,
                         joint_map=cfg.joint_map)
    advantage = None
    if recap:  # failures too: their frames are mostly labelled negative
        from pi_vla_ros.training.recap import read_labels

        advantage = read_labels(cfg.advantages, frames)
    horizon = config.expert.horizon if hasattr(config, "expert") else config.horizon
    state = _read_state(out) if cfg.resume else None
    if cfg.stage not in ("pre", "post"):
        raise ValueError(f"stage must be 'pre' or 'post', got {cfg.stage!r}")
    targets = getattr(config, "has_targets", False)
    if targets and cfg.freeze_vlm:
        raise ValueError(f"{cfg.policy}'s VLM learns a next-token loss (FAST / subtask tokens): it must train "
                         "(freeze_vlm=False, pi-vla train --train-vlm)")
    if cfg.stage == "pre" and not targets:
        raise ValueError(f"stage 'pre' trains the next-token loss only, and {cfg.policy} has no target tokens")
    fast = None
    if state is not None or cfg.init:  # the run's own (resuming) or the initial checkpoint's, not recomputed
        stats, tokenizer, fast = _checkpoint_stats_and_tokenizer(out if state is not None else cfg.init)
    else:
        stats = norm_stats(frames, config, horizon, seed=cfg.seed)
        tokenizer = None
        if getattr(config, "vlm_path", None) is None:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                tokenizer = build_tokenizer(training_words(frames, profile), tmp)
    if getattr(config, "fast_tokens", False) and fast is None:
        fast = fit_fast(frames, config, stats, cfg.fast_fit_chunks, cfg.seed)
        log_fn(f"FAST tokenizer fitted on {min(cfg.fast_fit_chunks, len(frames.states))} chunks: "
               f"{fast.vocab_size} tokens")
    policy = build_policy(cfg.policy, profile, stats, tokenizer, device, cfg.seed, cfg.overrides, recap, fast)
    if cfg.init and state is None:
        _load_weights(policy, cfg.init, profile)
    model = policy.model
    if cfg.gradient_checkpointing:
        if hasattr(model, "gradient_checkpointing_enable"):
            model.gradient_checkpointing_enable()
        else:
            log.warning("%s does not support gradient checkpointing; training without it", cfg.policy)
    params = trainable_named_parameters(model, cfg.freeze_vlm)
    batches = make_batches(frames, policy, cache_prefix=cfg.cache_prefix, progress=progress, advantage=advantage,
                           advantage_dropout=cfg.advantage_dropout)
    left_out = np.zeros(len(batches), bool)
    for skip, marked in ((cfg.skip_superseded, frames.superseded), (cfg.skip_corrected, frames.corrected)):
        if skip and not recap and marked is not None:
            left_out |= marked
    pool = np.flatnonzero(~left_out)
    data_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in params.values())
    if rank == 0:
        log_fn(f"train {cfg.policy} on {cfg.dataset} ({profile.name}): {len(frames.episodes)} episodes, "
               f"{len(pool)} samples, {n_params / 1e6:.2f} M trainable parameters; data ready in {data_s:.1f} s")
        if len(pool) < len(batches):
            log_fn(f"{len(batches) - len(pool)} frames not drawn as samples: superseded attempts (a subtask started "
                   "again later) and what a correction took over from")

    decay = [p for n, p in params.items() if p.ndim >= 2 and not n.endswith("pos")]
    no_decay = [p for n, p in params.items() if not (p.ndim >= 2 and not n.endswith("pos"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=tuple(cfg.betas))
    ema = EMA(params, cfg.ema_decay) if cfg.ema_decay > 0 else None
    history: list[tuple[int, float]] = []
    terms: dict[str, list[tuple[int, float]]] = {}
    start = 0
    if state is not None:
        start, history = _load_state(out, state, params, opt, ema)
        terms = {k: [tuple(x) for x in v] for k, v in state.get("loss_terms", {}).items()}
        log_fn(f"resumed from {out} at step {start}")

    loss_module = _LossModule(model, cfg)
    step_module = loss_module
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        step_module = DDP(loss_module, device_ids=[device.index] if device.type == "cuda" else None)
    amp = autocast_dtype(cfg.precision, device)
    model.train()

    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=cfg.steps, initial=start, desc=f"train {cfg.policy}", unit="step", dynamic_ncols=True,
                       mininterval=1.0)
        except ImportError:
            pass
    t_train = time.perf_counter()
    t_decay = t_train if start >= cfg.warmup_steps else None
    samples = 0
    clipped = n_targets = 0
    recent: list[float] = []
    step = start
    stopped_early = False
    while step < cfg.steps:
        idx, noise, flow_t, rtc_prefix = _draw(cfg, step, rank, len(pool), horizon, policy)
        idx = pool[idx]
        batch = batches.batch(idx, np.random.default_rng([cfg.seed, step, rank, 2]))  # Recap's indicator dropout
        if cfg.augment_shift:
            batch = augment(batch, cfg.augment_shift, _step_generator(cfg, step, rank, stream=1))
        if cfg.target_clip:
            outside = batch["actions"].abs() > cfg.target_clip
            clipped, n_targets = clipped + int(outside.sum()), n_targets + outside.numel()
            batch["actions"] = batch["actions"].clamp(-cfg.target_clip, cfg.target_clip)
        batch = {k: v.to(device) for k, v in batch.items()}
        lr = lr_at(step, cfg, _budget_used(cfg, wall0, t_decay))
        if step == cfg.warmup_steps - 1:
            t_decay = time.perf_counter()  # the time budget's decay starts where the warm-up ends
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            losses = step_module(batch, noise.to(device), flow_t.to(device),
                                 None if rtc_prefix is None else rtc_prefix.to(device))
        loss = losses["loss"]
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip)
        opt.step()
        if ema is not None:
            ema.update(params, step)
        step += 1
        value = float(loss.detach())
        history.append((step, value))
        recent.append(value)
        for k, v in losses.items():
            if k != "loss":
                terms.setdefault(k, []).append((step, float(v.detach())))
        samples += len(idx) * world
        elapsed = time.perf_counter() - t_train
        if bar is not None:
            parts = {k: f"{np.mean([x for _, x in v[-50:]]):.4f}" for k, v in terms.items()}
            bar.set_postfix(loss=f"{np.mean(recent[-50:]):.4f}", **parts, lr=f"{lr:.1e}",
                            samples_s=f"{samples / max(elapsed, 1e-9):.0f}", refresh=False)
            bar.update(1)
        over_time = ((cfg.max_minutes > 0 and (time.perf_counter() - wall0) / 60 >= cfg.max_minutes)
                     or (cfg.pause_at_step > 0 and step >= cfg.pause_at_step and step < cfg.steps))
        if rank == 0 and ((cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps) or over_time):
            save_checkpoint(out, policy, params, opt, ema, step, cfg, history, terms)
        if over_time:
            stopped_early = True
            log_fn(f"stopping at step {step} of {cfg.steps}, lr {lr:.1e} (max_minutes={cfg.max_minutes}, "
                   f"pause_at_step={cfg.pause_at_step}); --resume continues")
            break
    if bar is not None:
        bar.close()
    train_s = time.perf_counter() - t_train
    if rank == 0 and not stopped_early:
        save_checkpoint(out, policy, params, opt, ema, step, cfg, history, terms)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
    final = float(np.mean([v for _, v in history[-100:]])) if history else float("nan")
    summary = {"policy": cfg.policy, "dataset": cfg.dataset, "checkpoint": str(out), "profile": profile.name,
               "episodes": len(frames.episodes), "samples": len(pool), "steps": step, "start_step": start,
               "batch_size": cfg.batch_size, "world_size": world, "ddp": distributed, "final_loss": round(final, 5),
               "samples_per_s": round(samples / max(train_s, 1e-9), 1), "data_s": round(data_s, 1),
               "train_s": round(train_s, 1), "wall_s": round(time.perf_counter() - wall0, 1),
               "precision": str(amp).replace("torch.", "") if amp else "fp32", "device": str(device),
               "trainable_parameters": n_params, "stopped_early": stopped_early,
               "clipped_targets": round(clipped / max(n_targets, 1), 6),
               "final_terms": {k: round(float(np.mean([x for _, x in v[-100:]])), 5) for k, v in terms.items()}}
    if clipped and rank == 0:
        log_fn(f"warning: {clipped / max(n_targets, 1):.2%} of the normalized action targets were beyond "
               f"+-{cfg.target_clip} and clipped (data outside the normalization stats' range)")
    if rank == 0:
        (out / "training" / "summary.json").write_text(json.dumps(summary, indent=1))
        log_fn(f"trained {cfg.policy}: {step} steps, final loss {final:.4f}, {summary['samples_per_s']} samples/s, "
               f"train {train_s:.0f} s, total {summary['wall_s']:.0f} s -> {out}")
    return summary


def _draw(cfg: TrainConfig, step: int, rank: int, n: int, horizon: int, policy):
    """Batch ``step``'s frame indices, noise, flow times and training-time-RTC prefix (or None): a function of
    (seed, step, rank) only.
    """
    from pi_vla_ros.models import flow_matching as fm

    g = _step_generator(cfg, step, rank)
    idx = torch.randint(0, n, (cfg.batch_size,), generator=g).numpy()
    noise_dim = _noise_dim(policy)
    noise = torch.randn((cfg.batch_size, horizon, noise_dim), generator=g)
    t = fm.sample_time(cfg.batch_size, g)
    delay = getattr(policy.config, "training_rtc_max_delay", 0)
    return idx, noise, t, (fm.training_prefix(cfg.batch_size, horizon, delay, g) if delay else None)


def _step_generator(cfg: TrainConfig, step: int, rank: int, stream: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((((cfg.seed * 1_000_003 + step) * 1009 + rank) * 7 + stream) % (2**63))


def augment(batch: dict, shift: int, g: torch.Generator) -> dict:
    """Random translation of every image by up to +-shift pixels (edge padding), independently per sample and
    camera: the standard image augmentation of visual imitation learning (DrQ, Diffusion Policy's random crop).
    """
    import torch.nn.functional as F

    for key in ("obs_images", "images"):
        x = batch.get(key)
        if x is None or shift <= 0:
            continue
        b, n, c, h, w = x.shape
        flat = x.flatten(0, 1)
        padded = F.pad(flat.float(), (shift, shift, shift, shift), mode="replicate").to(x.dtype)
        off = torch.randint(0, 2 * shift + 1, (b * n, 2), generator=g)
        rows = off[:, 0, None] + torch.arange(h)[None]                        # [BN, h]
        cols = off[:, 1, None] + torch.arange(w)[None]                        # [BN, w]
        out = padded[torch.arange(b * n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                     rows[:, None, :, None], cols[:, None, None, :]]
        batch[key] = out.unflatten(0, (b, n))
    return batch


def _noise_dim(policy) -> int:
    cfg = policy.config
    if hasattr(cfg, "expert"):
        return cfg.expert.action_dim
    return cfg.model.action_dim


# ------------------------------------------------------------------------------------------------ checkpoints


def save_checkpoint(out: Path, policy, params, opt, ema, step: int, cfg: TrainConfig, history,
                    terms: dict | None = None) -> None:
    """Write the policy (EMA weights) and the training state to ``out.tmp``, then swap it in for ``out``."""
    from pi_vla_ros.policies.checkpoint import save_tensors

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    raw = {k: p.detach().clone() for k, p in params.items()}
    if ema is not None:  # the policy is saved with the averaged weights
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(ema.shadow[k].to(p.dtype))
    try:
        policy.save_pretrained(tmp)
    finally:
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(raw[k])
    tensors = {f"param/{k}": v for k, v in raw.items()}
    if ema is not None:
        tensors |= {f"ema/{k}": v for k, v in ema.shadow.items()}
    names = {id(p): k for k, p in params.items()}
    for p, st in opt.state.items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt/{key}/{names[id(p)]}"] = value
    (tmp / "training").mkdir(parents=True, exist_ok=True)
    save_tensors(tensors, tmp / "training" / "state.safetensors")
    meta = {"version": STATE_VERSION, "step": step, "config": _jsonable(dataclasses.asdict(cfg)),
            "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
            "loss_history": history, "loss_terms": terms or {}}
    (tmp / "training" / "state.json").write_text(json.dumps(meta))
    plot_loss(history, tmp / "loss.png", title=f"{cfg.policy} on {Path(cfg.dataset).name}", terms=terms)
    old = out.with_name(out.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    if old.exists():
        shutil.rmtree(old)


def _jsonable(d):
    return json.loads(json.dumps(d, default=lambda o: list(o) if isinstance(o, (tuple, set)) else str(o)))


def _read_state(out: Path) -> dict | None:
    path = out / "training" / "state.json"
    if not path.exists():
        log.warning("no training state in %s: starting from scratch", out)
        return None
    return json.loads(path.read_text())


def _load_state(out: Path, state: dict, params, opt, ema) -> tuple[int, list]:
    from pi_vla_ros.policies.checkpoint import CheckpointError, load_tensors

    if state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{out}/training/state.json has version {state.get('version')}, expected {STATE_VERSION}")
    tensors = load_tensors(out / "training" / "state.safetensors")
    missing = [k for k in params if f"param/{k}" not in tensors]
    if missing:
        raise CheckpointError(f"training state in {out} lacks parameters {missing[:5]}")
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(tensors[f"param/{k}"])
    if ema is not None:
        for k in params:
            src = tensors.get(f"ema/{k}")
            ema.shadow[k] = src.float().clone() if src is not None else params[k].detach().float().clone()
    for k, p in params.items():
        st = {key.split("/")[1]: v for key, v in tensors.items()
              if key.startswith("opt/") and key.split("/", 2)[2] == k}
        if st:
            opt.state[p] = {key: v.clone() for key, v in st.items()}
    for g, saved in zip(opt.param_groups, state["param_groups"]):
        g.update({k: v for k, v in saved.items() if k in ("lr", "weight_decay", "betas", "eps")})
    return int(state["step"]), [tuple(x) for x in state.get("loss_history", [])]
