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

"""Training data from a LeRobot dataset, held in memory, and the batches the training loop draws from it.

:class:`TrainingData` reads every frame once (numeric columns, and the camera videos decoded in order), keeps
the frames of the chosen episodes, and stores each camera image already resized with padding to the model's
resolution as uint8 -- the same ``resize_with_pad`` the processor applies at inference, done once. Consecutive
frames whose decoded images are identical (cameras run slower than the frame rate) share one stored image.

A sample is a frame: its images, state and task, and the action chunk of the next H frames (padded past the
episode's end, the padding masked out of the loss). Norm stats come from the same samples: the state over all
frames, the actions over every model-space (delta) chunk element.

Batch sources:

* :class:`ProcessorBatches` -- any policy: builds sample dicts and runs the policy's processor (what serving does).
* :class:`CachedPrefixBatches` -- π0.6 with a frozen VLM: the VLM's output for a frame never changes, so it is
  computed once per distinct (images, prompt) and stored (bf16); the expert (and an observation encoder, if any)
  train on the cache. Exactly the same numbers as running the frozen VLM in every step, at a fraction of the cost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)
IMAGE_PREFIX = "observation.images."


@dataclass
class Frames:
    """All kept frames, concatenated in episode order."""

    states: np.ndarray          # [N, S] float32
    actions: np.ndarray         # [N, A] float32 (absolute, the dataset's action layout)
    episode_end: np.ndarray     # [N] index one past the last frame of the frame's episode
    task_index: np.ndarray      # [N] into tasks
    image_index: np.ndarray     # [N] into images (one stored image set per distinct frame)
    tasks: list[str]
    images: dict[int, np.ndarray]   # image size -> uint8 [U, n_slots, 3, size, size]
    slot_present: np.ndarray    # [n_slots] bool: the dataset has a camera for the slot
    episodes: list[int]         # dataset episode indices kept
    rows: np.ndarray            # [N] the frame's global dataset index (the "index" column)
    episode_index: np.ndarray   # [N] the frame's dataset episode index
    success: np.ndarray         # [N] bool: the frame's episode ended in success (unknown counts as success)
    intervention: np.ndarray    # [N] bool: a human (or the expert) had taken over at this frame


def policy_image_size(config) -> int:
    return int(getattr(config, "image_size", 0) or config.model.image_size)


def episode_success(ds, e: int) -> bool | None:
    """Whether episode ``e`` (its row in ``ds.episodes``) succeeded, from the standard per-frame ``next.success``:
    True if any frame says so, False if none does; None (unknown) when the dataset has no such column, as many
    LeRobot demonstration datasets do, which training treats as demonstrations (successful).
    """
    if "next.success" not in ds.columns:
        return None
    return bool(np.any(ds.columns["next.success"][slice(*_bounds(ds, e))]))


def load_frames(root, profile, config, *, episodes: list[int] | None = None, only_success: bool = True,
                sizes: tuple[int, ...] | None = None, progress: bool = False) -> Frames:
    """Read the dataset at ``root`` for a policy ``config`` (its image slots and sizes) bound to ``profile``."""
    from pi_vla_ros.data.lerobot_dataset import LeRobotDataset
    from pi_vla_ros.policies.pi06.processing import resize_with_pad

    slots = {c.policy_key: c.name for c in profile.cameras}
    keys = list(config.image_keys)
    if sizes is None:
        sizes = tuple(sorted({policy_image_size(config), getattr(config, "obs_image_size", 0) or 0} - {0}))
    with LeRobotDataset(root) as ds:
        names = ds.features["action"].get("names")
        if names and list(names) != list(profile.action_names):
            raise ValueError(f"dataset actions {names} are not profile {profile.name!r}'s {list(profile.action_names)}")
        chosen = []
        for e, row in enumerate(ds.episodes):
            if episodes is not None and row["episode_index"] not in episodes:
                continue
            if only_success and episode_success(ds, e) is False:
                continue
            chosen.append(e)
        if not chosen:
            raise ValueError(f"{root}: no episodes to train on (only_success={only_success})")
        present = np.array([slots.get(k) is not None and IMAGE_PREFIX + slots[k] in ds.video_keys for k in keys])
        frame_rows = np.concatenate([np.arange(*_bounds(ds, e)) for e in chosen])
        states = ds.columns["observation.state"][frame_rows].astype(np.float32)
        actions = ds.columns["action"][frame_rows].astype(np.float32)
        task_col = ds.columns["task_index"][frame_rows].astype(np.int64)
        index_col = ds.columns["index"][frame_rows].astype(np.int64)
        episode_col = ds.columns["episode_index"][frame_rows].astype(np.int64)
        intervention = (ds.columns["intervention"][frame_rows].astype(bool) if "intervention" in ds.columns
                        else np.zeros(len(frame_rows), bool))
        lengths = [len(ds.episode_range(e)) for e in chosen]
        ends = np.repeat(np.cumsum(lengths), lengths)
        success = np.repeat([episode_success(ds, e) is not False for e in chosen], lengths)
        stored = {s: [] for s in sizes}
        image_index = np.zeros(len(frame_rows), np.int64)
        prev = None
        bar = _bar(len(frame_rows), "decode frames", progress)
        for n, i in enumerate(frame_rows):
            item = ds[int(i)]
            raw = [item[IMAGE_PREFIX + slots[k]] if present[j] else None for j, k in enumerate(keys)]
            new_episode = n == 0 or ends[n - 1] != ends[n]
            if new_episode or any(r is not None and not np.array_equal(r, p) for r, p in zip(raw, prev)):
                for s in sizes:
                    stored[s].append(np.stack([
                        _to_uint8(resize_with_pad(r, s)) if r is not None else np.zeros((3, s, s), np.uint8)
                        for r in raw]))
                prev = raw
            image_index[n] = len(stored[sizes[0]]) - 1
            bar.update(1)
        bar.close()
        tasks = list(ds.tasks)
        kept = [int(ds.episodes[e]["episode_index"]) for e in chosen]
    return Frames(states=states, actions=actions, episode_end=ends.astype(np.int64), task_index=task_col,
                  image_index=image_index, tasks=tasks, images={s: np.stack(v) for s, v in stored.items()},
                  slot_present=present, episodes=kept, rows=index_col, episode_index=episode_col, success=success,
                  intervention=intervention)


def _bounds(ds, e: int) -> tuple[int, int]:
    r = ds.episode_range(e)
    return r.start, r.stop


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float image (the processor's format) -> uint8 [3, s, s]; exact inverse up to rounding."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _from_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


class _bar:

    def __init__(self, total, desc, enabled):
        self.b = None
        if enabled:
            try:
                from tqdm import tqdm
                self.b = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, mininterval=1.0)
            except ImportError:
                pass

    def update(self, n):
        if self.b is not None:
            self.b.update(n)

    def close(self):
        if self.b is not None:
            self.b.close()


# ------------------------------------------------------------------------------------------------ samples


def chunk_indices(frames: Frames, idx: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices of each sample's action chunk [B, H] (clamped at the episode end) and its padding mask."""
    steps = idx[:, None] + np.arange(horizon)[None]
    end = frames.episode_end[idx][:, None]
    return np.minimum(steps, end - 1), steps >= end


