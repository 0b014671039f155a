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

"""π0 / π0.5 behind the Policy interface (policies/base.py), bound to one robot profile.

Reuses the π0.6 policy's camera-slot mapping and infer loop; what differs is the model, the processor (state and
actions padded to 32 dims) and the checkpoint:

    config.json        {"policy": "pi0", "format_version": 1, "untrained": bool, "config": Pi0Config}
    model.safetensors  openpi's PyTorch layout (weights.py), loadable by openpi and LeRobot as well
    norm_stats.json    {"norm_stats": {"state": {mean, std, q01, q99}, "actions": {...}}} (openpi's format)
    tokenizer/         tokenizer files (loaded locally, never from a hub)
Loading is strict: any missing, unexpected, mis-shaped or non-finite tensor, non-finite norm stats, a config value
of the wrong type, or a corrupt file raises CheckpointError.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pi_vla_ros.models.pi0 import Pi0Model
from pi_vla_ros.policies.pi06.policy import Pi06Policy
from pi_vla_ros.policies.pi06.processing import NormStats

from .configuration import Pi0Config
from .processing import Pi0Processor
from .weights import load_weights, save_weights


class Pi0Policy(Pi06Policy):
    KIND = "pi0"
    CONFIG, PROCESSOR = Pi0Config, Pi0Processor
    GUIDANCE = False  # Recap's classifier-free guidance: π0.6 only so far

    def __init__(self, model: Pi0Model, processor: Pi0Processor, profile, *, untrained: bool = False, seed: int = 0):
        if processor.config.model != model.config:
            raise ValueError("the processor's config and the model disagree")
        super().__init__(model, processor, profile, untrained=untrained, seed=seed)

    @property
    def config(self) -> Pi0Config:
        return self.processor.config

    @property
    def vocab_size(self) -> int:
        return self.config.model.vocab_size

    @property
    def horizon(self) -> int:
        return self.config.horizon

    # infer(obs, noise=None) and reset() come from Pi06Policy; noise, if given, is model space: [H, 32].

    @classmethod
    def build(cls, config: Pi0Config, profile, *, weights: str | Path | None = None,
              norm_stats: dict[str, NormStats] | None = None, tokenizer=None, device: str = "cpu",
              seed: int = 0) -> Pi0Policy:
        """A policy from a registry config: random weights, or `weights` = an openpi / LeRobot model.safetensors.

        tokenizer: a tokenizer object or a LOCAL directory (e.g. PaliGemma's); without one, a small word-level
        tokenizer is built from the profile's task words (untrained plumbing only). Without norm_stats the
        normalization is the identity.
        """
        cfg = config.resolve(profile)
        with torch.random.fork_rng(devices=[]):  # deterministic init without touching the caller's RNG
            torch.manual_seed(seed)
            model = Pi0Model(cfg.model)
        if weights is not None:
            load_weights(model, weights)
        processor = cls._processor(cfg, profile, tokenizer, norm_stats)
        return cls(model.to(device), processor, profile, untrained=weights is None, seed=seed)

    def save_pretrained(self, path: str | Path) -> Path:
        path = self._save_common(path)
        save_weights(self.model, path / "model.safetensors")
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, profile, *, device: str = "cpu", seed: int = 0) -> Pi0Policy:
        path, meta, cfg, processor = cls._read_checkpoint(path, profile)
        model = Pi0Model(cfg.model)
        load_weights(model, path / "model.safetensors")
        return cls(model.to(device), processor, profile, untrained=bool(meta.get("untrained", False)), seed=seed)
