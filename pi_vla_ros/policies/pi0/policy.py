"""π0 / π0.5 behind the Policy interface (policies/base.py), bound to one robot profile.

Reuses the π0.6 policy's camera-slot mapping and infer loop; what differs is the model, the processor (state and
actions padded to 32 dims) and the checkpoint:

    config.json        {"policy": "pi0", "format_version": 1, "untrained": bool, "config": Pi0Config}
    model.safetensors  openpi's PyTorch layout (weights.py), loadable by openpi and LeRobot as well
    norm_stats.json    {"norm_stats": {"state": {mean, std, q01, q99}, "actions": {...}}} (openpi's format)
    tokenizer/         tokenizer files (loaded locally, never from a hub)
Loading is strict: any missing, unexpected or mis-shaped tensor, or a corrupt file, raises CheckpointError.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path

import torch

from pi_vla_ros.models.pi0 import Pi0Model
from pi_vla_ros.policies.base import PolicyMetadata
from pi_vla_ros.policies.checkpoint import CheckpointError, read_json
from pi_vla_ros.policies.pi06.policy import Pi06Policy
from pi_vla_ros.policies.pi06.processing import Normalizer, NormStats
from pi_vla_ros.policies.tokenizer import build_tokenizer, load_tokenizer

from .configuration import Pi0Config
from .processing import Pi0Processor
from .weights import load_weights, save_weights

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


class Pi0Policy(Pi06Policy):
    def __init__(self, model: Pi0Model, processor: Pi0Processor, profile, *, untrained: bool = False, seed: int = 0):
        cfg = processor.config
        if cfg.model != model.config:
            raise ValueError("the processor's config and the model disagree")
        if len(processor.tokenizer) > cfg.model.vocab_size:
            raise ValueError(f"tokenizer has {len(processor.tokenizer)} tokens, the model only {cfg.model.vocab_size}")
        self.model, self.processor, self.profile = model.eval(), processor, profile
        self.untrained, self.seed = untrained, seed
        self.slots = {c.name: c.policy_key for c in profile.cameras if c.policy_key in cfg.image_keys}
        if len(set(self.slots.values())) != len(self.slots):
            raise ValueError(f"profile {profile.name!r}: two cameras share one policy_key: {self.slots}")
        self.ignored = {c.name for c in profile.cameras} - set(self.slots)
        if self.ignored:
            log.warning("cameras %s have no image slot in %s (slots %s); their images are ignored",
                        sorted(self.ignored), cfg.name, cfg.image_keys)
        self.metadata = PolicyMetadata(name=cfg.name, action_dim=len(cfg.action_names), horizon=cfg.horizon,
                                       dt=1.0 / profile.policy_rate_hz, cameras=tuple(self.slots))
        if untrained:
            log.warning("!!! policy %s is UNTRAINED (random weights, identity normalization): its actions are "
                        "meaningless; use it only for plumbing tests !!!", cfg.name)
        self.reset()

    @property
    def config(self) -> Pi0Config:
        return self.processor.config

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
        if isinstance(tokenizer, (str, Path)):
            tokenizer = load_tokenizer(tokenizer)
        if tokenizer is None:
            words = re.findall(r"[a-z]+", json.dumps(getattr(profile, "task", {}) or {}).lower())
            with tempfile.TemporaryDirectory() as tmp:
                tokenizer = build_tokenizer(words, tmp)
        if norm_stats is None:
            norm_stats = {"state": NormStats.identity(cfg.state_dim),
                          "actions": NormStats.identity(len(cfg.action_names))}
        processor = Pi0Processor(cfg, tokenizer, Normalizer(norm_stats, cfg.norm_mode))
        return cls(model.to(device), processor, profile, untrained=weights is None, seed=seed)

    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"policy": "pi0", "format_version": FORMAT_VERSION, "untrained": self.untrained,
                "config": self.config.to_dict()}
        (path / "config.json").write_text(json.dumps(meta, indent=1))
        save_weights(self.model, path / "model.safetensors")
        self.processor.normalizer.save(path / "norm_stats.json")
        self.processor.tokenizer.save_pretrained(str(path / "tokenizer"))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, profile, *, device: str = "cpu", seed: int = 0) -> Pi0Policy:
        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f"checkpoint directory does not exist: {path}")
        meta = read_json(path / "config.json")
        if meta.get("policy") != "pi0" or meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{path / 'config.json'} is not a pi0 checkpoint of format {FORMAT_VERSION}: "
                                  f"policy={meta.get('policy')!r}, format_version={meta.get('format_version')!r}")
        try:
            cfg = Pi0Config.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid config in {path / 'config.json'}: {exc}") from exc
        cfg = cfg.resolve(profile)  # raises if the checkpoint was made for another action layout
        stats = read_json(path / "norm_stats.json")
        try:
            normalizer = Normalizer({k: NormStats.from_dict(v) for k, v in stats["norm_stats"].items()}, cfg.norm_mode)
            processor = Pi0Processor(cfg, load_tokenizer(path / "tokenizer"), normalizer)
        except (KeyError, TypeError, ValueError, FileNotFoundError) as exc:
            raise CheckpointError(f"invalid norm stats or tokenizer in {path}: {exc}") from exc
        model = Pi0Model(cfg.model)
        load_weights(model, path / "model.safetensors")
        return cls(model.to(device), processor, profile, untrained=bool(meta.get("untrained", False)), seed=seed)