def norm_stats(frames: Frames, config, horizon: int, max_samples: int = 20000, seed: int = 0) -> dict:
    """State stats over all frames; action stats over model-space chunk elements (delta dims relative to the
    sample's state) of up to ``max_samples`` samples, padding excluded. Returns {"state": NormStats, "actions": ...}.
    """
    from pi_vla_ros.policies.pi06.processing import NormStats, to_delta

    n = len(frames.states)
    idx = np.arange(n) if n <= max_samples else np.sort(np.random.default_rng(seed).choice(n, max_samples, False))
    rows, pad = chunk_indices(frames, idx, horizon)
    chunks = to_delta(frames.actions[rows], frames.states[idx], config.delta_mask)
    return {"state": NormStats.from_data(frames.states), "actions": NormStats.from_data(chunks[~pad])}


def training_words(frames: Frames, profile) -> list[str]:
    """Words for a fresh word-level tokenizer: the dataset's task strings and the profile's task description."""
    import json

    text = " ".join(frames.tasks) + " " + json.dumps(getattr(profile, "task", {}) or {})
    return sorted(set(re.findall(r"[a-z]+", text.lower())))


def advantage_prompts(advantage: np.ndarray | None, idx: np.ndarray, dropout: float,
                      rng: np.random.Generator | None) -> list[bool | None]:
    """Recap's indicator per sample: the frame's label, or None (no indicator) with probability `dropout`."""
    if advantage is None:
        return [None] * len(idx)
    drop = rng.random(len(idx)) < dropout if rng is not None else np.zeros(len(idx), bool)
    return [None if d else bool(advantage[i]) for i, d in zip(idx, drop)]


class ProcessorBatches:
    """Any policy: raw sample dicts through the policy's own processor, exactly as at inference.

    advantage: optional per-frame Recap labels (bool [N]); the prompt then carries "Advantage: positive/negative",
    left out with probability advantage_dropout (drawn from the rng passed to batch()).
    """

    def __init__(self, frames: Frames, policy, advantage: np.ndarray | None = None, advantage_dropout: float = 0.3):
        self.frames, self.policy = frames, policy
        self.advantage, self.advantage_dropout = advantage, advantage_dropout
        cfg = policy.config
        self.size = policy_image_size(cfg)
        self.keys = list(cfg.image_keys)
        self.horizon = policy.metadata.horizon

    def __len__(self) -> int:
        return len(self.frames.states)

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        f = self.frames
        rows, pad = chunk_indices(f, idx, self.horizon)
        images = f.images[self.size]
        samples = []
        advantage = advantage_prompts(self.advantage, idx, self.advantage_dropout, rng)
        for b, i in enumerate(idx):
            imgs = {k: images[f.image_index[i], j].transpose(1, 2, 0) for j, k in enumerate(self.keys)
                    if f.slot_present[j]}
            samples.append({"images": imgs, "state": f.states[i], "prompt": f.tasks[f.task_index[i]],
                            "actions": f.actions[rows[b]], "advantage": advantage[b]})
        batch = self.policy.processor(samples)
        batch["action_mask"] = torch.from_numpy(~pad)
        return batch


