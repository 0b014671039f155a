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

"""A LeRobot π0 / π0.5 checkpoint (what `PI0Policy` / `PI05Policy.save_pretrained` and LeRobot's training write)
turned into a pi_vla_ros checkpoint for one robot profile, checked strictly.

What is read from the LeRobot directory:
    config.json          type ("pi0" | "pi05"), paligemma_variant, action_expert_variant, chunk_size,
                         max_state_dim, max_action_dim, num_inference_steps, tokenizer_max_length,
                         image_resolution, normalization_mapping {STATE, ACTION}, input_features (observation.state
                         and observation.images.<camera>, in the order LeRobot feeds them to the model),
                         output_features (action)
    model.safetensors    the weights, LeRobot's layout (weights.py: "model." prefix, untied lm_head)
    policy_preprocessor.json / policy_postprocessor.json and the safetensors files their normalizer steps name
                         ("observation.state.mean", "action.q99", ... flat): the normalization statistics

How it maps:
- The model config comes from the variants, chunk size, padding and step count; the SigLIP tower and the
  vocabulary size, which LeRobot's config does not name, are read from the file's tensor shapes.
- normalization MEAN_STD -> zscore (mean, std), QUANTILES -> quantile (q01, q99); other modes are refused. State
  and action statistics must be present for the chosen mode and have the profile's state / action sizes. LeRobot
  divides by (std + 1e-8) where openpi and we use 1e-6: a 1e-6 relative difference at most.
- Actions are absolute (LeRobot's π0 processors apply no delta transform): the delta mask is all False.
- LeRobot feeds camera i of input_features to image slot i and masks the empty slots. Each LeRobot camera maps to
  the profile camera of the same name, or the one `camera_map` names; the converted config orders its image
  slots so that this camera's policy_key is slot i. A LeRobot camera with no profile camera, or two cameras on
  one profile camera, is an error (never a silently blank image).
- The joint order of state and action is the dataset's: LeRobot's config keeps only their sizes, so the sizes are
  checked and the order is the user's to match (the profile's action_names, printed on import).
- The prompt tokenizer is PaliGemma's (SentencePiece), which LeRobot fetches from the hub at run time. Here it must
  be a local directory (`tokenizer`); its vocabulary must fit the model's embedding table.
Every problem is one CheckpointError naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from safetensors import safe_open

from pi_vla_ros.models.pi0 import GEMMA_VARIANTS, Pi0ModelConfig, SIGLIP_VARIANTS
from pi_vla_ros.models.vlm import IMAGE_KEYS
from pi_vla_ros.policies.checkpoint import CheckpointError, read_json
from pi_vla_ros.policies.pi06.processing import NormStats
from pi_vla_ros.policies.tokenizer import load_tokenizer

from .configuration import Pi0Config
from .policy import Pi0Policy
from .weights import EMBED, LM_HEAD, VISION, canonical_name

NORM_MODES = {"MEAN_STD": "zscore", "QUANTILES": "quantile"}
MODE_STATS = {"zscore": ("mean", "std"), "quantile": ("q01", "q99")}
IMAGE_PREFIX = "observation.images."
STATE, ACTION = "observation.state", "action"
PATCH_EMBED = VISION + "vision_model.embeddings.patch_embedding.weight"  # [width, 3, patch, patch]
PROJECTOR = "paligemma_with_expert.paligemma.model.multi_modal_projector.linear.weight"  # [VLM width, vision width]


def _field(config: dict, key: str, kind, source: Path):
    if key not in config:
        raise CheckpointError(f"{source}: LeRobot config has no {key!r}")
    value = config[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CheckpointError(f"{source}: {key!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def file_architecture(weights: Path) -> tuple[str, int, int]:
    """(SigLIP variant, vocabulary size, projector width) from the file's tensor shapes: LeRobot's config names
    none of them.
    """
    try:
        with safe_open(str(weights), framework="pt") as f:
            names = {canonical_name(k): k for k in f.keys()}
            wanted = (PATCH_EMBED, EMBED, LM_HEAD, PROJECTOR)
            shape = {n: f.get_slice(k).get_shape() for n, k in names.items() if n in wanted}
    except Exception as exc:
        raise CheckpointError(f"corrupt safetensors file {weights}: {exc}") from exc
    if PATCH_EMBED not in shape or PROJECTOR not in shape or not {EMBED, LM_HEAD} & set(shape):
        raise CheckpointError(f"{weights}: no vision tower ({PATCH_EMBED}), projector or token embedding ({EMBED})")
    width, _, patch, _ = shape[PATCH_EMBED]
    depth = len({n.split(".")[7] for n in names if n.startswith(VISION + "vision_model.encoder.layers.")})
    vocab = shape.get(EMBED, shape.get(LM_HEAD))[0]
    for name, v in SIGLIP_VARIANTS.items():
        if (v.width, v.depth, v.patch_size) == (width, depth, patch):
            return name, vocab, shape[PROJECTOR][0]
    raise CheckpointError(f"{weights}: vision tower of width {width}, depth {depth}, patch {patch} matches no known "
                          f"SigLIP variant ({sorted(SIGLIP_VARIANTS)})")


def read_stats(src: Path) -> dict[str, dict[str, np.ndarray]]:
    """{"observation.state": {"mean": ..., ...}, "action": {...}} from the processors' normalizer state files."""
    stats: dict[str, dict[str, np.ndarray]] = {}
    for pipeline in ("policy_preprocessor.json", "policy_postprocessor.json"):
        if not (src / pipeline).is_file():
            continue
        for step in read_json(src / pipeline).get("steps", []):
            state_file = step.get("state_file") if isinstance(step, dict) else None
            if not state_file:
                continue
            try:
                with safe_open(str(src / state_file), framework="np") as f:
                    for key in f.keys():
                        feature, stat = key.rsplit(".", 1)
                        stats.setdefault(feature, {})[stat] = f.get_tensor(key).astype(np.float64)
            except Exception as exc:
                raise CheckpointError(f"corrupt normalizer state {src / state_file}: {exc}") from exc
    if not stats:
        raise CheckpointError(f"{src}: no normalization statistics (policy_preprocessor.json / "
                              "policy_postprocessor.json with a normalizer state file)")
    return stats


