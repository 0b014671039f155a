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

"""Recap's value function (π*0.6, FACTS.md §7) over the π0.6 policy's own observation encoding.

V(o, language) in (-1, 0): roughly minus the normalized time still needed to succeed. The model is the policy's
ObservationEncoder (the frozen VLM for the language, the conv encoder for cameras and state) with a distributional
head instead of the action expert; batches are the policy's (Pi06Processor, or the training cache).

Checkpoint directory: config.json {"kind": "pi06_value", "format_version": 1, "config": Pi06Config,
"head": {...}}, model.safetensors (every tensor, frozen VLM included unless config.vlm_path is set), norm_stats.json,
tokenizer/ -- the same files and strict loading as a policy checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pi_vla_ros.models.value import DistributionalValueHead
from pi_vla_ros.models.vlm import PaliGemmaBackbone
from pi_vla_ros.policies.checkpoint import (CheckpointError, config_kwargs, load_strict, load_tensors, read_json,
                                            save_tensors)

from .configuration import Pi06Config
from .modeling import ObservationEncoder
from .policy import Pi06Policy

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ValueHeadConfig:
    width: int = 128
    heads: int = 4
    bins: int = 201
    v_min: float = -1.0
    v_max: float = 0.0


class Pi06ValueModel(ObservationEncoder):
    def __init__(self, config: Pi06Config, vlm: PaliGemmaBackbone | None = None,
                 head: ValueHeadConfig = ValueHeadConfig()):
        self.head_config = head
        super().__init__(config, vlm)

    def build_head(self) -> None:
        h = self.head_config
        self.head = DistributionalValueHead(self.config.expert.context_dim, h.width, h.heads, h.bins, h.v_min, h.v_max)

    def trainable_parameters(self):
        yield from self.head.parameters()
        if self.obs is not None:
            yield from self.obs.parameters()

    def logits(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(*self.context_tokens(batch, self.head.query.dtype))

    def loss(self, batch: dict[str, Tensor], returns: Tensor) -> Tensor:
        return self.head.loss(self.logits(batch), returns)

    @property
    def device(self) -> torch.device:
        return self.head.query.device


@dataclass(frozen=True)
class _Meta:
    horizon: int     # the training batches build action chunks too (unused by the value)


class Pi06Value:
    KIND = "pi06_value"

    def __init__(self, model: Pi06ValueModel, processor, profile):
        self.model, self.processor, self.profile = model.eval(), processor, profile
        self.config = model.config
        self.metadata = _Meta(horizon=self.config.expert.horizon)

    @classmethod
    def build(cls, config: Pi06Config, profile, *, norm_stats=None, tokenizer=None, seed: int = 0,
              head: ValueHeadConfig = ValueHeadConfig()) -> "Pi06Value":
        cfg = config.resolve(profile)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            vlm = PaliGemmaBackbone.from_pretrained(cfg.vlm_path) if cfg.vlm_path else None
            model = Pi06ValueModel(cfg, vlm, head)
        return cls(model, Pi06Policy._processor(cfg, profile, tokenizer, norm_stats), profile)

    @torch.no_grad()
    def values(self, batch: dict[str, Tensor]) -> np.ndarray:
        """V for each observation of a batch (processor output or training cache) -> float32 [B]."""
        batch = {k: v.to(self.model.device) for k, v in batch.items()}
        return self.model.head.expectation(self.model.logits(batch)).cpu().numpy().astype(np.float32)

    def save_pretrained(self, path: str | Path, extra: dict | None = None) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"kind": self.KIND, "format_version": FORMAT_VERSION, "config": self.config.to_dict(),
                "head": vars(self.model.head_config), **(extra or {})}
        (path / "config.json").write_text(json.dumps(meta, indent=1))
        self.processor.normalizer.save(path / "norm_stats.json")
        self.processor.tokenizer.save_pretrained(str(path / "tokenizer"))
        tensors = {k: v for k, v in self.model.state_dict().items()
                   if self.config.vlm_path is None or not k.startswith("vlm.")}
        save_tensors(tensors, path / "model.safetensors", metadata={"format": "pt", "kind": self.KIND})
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, profile) -> "Pi06Value":
        path = Path(path)
        meta = read_json(path / "config.json")
        if meta.get("kind") != cls.KIND or meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{path / 'config.json'} is not a {cls.KIND} checkpoint of format {FORMAT_VERSION}")
        try:
            cfg = Pi06Config.from_dict(meta["config"]).resolve(profile)
            head = ValueHeadConfig(**config_kwargs(ValueHeadConfig, meta["head"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid config in {path / 'config.json'}: {exc}") from exc
        processor = Pi06Policy._processor_from_files(path, cfg)
        vlm = None
        if cfg.vlm_path:
            vlm = PaliGemmaBackbone.from_pretrained(Path(cfg.vlm_path) if Path(cfg.vlm_path).is_absolute()
                                                    else path / cfg.vlm_path)
        with torch.random.fork_rng(devices=[]):
            model = Pi06ValueModel(cfg, vlm, head)
        expected = [k for k in model.state_dict() if cfg.vlm_path is None or not k.startswith("vlm.")]
        load_strict(model, load_tensors(path / "model.safetensors"), expected, source=str(path / "model.safetensors"))
        return cls(model, processor, profile)