class CachedPrefixBatches:
    """π0.6 with its frozen VLM: the VLM's hidden states computed once per distinct (images, prompt)."""

    def __init__(self, frames: Frames, policy, *, batch_size: int = 64, progress: bool = False,
                 dtype: torch.dtype = torch.bfloat16, advantage: np.ndarray | None = None,
                 advantage_dropout: float = 0.3):
        from pi_vla_ros.policies.pi06.processing import build_prompt, discretize

        self.frames, self.policy = frames, policy
        self.advantage, self.advantage_dropout = advantage, advantage_dropout
        cfg, proc = policy.config, policy.processor
        self.cfg, self.horizon = cfg, policy.metadata.horizon
        n = len(frames.states)
        self.state_norm = proc.normalizer.normalize(frames.states, "state")          # [N, S]
        # what the VLM sees per frame: (image set or none, prompt); with Recap labels also the prompt with the
        # frame's advantage indicator (variant 1; variant 0 is the plain prompt)
        bins = [discretize(s) if cfg.state_in_prompt else None for s in self.state_norm]
        variants = [None] if advantage is None else [None, advantage]
        image_key = frames.image_index if cfg.vlm_images else np.zeros(n, np.int64)
        uniq: dict[tuple, int] = {}
        self.prefix_index = np.empty((len(variants), n), np.int64)
        for v, labels in enumerate(variants):
            for i in range(n):
                prompt = build_prompt(frames.tasks[frames.task_index[i]], bins[i],
                                      None if labels is None else bool(labels[i]))
                self.prefix_index[v, i] = uniq.setdefault((int(image_key[i]), prompt), len(uniq))
        keys = list(uniq)
        vlm_images = frames.images[policy_image_size(cfg)]
        model = policy.model
        hidden, masks = [], []
        bar = _bar(len(keys), "frozen VLM prefix cache", progress)
        with torch.no_grad():
            for start in range(0, len(keys), batch_size):
                part = keys[start:start + batch_size]
                tokens, token_mask = proc.tokenize([p for _, p in part])
                img = _from_uint8(torch.from_numpy(vlm_images[[k for k, _ in part]]))
                present = np.broadcast_to(frames.slot_present, (len(part), len(frames.slot_present)))
                present = torch.from_numpy(present.copy())
                h, m = model.prefix({"images": img.to(model.device), "image_mask": present.to(model.device),
                                     "tokens": tokens.to(model.device), "token_mask": token_mask.to(model.device)})
                hidden.append(h.to("cpu", dtype))
                masks.append(m.cpu())
                bar.update(len(part))
        bar.close()
        self.prefix = torch.cat(hidden)
        self.prefix_mask = torch.cat(masks)
        self.obs_images = (torch.from_numpy(frames.images[cfg.obs_image_size]) if cfg.obs_encoder else None)
        self.slot_present = torch.from_numpy(frames.slot_present.copy())
        log.info("frozen VLM prefix cached: %d distinct of %d frames, %.1f MB", len(keys), n,
                 self.prefix.numel() * self.prefix.element_size() / 2**20)

    def __len__(self) -> int:
        return len(self.frames.states)

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        from pi_vla_ros.policies.pi06.processing import to_delta

        f, proc = self.frames, self.policy.processor
        rows, pad = chunk_indices(f, idx, self.horizon)
        actions = proc.normalizer.normalize(to_delta(f.actions[rows], f.states[idx], self.cfg.delta_mask), "actions")
        with_indicator = [a is not None for a in advantage_prompts(self.advantage, idx, self.advantage_dropout, rng)]
        p = torch.from_numpy(self.prefix_index[np.asarray(with_indicator, np.int64), idx])
        batch = {"prefix": self.prefix[p], "prefix_mask": self.prefix_mask[p],
                 "state": torch.from_numpy(self.state_norm[idx]), "actions": torch.from_numpy(actions),
                 "action_mask": torch.from_numpy(~pad),
                 "image_mask": self.slot_present[None].expand(len(idx), -1)}
        if self.obs_images is not None:
            batch["obs_images"] = self.obs_images[torch.from_numpy(f.image_index[idx])]
        return batch


def make_batches(frames: Frames, policy, *, cache_prefix: bool = True, progress: bool = False,
                 advantage: np.ndarray | None = None, advantage_dropout: float = 0.3):
    """The cached path where it applies (π0.6 with its frozen VLM), the generic processor path otherwise."""
    from pi_vla_ros.policies.pi06 import Pi06Policy

    if cache_prefix and type(policy) is Pi06Policy:
        return CachedPrefixBatches(frames, policy, progress=progress, advantage=advantage,
                                   advantage_dropout=advantage_dropout)
    return ProcessorBatches(frames, policy, advantage, advantage_dropout)


def dataset_profile(root) -> str:
    """The robot profile a dataset was recorded with (its ``robot_type``)."""
    import json

    info = json.loads((Path(root) / "meta/info.json").read_text())
    return info.get("robot_type") or ""