def _norm_stats(stats: dict, feature: str, mode: str, dim: int, src: Path) -> NormStats:
    have = stats.get(feature, {})
    need = MODE_STATS[mode]
    missing = [s for s in need if s not in have]
    if missing:
        raise CheckpointError(f"{src}: normalization {mode} needs {feature}.{{{','.join(need)}}}; missing "
                              f"{', '.join(missing)}")
    for stat, value in have.items():
        if value.shape != (dim,):
            raise CheckpointError(f"{src}: {feature}.{stat} has shape {value.shape}; the profile has {dim} dims")
        if not np.all(np.isfinite(value)):
            raise CheckpointError(f"{src}: non-finite normalization statistic {feature}.{stat}")
    # Statistics the mode does not use are carried as the identity rather than invented.
    unit = NormStats.identity(dim)
    return NormStats(**{s: have.get(s, getattr(unit, s)) if s in need else getattr(unit, s)
                        for s in ("mean", "std", "q01", "q99")})


def _image_keys(cameras: list[str], profile, camera_map: dict[str, str], src: Path) -> tuple[str, ...]:
    """Slot order: LeRobot camera i -> the policy_key of its profile camera; unused slots after them."""
    by_name = {c.name: c for c in profile.cameras}
    unknown = set(camera_map) - set(cameras)
    if unknown:
        raise CheckpointError(f"--camera-map names {sorted(unknown)}, not cameras of {src} ({cameras})")
    keys: list[str] = []
    for cam in cameras:
        target = camera_map.get(cam, cam)
        if target not in by_name:
            raise CheckpointError(f"{src}: camera {cam!r} has no profile camera (profile {profile.name!r} has "
                                  f"{sorted(by_name)}); map it with --camera-map {cam}=<profile camera>")
        key = by_name[target].policy_key
        if key in keys:
            raise CheckpointError(f"{src}: two cameras map onto profile camera {target!r}")
        keys.append(key)
    if len(keys) > len(IMAGE_KEYS):
        raise CheckpointError(f"{src}: {len(keys)} cameras, π0 has {len(IMAGE_KEYS)} image slots")
    return tuple(keys) + tuple(k for k in IMAGE_KEYS if k not in keys)


