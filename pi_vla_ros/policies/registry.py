"""One registry of named, frozen policy configs (openpi style). Robot-specific fields are bound later
by `config.resolve(profile)`; everything else about a named policy is fixed here."""

from __future__ import annotations

from pi_vla_ros.models.pi06_expert import ExpertConfig
from pi_vla_ros.policies.pi06.configuration import Pi06Config

POLICY_CONFIGS: dict[str, Pi06Config] = {
    # CPU-sized: tiny SigLIP/Gemma at 64x64, for tests, CI and plumbing; a chunk takes a few tens of ms.
    "pi06_tiny": Pi06Config(
        name="pi06_tiny", vlm="tiny", image_size=64, max_tokens=96,
        expert=ExpertConfig(width=192, depth=3, heads=6, horizon=50), num_steps=10,
    ),
    # The seed's π0.6 expert (FACTS.md §6) over PaliGemma 3B at 224x224.
    "pi06": Pi06Config(
        name="pi06", vlm="paligemma-3b", image_size=224, max_tokens=200,
        expert=ExpertConfig(width=512, depth=4, heads=8, horizon=50), num_steps=10,
    ),
}


def get_config(name: str) -> Pi06Config:
    if name not in POLICY_CONFIGS:
        raise KeyError(f"unknown policy {name!r}; known: {sorted(POLICY_CONFIGS)}")
    return POLICY_CONFIGS[name]
