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

"""Pre/post-processing shared by training and serving (openpi: one transform pipeline for both).

raw sample {images: {slot: HxWx3}, state, prompt[, actions]}
  -> images resized with padding to the model resolution, scaled to [-1, 1]; missing slots masked
  -> actions made relative to the state on delta dims, then normalized; state normalized
  -> prompt (π0.5 style, discretized state inside) tokenized to max_tokens
model output (normalized, model-space actions) -> unnormalized -> delta dims back to absolute.

Normalization stats (norm_stats.json) describe the MODEL-space actions, i.e. after the delta step.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .configuration import Pi06Config

log = logging.getLogger(__name__)
EPS = 1e-6


def resize_with_pad(image: np.ndarray, size: int) -> torch.Tensor:
    """HxWx3 uint8 (or float in [0, 1]) -> [3, size, size] float in [-1, 1].

    Keeps the aspect ratio: scales the longer side to `size`, centres, pads with black (-1).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    x = x / 255.0 if img.dtype == np.uint8 else x
    h, w = img.shape[:2]
    ratio = max(h / size, w / size)
    nh, nw = max(1, int(h / ratio)), max(1, int(w / ratio))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    x = x.clamp(0.0, 1.0) * 2.0 - 1.0
    top, left = (size - nh) // 2, (size - nw) // 2
    return F.pad(x, (left, size - nw - left, top, size - nh - top), value=-1.0)[0]


@dataclass(frozen=True)
class NormStats:
    mean: np.ndarray
    std: np.ndarray
    q01: np.ndarray
    q99: np.ndarray

    @classmethod
    def identity(cls, dim: int) -> "NormStats":
        """Leaves values unchanged (up to EPS) in both modes: for untrained policies."""
        z, o = np.zeros(dim), np.ones(dim)
        return cls(mean=z, std=o, q01=-o, q99=o)

    @classmethod
    def from_data(cls, x: np.ndarray) -> "NormStats":
        x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        return cls(x.mean(0), x.std(0), np.quantile(x, 0.01, axis=0), np.quantile(x, 0.99, axis=0))

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k), dtype=float).tolist() for k in ("mean", "std", "q01", "q99")}

    @classmethod
    def from_dict(cls, d: dict) -> "NormStats":
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in ("mean", "std", "q01", "q99")})


class Normalizer:
    """Per-dim normalization of 'state' and 'actions' (last axis) and its exact inverse."""

    def __init__(self, stats: dict[str, NormStats], mode: str):
        self.stats, self.mode = stats, mode

    def _ab(self, key: str):  # y = (x - a) / b
        s = self.stats[key]
        if self.mode == "zscore":
            return s.mean, s.std + EPS
        return s.q01 + (s.q99 - s.q01 + EPS) / 2, (s.q99 - s.q01 + EPS) / 2  # == (x - q01) / (q99 - q01 + eps) * 2 - 1

    def normalize(self, x: np.ndarray, key: str) -> np.ndarray:
        a, b = self._ab(key)
        return ((x - a) / b).astype(np.float32)

    def unnormalize(self, y: np.ndarray, key: str) -> np.ndarray:
        a, b = self._ab(key)
        return (y * b + a).astype(np.float32)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"norm_stats": {k: v.to_dict() for k, v in self.stats.items()}}, indent=1))

    @classmethod
    def load(cls, path: str | Path, mode: str) -> "Normalizer":
        raw = json.loads(Path(path).read_text())
        return cls({k: NormStats.from_dict(v) for k, v in raw["norm_stats"].items()}, mode)


def _state_offset(state: np.ndarray, mask) -> np.ndarray:
    """The state on delta dims, zero elsewhere, shaped [..., 1, A] to broadcast over the horizon."""
    m = np.asarray(mask, dtype=bool)
    state = np.asarray(state, dtype=np.float32)
    full = np.zeros((*state.shape[:-1], 1, len(m)), dtype=np.float32)
    full[..., 0, : state.shape[-1]] = state[..., : len(m)]
    return np.where(m, full, 0.0)


def to_delta(actions: np.ndarray, state: np.ndarray, mask) -> np.ndarray:
    """Absolute [..., H, A] -> model space: delta dims become relative to the current state [..., S]."""
    offset = _state_offset(state, mask)
    return (np.asarray(actions, dtype=np.float32) - offset).astype(np.float32)


def to_absolute(actions: np.ndarray, state: np.ndarray, mask) -> np.ndarray:
    """Inverse of to_delta."""
    offset = _state_offset(state, mask)
    return (np.asarray(actions, dtype=np.float32) + offset).astype(np.float32)


def discretize(x_norm: np.ndarray, bins: int = 256) -> np.ndarray:
    """Normalized values in [-1, 1] -> integer bins 0..bins-1 (π0.5's discrete state)."""
    return np.digitize(np.clip(x_norm, -1, 1), np.linspace(-1, 1, bins + 1)[:-1]) - 1


ADVANTAGE_TEXT = {True: "Advantage: positive", False: "Advantage: negative"}


