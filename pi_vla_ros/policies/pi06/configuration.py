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

"""Frozen configuration of the π0.6-style policy (frozen VLM + cross-attention action expert)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from pi_vla_ros.models.pi06_expert import ExpertConfig
from pi_vla_ros.models.vlm import IMAGE_KEYS, VLM_SIZES
from pi_vla_ros.policies.checkpoint import config_kwargs

NORM_MODES = ("quantile", "zscore")
OBS_ENCODERS = ("", "conv")


@dataclass(frozen=True)
class Pi06Config:
    name: str = "pi06"
    vlm: str = "paligemma-3b"            # named size in models/vlm.py VLM_SIZES
    vlm_path: str | None = None          # local HF PaliGemma dir; None: VLM weights live in model.safetensors
    image_size: int = 224                # square model resolution; images are resized with padding to it
    image_keys: tuple[str, ...] = IMAGE_KEYS
    max_tokens: int = 200                # language tokens (π0.5: 200, the state is written into the prompt)
    state_in_prompt: bool = True         # π0.5-style "Task: ..., State: <256-bin ints>;\nAction: "
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    num_steps: int = 10                  # Euler denoising steps
    noise_scale: float = 1.0             # sampling temperature: scale of the starting noise (0: from its mean)
    # Recap (π*0.6): trained with "Advantage: positive/negative" in the prompt; inference asks for "positive".
    advantage_conditioned: bool = False
    norm_mode: str = "quantile"          # 'quantile' (q01/q99 -> [-1, 1]) or 'zscore'
    # Optional trainable observation encoder (models/obs_encoder.py) whose tokens join the frozen VLM's prefix in
    # the expert's cross-attention context: "" (none, the seed's design) or "conv" (a small CNN per camera slot at
    # obs_image_size, plus one token of the normalized state when state_token). For simulation, where no
    # pretrained VLM is available and a random frozen one cannot localize objects (see README).
    obs_encoder: str = ""
    vlm_images: bool = True              # False: the frozen VLM reads only the language (images go to obs_encoder)
    obs_image_size: int = 64
    obs_width: int = 64                  # CNN channels (the tokens are projected to the VLM width)
    state_token: bool = False
    # Robot-specific, filled by resolve(profile) and stored in the checkpoint:
    action_names: tuple[str, ...] = ()   # the profile's action layout
    state_dim: int = 0
    delta_mask: tuple[bool, ...] | None = None  # per action dim: True = predicted relative to the current state
    delta_actions: bool = True           # default delta_mask: arm joints relative (openpi); False: all absolute

    def __post_init__(self):
        if self.norm_mode not in NORM_MODES:
            raise ValueError(f"norm_mode must be one of {NORM_MODES}, got {self.norm_mode!r}")
        if self.vlm not in VLM_SIZES:
            raise ValueError(f"unknown VLM config {self.vlm!r}; known: {sorted(VLM_SIZES)}")
        if self.obs_encoder not in OBS_ENCODERS:
            raise ValueError(f"obs_encoder must be one of {OBS_ENCODERS}, got {self.obs_encoder!r}")
        if self.state_token and not self.obs_encoder:
            raise ValueError("state_token needs an obs_encoder")
        if not self.vlm_images and not self.obs_encoder:
            raise ValueError("vlm_images=False needs an obs_encoder (the policy would be blind)")
        if self.action_names and self.delta_mask is not None:
            if len(self.delta_mask) != len(self.action_names):
                raise ValueError(f"delta_mask has {len(self.delta_mask)} entries, "
                                 f"actions have {len(self.action_names)}")
            if any(self.delta_mask[self.state_dim:]):
                raise ValueError("delta dims must have a state (base velocities and other stateless dims are absolute)")

    @property
    def resolved(self) -> bool:
        return bool(self.action_names) and self.delta_mask is not None

    def resolve(self, profile) -> "Pi06Config":
        """Bind the robot: action layout, state size, expert action/context dims, default delta mask."""
        names = tuple(profile.action_names)
        if self.action_names and self.action_names != names:
            raise ValueError(f"config {self.name!r} was made for actions {list(self.action_names)}, "
                             f"profile {profile.name!r} has {list(names)}")
        mask = self.delta_mask
        if mask is None:  # openpi's default: arm joints relative to the state, grippers and base absolute
            mask = tuple(self.delta_actions and i < profile.state_dim and "gripper" not in n
                         for i, n in enumerate(names))
        expert = dataclasses.replace(self.expert, action_dim=len(names),
                                     context_dim=VLM_SIZES[self.vlm]["text"]["hidden_size"])
        return dataclasses.replace(self, action_names=names, state_dim=profile.state_dim, delta_mask=tuple(mask),
                                   expert=expert)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Pi06Config":
        """From to_dict's JSON: unknown fields and values of the wrong type are a ValueError naming the field."""
        return cls(**config_kwargs(cls, d))