def lerobot_config(src: Path, profile, camera_map: dict[str, str] | None = None) -> tuple[Pi0Config, dict]:
    """(Pi0Config resolved for `profile`, the normalization statistics) from a LeRobot checkpoint directory."""
    file = src / "config.json"
    lr = read_json(file)
    kind = lr.get("type")
    if kind not in ("pi0", "pi05"):
        raise CheckpointError(f"{file}: type {kind!r} is not a LeRobot π0 or π0.5 checkpoint ('pi0' / 'pi05')")
    variants = {k: _field(lr, k, str, file) for k in ("paligemma_variant", "action_expert_variant")}
    for key, name in variants.items():
        if name not in GEMMA_VARIANTS:
            raise CheckpointError(f"{file}: {key} {name!r} unknown (known: {sorted(GEMMA_VARIANTS)})")
    resolution = _field(lr, "image_resolution", list, file)
    if len(resolution) != 2 or resolution[0] != resolution[1]:
        raise CheckpointError(f"{file}: image_resolution {resolution} is not square")
    vision, vocab, projector = file_architecture(src / "model.safetensors")
    if projector != GEMMA_VARIANTS[variants["paligemma_variant"]].width:
        # LeRobot 0.4 builds the projector 2048 wide for every variant: its gemma_300m VLM cannot run at all
        raise CheckpointError(f"{src / 'model.safetensors'}: the image projector is {projector} wide but the "
                              f"{variants['paligemma_variant']} language model is "
                              f"{GEMMA_VARIANTS[variants['paligemma_variant']].width}: this checkpoint cannot run "
                              "(LeRobot 0.4 writes such files for paligemma_variant gemma_300m)")
    model = Pi0ModelConfig(pi05=kind == "pi05", vlm=variants["paligemma_variant"],
                           expert=variants["action_expert_variant"], vision=vision, vocab_size=vocab,
                           image_size=int(resolution[0]), action_dim=_field(lr, "max_action_dim", int, file),
                           action_horizon=_field(lr, "chunk_size", int, file),
                           num_steps=_field(lr, "num_inference_steps", int, file))
    if _field(lr, "max_state_dim", int, file) != model.action_dim:
        raise CheckpointError(f"{file}: max_state_dim {lr['max_state_dim']} differs from max_action_dim "
                              f"{model.action_dim}; π0 pads both to one width")
    mapping = _field(lr, "normalization_mapping", dict, file)
    modes = {mapping.get(k) for k in ("STATE", "ACTION")}
    if len(modes) != 1 or next(iter(modes)) not in NORM_MODES:
        raise CheckpointError(f"{file}: normalization_mapping STATE={mapping.get('STATE')!r} ACTION="
                              f"{mapping.get('ACTION')!r}; supported: both MEAN_STD or both QUANTILES")
    mode = NORM_MODES[modes.pop()]
    inputs, outputs = _field(lr, "input_features", dict, file), _field(lr, "output_features", dict, file)
    dims = {}
    for feature, table in ((STATE, inputs), (ACTION, outputs)):
        shape = table.get(feature, {}).get("shape") if isinstance(table.get(feature), dict) else None
        if not isinstance(shape, list) or len(shape) != 1:
            raise CheckpointError(f"{file}: {feature} feature missing or not one-dimensional ({shape})")
        dims[feature] = shape[0]
    if dims[STATE] != profile.state_dim or dims[ACTION] != len(profile.action_names):
        raise CheckpointError(f"{file}: state {dims[STATE]} / action {dims[ACTION]} dims; profile {profile.name!r} "
                              f"has {profile.state_dim} / {len(profile.action_names)}")
    cameras = [k.removeprefix(IMAGE_PREFIX) for k in inputs if k.startswith(IMAGE_PREFIX)]
    config = Pi0Config(name=kind, model=model, max_tokens=_field(lr, "tokenizer_max_length", int, file),
                       norm_mode=mode, image_keys=_image_keys(cameras, profile, camera_map or {}, src))
    config = dataclasses.replace(config, delta_mask=(False,) * len(profile.action_names)).resolve(profile)
    stats = read_stats(src)
    norm = {"state": _norm_stats(stats, STATE, mode, dims[STATE], src),
            "actions": _norm_stats(stats, ACTION, mode, dims[ACTION], src)}
    return config, norm


def import_lerobot(src: str | Path, profile, out: str | Path, *, tokenizer: str | Path,
                   camera_map: dict[str, str] | None = None) -> Pi0Policy:
    """Load a LeRobot π0 / π0.5 checkpoint strictly for `profile` and save it as a pi_vla_ros checkpoint at `out`."""
    src = Path(src)
    if not src.is_dir():
        raise CheckpointError(f"LeRobot checkpoint directory does not exist: {src}")
    config, norm = lerobot_config(src, profile, camera_map)
    tok = load_tokenizer(tokenizer)
    if len(tok) > config.model.vocab_size:
        raise CheckpointError(f"tokenizer {tokenizer} has {len(tok)} tokens; the model's vocabulary is "
                              f"{config.model.vocab_size}")
    policy = Pi0Policy.build(config, profile, weights=src / "model.safetensors", norm_stats=norm, tokenizer=tok)
    policy.save_pretrained(out)
    provenance = {"lerobot_checkpoint": str(src.resolve()), "profile": profile.name,
                  "image_slots": list(config.image_keys), "norm_mode": config.norm_mode}
    (Path(out) / "imported_from.json").write_text(json.dumps(provenance, indent=1))
    return policy