def build_prompt(task: str, state_bins: np.ndarray | None, advantage: bool | None = None) -> str:
    """The language prompt; with Recap's advantage indicator after the task and state, before the actions."""
    task = task.strip().replace("_", " ").replace("\n", " ")
    adv = "" if advantage is None else ADVANTAGE_TEXT[bool(advantage)] + "\n"
    if state_bins is None:
        return f"{task}\n{adv}"
    return f"Task: {task}, State: {' '.join(str(int(b)) for b in state_bins)};\n{adv}Action: "


class Pi06Processor:

    def __init__(self, config: Pi06Config, tokenizer, normalizer: Normalizer):
        if not config.resolved:
            raise ValueError("Pi06Processor needs a config resolved against a robot profile")
        self.config, self.tokenizer, self.normalizer = config, tokenizer, normalizer
        a, s = len(config.action_names), config.state_dim
        for key, dim in (("state", s), ("actions", a)):
            st = normalizer.stats.get(key)
            if st is None or any(np.shape(getattr(st, f)) != (dim,) for f in ("mean", "std", "q01", "q99")):
                raise ValueError(f"norm stats for {key!r} must have {dim} entries per statistic")
        self._warned_truncation = False
        # inference truncates an over-long prompt as openpi does (warned once, counted); training sets this, so a
        # cut instruction is an error instead of something the model learns from
        self.strict_prompts = False
        self.truncated_prompts = 0

    def __call__(self, samples: list[dict]) -> dict[str, torch.Tensor]:
        """samples: [{images: {slot: HxWx3}, state: [S], prompt: str, actions?: [H, A] absolute,
        advantage?: bool (Recap's indicator in the prompt)}] -> batch.
        """
        cfg, size = self.config, self.config.image_size
        n = len(cfg.image_keys)
        images = torch.full((len(samples), n, 3, size, size), -1.0)
        image_mask = torch.zeros(len(samples), n, dtype=torch.bool)
        obs_size = getattr(cfg, "obs_image_size", 0)
        obs_images = (torch.full((len(samples), n, 3, obs_size, obs_size), -1.0)
                      if getattr(cfg, "obs_encoder", "") else None)
        prompts, states, actions = [], [], []
        for b, s in enumerate(samples):
            for i, key in enumerate(cfg.image_keys):
                if s["images"].get(key) is not None:
                    images[b, i], image_mask[b, i] = resize_with_pad(s["images"][key], size), True
                    if obs_images is not None:
                        obs_images[b, i] = resize_with_pad(s["images"][key], obs_size)
            state = np.asarray(s["state"], dtype=np.float64)
            if state.shape != (cfg.state_dim,) or not np.all(np.isfinite(state)):
                raise ValueError(f"state must be {cfg.state_dim} finite values, got shape {state.shape}")
            states.append(self.normalizer.normalize(state, "state"))
            prompts.append(build_prompt(s["prompt"], discretize(states[-1]) if cfg.state_in_prompt else None,
                                        s.get("advantage")))
            if s.get("actions") is not None:
                actions.append(self.normalizer.normalize(to_delta(s["actions"], state, cfg.delta_mask), "actions"))
        tokens, token_mask = self.tokenize(prompts)
        batch = {"images": images, "image_mask": image_mask, "tokens": tokens,
                 "token_mask": token_mask, "state": torch.from_numpy(np.stack(states))}
        if obs_images is not None:
            batch["obs_images"] = obs_images
        if actions:
            if len(actions) != len(samples):
                raise ValueError("either every sample has actions or none does")
            batch["actions"] = torch.from_numpy(np.stack(actions))
        return batch

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids and validity mask [B, max_tokens]; over-long prompts are truncated (warned once)."""
        return self._pad(self.tokenizer(prompts)["input_ids"], prompts)

    def _pad(self, seqs: list[list[int]], prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.config.max_tokens
        ids = torch.full((len(prompts), t), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros(len(prompts), t, dtype=torch.bool)
        for b, seq in enumerate(seqs):
            if len(seq) > t:
                if self.strict_prompts:
                    raise ValueError(f"prompt of {len(seq)} tokens exceeds max_tokens={t} (raise it with --set "
                                     f"max_tokens=N): {prompts[b]!r}")
                self.truncated_prompts += 1
                if not self._warned_truncation:
                    self._warned_truncation = True
                    log.warning("prompt of %d tokens truncated to max_tokens=%d: %r", len(seq), t, prompts[b])
            seq = seq[:t]
            ids[b, : len(seq)], mask[b, : len(seq)] = torch.tensor(seq, dtype=torch.long), True
        return ids, mask

    def postprocess(self, actions_norm: torch.Tensor, state: np.ndarray) -> np.ndarray:
        """Model output [B, H, A] (normalized, model space) + raw state [B, S] -> absolute actions [B, H, A]."""
        a = self.normalizer.unnormalize(actions_norm.detach().float().cpu().numpy(), "actions")
        return to_absolute(a, np.asarray(state, dtype=np.float32), self.config.delta_mask)
