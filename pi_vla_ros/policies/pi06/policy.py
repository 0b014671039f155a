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

"""The π0.6-style policy behind the Policy interface (policies/base.py), bound to one robot profile.

Checkpoint directory (save_pretrained / from_pretrained):
    config.json         {"policy": "pi06", "format_version": 1, "untrained": bool, "config": Pi06Config}
    model.safetensors   every tensor of Pi06Model: "expert.*", plus "vlm.*" unless config.vlm_path is set,
                        in which case the frozen VLM is loaded from that LOCAL HF directory instead (a relative
                        path is taken relative to the checkpoint) and is not duplicated into each checkpoint.
    norm_stats.json     {"norm_stats": {"state": {mean, std, q01, q99}, "actions": {...}}} (model-space actions)
    tokenizer/          tokenizer files (loaded locally, never from a hub)
Loading is strict: any missing, unexpected, mis-shaped or non-finite tensor, non-finite norm stats, a config value
of the wrong type, or a corrupt file raises CheckpointError.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pi_vla_ros.models import flow_matching as fm
from pi_vla_ros.models.vlm import PaliGemmaBackbone
from pi_vla_ros.policies.base import ActionChunk, Observation, PolicyMetadata
from pi_vla_ros.policies.checkpoint import CheckpointError, load_strict, load_tensors, read_json, save_tensors
from pi_vla_ros.policies.tokenizer import build_tokenizer, load_tokenizer

from .configuration import Pi06Config
from .modeling import Pi06Model
from .processing import NormStats, Normalizer, Pi06Processor

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


class Pi06Policy:
    """Also the base of Pi0Policy: what differs per policy is the model, its weights file and these attributes."""

    KIND = "pi06"  # "policy" in config.json
    max_guidance = 5.0  # real-time chunking's guidance cap (beta, FACTS.md §8)
    GUIDANCE = True     # Recap's classifier-free guidance (advantage_guidance) is supported
    CONFIG, PROCESSOR = Pi06Config, Pi06Processor

    def __init__(self, model: Pi06Model, processor: Pi06Processor, profile, *, untrained: bool = False, seed: int = 0):
        self.model, self.processor, self.profile = model.eval(), processor, profile
        self.untrained, self.seed = untrained, seed
        # Recap's classifier-free guidance weight for advantage-conditioned checkpoints (1: plain conditioning;
        # the paper uses 1.5-2.5); costs a second expert pass per denoising step.
        self.advantage_guidance = 1.0
        cfg = self.config
        if len(processor.tokenizer) > self.vocab_size:
            raise ValueError(f"tokenizer has {len(processor.tokenizer)} tokens, the model only {self.vocab_size}")
        # profile camera name -> model image slot, via Camera.policy_key
        self.slots = {c.name: c.policy_key for c in profile.cameras if c.policy_key in cfg.image_keys}
        if len(set(self.slots.values())) != len(self.slots):
            raise ValueError(f"profile {profile.name!r}: two cameras share one policy_key: {self.slots}")
        self.ignored = {c.name for c in profile.cameras} - set(self.slots)
        if self.ignored:
            log.warning("cameras %s have no image slot in %s (slots %s); their images are ignored",
                        sorted(self.ignored), cfg.name, cfg.image_keys)
        self.metadata = PolicyMetadata(name=cfg.name, action_dim=len(cfg.action_names), horizon=self.horizon,
                                       dt=1.0 / profile.policy_rate_hz, cameras=tuple(self.slots))
        if untrained:
            log.warning("!!! policy %s is UNTRAINED (random weights, identity normalization): its actions are "
                        "meaningless; use it only for plumbing tests !!!", cfg.name)
        self.reset()

    @property
    def vocab_size(self) -> int:
        return self.model.vlm.vocab_size

    @property
    def horizon(self) -> int:
        return self.config.expert.horizon

    @property
    def config(self) -> Pi06Config:
        return self.model.config

    # -- Policy interface -------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start of an episode: re-seed the sampling noise so episodes are reproducible."""
        self._gen = torch.Generator().manual_seed(self.seed)

    def infer(self, obs: Observation, noise: np.ndarray | None = None) -> ActionChunk:
        t0 = time.perf_counter()
        unknown = set(obs.images) - set(self.slots) - self.ignored
        if unknown:
            raise ValueError(f"images from cameras {sorted(unknown)} not in profile {self.profile.name!r}")
        images = {self.slots[n]: img for n, img in obs.images.items() if n in self.slots}
        state = np.asarray(obs.state, dtype=np.float32)
        sample = {"images": images, "state": state, "prompt": obs.prompt}
        if self.config.advantage_conditioned:
            sample["advantage"] = True  # Recap: ask for the better-than-usual actions
        committed = obs.committed
        if committed is not None:  # the processor maps them into model space exactly like training targets
            sample["actions"] = self._committed_rows(committed)
        guided = self.config.advantage_conditioned and self.advantage_guidance != 1.0
        truncated_before = self.processor.truncated_prompts
        batch = self.processor([sample, {**sample, "advantage": None}] if guided else [sample])
        inpaint = None
        if committed is not None:
            weights = fm.rtc_weights(self.horizon, committed.frozen, committed.overlap)
            inpaint = fm.Inpainting(batch.pop("actions")[:1], weights, self.max_guidance)
        noise_t = None if noise is None else torch.as_tensor(np.asarray(noise, dtype=np.float32))[None]
        extra = {"guidance": self.advantage_guidance} if guided else {}
        actions = self.model.sample_actions(batch, noise=noise_t, generator=self._gen, inpaint=inpaint, **extra)
        actions = self.processor.postprocess(actions, state[None])[0]
        info = {"policy": self.config.name, "untrained": self.untrained, "latency_s": time.perf_counter() - t0,
                "prompt_truncated": self.processor.truncated_prompts > truncated_before}
        return ActionChunk(actions=actions, dt=self.metadata.dt, stamp=obs.stamp, info=info)

    def _committed_rows(self, committed) -> np.ndarray:
        rows = np.asarray(committed.actions, dtype=np.float32)
        if rows.shape != (self.horizon, self.metadata.action_dim) or not np.all(np.isfinite(rows)):
            raise ValueError(f"committed actions must be finite [{self.horizon}, {self.metadata.action_dim}], "
                             f"got {rows.shape}")
        return rows

    # -- construction -----------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, config: Pi06Config, profile, *, norm_stats: dict[str, NormStats] | None = None, tokenizer=None,
              device: str = "cpu", seed: int = 0, untrained: bool = True) -> "Pi06Policy":
        """Fresh weights (expert random; VLM from config.vlm_path if set, else random), e.g. to start training.

        Without norm_stats the normalization is the identity; without a tokenizer one comes from vlm_path
        or, failing that, a small word-level tokenizer is built from the profile's task words.
        """
        cfg = config.resolve(profile)
        with torch.random.fork_rng(devices=[]):  # deterministic init without touching the caller's RNG
            torch.manual_seed(seed)
            vlm = PaliGemmaBackbone.from_pretrained(cfg.vlm_path) if cfg.vlm_path else None
            model = Pi06Model(cfg, vlm)
        processor = cls._processor(cfg, profile, tokenizer if tokenizer is not None else cfg.vlm_path, norm_stats)
        return cls(model.to(device), processor, profile, untrained=untrained, seed=seed)

    @classmethod
    def _processor(cls, cfg, profile, tokenizer=None, norm_stats: dict[str, NormStats] | None = None):
        """cls.PROCESSOR for a resolved config. tokenizer: an object, a LOCAL directory, or None for a small
        word-level tokenizer of the profile's task words (untrained plumbing); norm_stats None: identity.
        """
        if isinstance(tokenizer, (str, Path)):
            tokenizer = load_tokenizer(tokenizer)
        if tokenizer is None:
            words = re.findall(r"[a-z]+", json.dumps(getattr(profile, "task", {}) or {}).lower())
            with tempfile.TemporaryDirectory() as tmp:
                tokenizer = build_tokenizer(words, tmp)
        if norm_stats is None:
            norm_stats = {"state": NormStats.identity(cfg.state_dim),
                          "actions": NormStats.identity(len(cfg.action_names))}
        return cls.PROCESSOR(cfg, tokenizer, Normalizer(norm_stats, cfg.norm_mode))

    def save_pretrained(self, path: str | Path) -> Path:
        path = self._save_common(path)
        cfg = self.config
        tensors = {k: v for k, v in self.model.state_dict().items() if cfg.vlm_path is None or k.startswith("expert.")}
        save_tensors(tensors, path / "model.safetensors", metadata={"format": "pt", "policy": "pi06"})
        return path

    def _save_common(self, path: str | Path) -> Path:
        """Everything but the weights: config.json, norm_stats.json, tokenizer/."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"policy": self.KIND, "format_version": FORMAT_VERSION, "untrained": self.untrained,
                "config": self.config.to_dict()}
        (path / "config.json").write_text(json.dumps(meta, indent=1))
        self.processor.normalizer.save(path / "norm_stats.json")
        self.processor.tokenizer.save_pretrained(str(path / "tokenizer"))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, profile, *, device: str = "cpu", seed: int = 0) -> "Pi06Policy":
        path, meta, cfg, processor = cls._read_checkpoint(path, profile)
        tensors = load_tensors(path / "model.safetensors")
        vlm = None
        if cfg.vlm_path:
            vlm_dir = Path(cfg.vlm_path) if Path(cfg.vlm_path).is_absolute() else path / cfg.vlm_path
            vlm = PaliGemmaBackbone.from_pretrained(vlm_dir)
        with torch.random.fork_rng(devices=[]):  # the init is overwritten; keep the caller's RNG untouched
            model = Pi06Model(cfg, vlm)
        expected = [k for k in model.state_dict() if cfg.vlm_path is None or k.startswith("expert.")]
        load_strict(model, tensors, expected, source=str(path / "model.safetensors"))
        return cls(model.to(device), processor, profile, untrained=bool(meta.get("untrained", False)), seed=seed)

    @classmethod
    def _read_checkpoint(cls, path: str | Path, profile):
        """(path, meta, config resolved for profile, processor) from a checkpoint's config.json, norm_stats.json
        and tokenizer/, each checked; the weights are the caller's.
        """
        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f"checkpoint directory does not exist: {path}")
        meta = read_json(path / "config.json")
        if meta.get("policy") != cls.KIND or meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{path / 'config.json'} is not a {cls.KIND} checkpoint of format {FORMAT_VERSION}: "
                                  f"policy={meta.get('policy')!r}, format_version={meta.get('format_version')!r}")
        try:
            cfg = cls.CONFIG.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid config in {path / 'config.json'}: {exc}") from exc
        cfg = cfg.resolve(profile)  # raises if the checkpoint was made for another action layout
        return path, meta, cfg, cls._processor_from_files(path, cfg)

    @classmethod
    def _processor_from_files(cls, path: Path, cfg):
        """cls.PROCESSOR from a checkpoint directory's norm_stats.json and tokenizer/, each checked (stats finite:
        JSON's NaN/Infinity would load, warm up and give NaN actions forever).
        """
        file = path / "norm_stats.json"
        try:
            stats = {k: NormStats.from_dict(v) for k, v in read_json(file)["norm_stats"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"invalid norm stats in {file}: {exc!r}") from exc
        bad = [f"{k}.{f}" for k, st in stats.items() for f in ("mean", "std", "q01", "q99")
               if not np.all(np.isfinite(getattr(st, f)))]
        if bad:
            raise CheckpointError(f"non-finite norm stats (NaN/inf) in {file}: {', '.join(bad)}")
        try:
            return cls.PROCESSOR(cfg, load_tokenizer(path / "tokenizer"), Normalizer(stats, cfg.norm_mode))
        except (KeyError, TypeError, ValueError, FileNotFoundError) as exc:
            raise CheckpointError(f"invalid norm stats or tokenizer in {path}: {exc}") from exc
