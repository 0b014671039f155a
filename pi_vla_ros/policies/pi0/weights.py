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

"""π0 / π0.5 `model.safetensors` in openpi's PyTorch layout (also what LeRobot loads), read strictly.

Canonical names are openpi's (PI0Pytorch on transformers 4.53):
    paligemma_with_expert.paligemma.model.{vision_tower.vision_model, multi_modal_projector, language_model}.…
    paligemma_with_expert.paligemma.lm_head.weight      (tied to embed_tokens; safetensors keeps only this name)
    paligemma_with_expert.gemma_expert.model.{layers.{i}, norm}.…  (π0.5 norms: ….dense.{weight,bias})
    paligemma_with_expert.gemma_expert.lm_head.weight   (exists in openpi files, never used: skipped)
    action_in_proj, action_out_proj, π0: state_proj, action_time_mlp_{in,out}; π0.5: time_mlp_{in,out}
Also accepted: LeRobot's leading "model.", the pre-4.52 PaliGemma layout (language_model.model.…,
vision_tower.… directly under paligemma), transformers-5 SigLIP without "vision_model.", the tied tensor under
embed_tokens instead of lm_head, and LeRobot's time_mlp_* <-> action_time_mlp_* renaming. LeRobot rebuilds the
language model after HF's constructor, so its files store lm_head and embed_tokens as two tensors, which differ
after fine-tuning: the math reads only embed_tokens (the model ties the two), so a separate lm_head of the same
shape is then dropped. Nothing else: any missing, unexpected or mis-shaped tensor is one CheckpointError naming
them all.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors import safe_open

from pi_vla_ros.models.pi0 import Pi0Model
from pi_vla_ros.policies.checkpoint import CheckpointError, load_strict, save_tensors

PG = "paligemma_with_expert.paligemma."
LM_HEAD = PG + "lm_head.weight"
EMBED = PG + "model.language_model.embed_tokens.weight"
VISION = PG + "model.vision_tower."
EXPERT_LM_HEAD = "paligemma_with_expert.gemma_expert.lm_head.weight"  # unused by flow matching
_LAYOUT_RENAMES = (  # older layouts -> openpi's
    (re.compile(r"^model\.(?=paligemma_with_expert\.|action_|state_proj\.|time_mlp_)"), ""),  # LeRobot prefix
    (re.compile(r"^" + re.escape(PG) + r"language_model\.model\."), PG + "model.language_model."),
    (re.compile(r"^" + re.escape(PG) + r"language_model\.lm_head\."), PG + "lm_head."),
    (re.compile(r"^" + re.escape(PG) + r"(vision_tower|multi_modal_projector)\."), PG + r"model.\1."),
    (re.compile(r"^" + re.escape(VISION) + r"(?!vision_model\.)"), VISION + "vision_model."),
)
_LEROBOT_RENAMES = {"time_mlp_": "action_time_mlp_", "action_time_mlp_": "time_mlp_"}


def canonical_name(key: str) -> str:
    for pattern, repl in _LAYOUT_RENAMES:
        key = pattern.sub(repl, key)
    return key


def _model_names(model: Pi0Model) -> dict[str, str]:
    """canonical (file) name -> model state-dict name, for every tensor a checkpoint must hold."""
    return {canonical_name(k): k for k in model.state_dict() if k != EMBED}


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a file except the unused expert lm_head (263M parameters at full size: never read)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file missing: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys() if canonical_name(k) != EXPERT_LM_HEAD}
    except Exception as exc:
        raise CheckpointError(f"corrupt safetensors file {path}: {exc}") from exc


def load_weights(model: Pi0Model, tensors: dict[str, torch.Tensor] | str | Path, source: str | None = None) -> None:
    """Strictly load openpi / LeRobot π0 or π0.5 weights (a dict or a model.safetensors path) into `model`."""
    if not isinstance(tensors, dict):
        source, tensors = source or str(tensors), read_safetensors(tensors)
    source = source or "state dict"
    names = _model_names(model)
    found: dict[str, torch.Tensor] = {}
    canonical = {key: canonical_name(key) for key in tensors}
    embed = next((tensors[k] for k, name in canonical.items() if name == EMBED), None)
    for key, value in tensors.items():
        name = canonical[key]
        if name == EXPERT_LM_HEAD:
            continue
        if name == LM_HEAD and embed is not None:   # LeRobot's untied lm_head beside embed_tokens
            if value.shape != embed.shape:
                raise CheckpointError(f"{source}: {key} has shape {tuple(value.shape)}, embed_tokens "
                                      f"{tuple(embed.shape)}")
            continue
        if name == EMBED:  # the tie's other name
            name = LM_HEAD
        elif name not in names:
            for old, new in _LEROBOT_RENAMES.items():
                if name.startswith(old) and name.replace(old, new, 1) in names:
                    name = name.replace(old, new, 1)
                    break
        if name in found:
            raise CheckpointError(f"{source}: {key} maps onto {name}, which is already present")
        found[name] = value
    mapped = {names.get(k, k): v for k, v in found.items()}  # unknown tensors keep their file names
    load_strict(model, mapped, list(names.values()), source, names={v: k for k, v in names.items()})


def state_dict_openpi(model: Pi0Model, with_unused: bool = True) -> dict[str, torch.Tensor]:
    """The model's tensors under openpi's names, tie stored once as lm_head (as safetensors' save_model does).

    with_unused adds openpi's never-used expert lm_head (zeros) so openpi's strict load_model accepts the file.
    """
    own = model.state_dict()
    out = {canonical: own[name] for canonical, name in _model_names(model).items()}
    if with_unused and model.expert is not None:  # π0-FAST has no expert
        pg = model.vlm.config.text_config
        out[EXPERT_LM_HEAD] = torch.zeros(pg.vocab_size, model.action_in_proj.out_features, dtype=model.dtype)
    return out


def save_weights(model: Pi0Model, path: str | Path, with_unused: bool = True) -> Path:
    path = Path(path)
    save_tensors(state_dict_openpi(model, with_unused), path, metadata={"format": "pt", EMBED: LM_HEAD})
    return path
