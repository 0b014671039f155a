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

"""Frozen configuration of the π0 / π0.5 / π0-FAST policy: the model (models/pi0.py) plus how it is bound to a robot.

What the VLM is taught besides the prompt (models/pi0.py, "the π0.5 recipe"): ``fast_tokens`` adds next-token CE on
the FAST tokens of each action chunk (π0.5 with knowledge insulation; π0-FAST, ``model.expert == ""``, acts only
through them); ``subtask`` adds next-token CE on the frame's subtask annotation and makes inference hierarchical
(decode the subtask, then act on it). ``training_rtc_max_delay`` > 0: trained with training-time RTC, so real-time
chunking at inference hard-inpaints the committed prefix instead of guiding towards it.

Field names shared with Pi06Config (image_keys, max_tokens, norm_mode, action_names, state_dim, delta_mask and the
image_size / state_in_prompt properties) let the π0.6 pre/post-processing be reused unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from pi_vla_ros.models.pi0 import Pi0ModelConfig
from pi_vla_ros.models.vlm import IMAGE_KEYS
from pi_vla_ros.policies.checkpoint import config_kwargs
from pi_vla_ros.policies.pi06.configuration import NORM_MODES


@dataclass(frozen=True)
class Pi0Config:
    name: str = "pi0"
    model: Pi0ModelConfig = field(default_factory=Pi0ModelConfig)
    image_keys: tuple[str, ...] = IMAGE_KEYS
    max_tokens: int = 48                 # π0: 48 language tokens; π0.5: 200 (the state is in the prompt)
    norm_mode: str = "zscore"            # openpi: π0 z-score, π0.5 quantile
    advantage_conditioned: bool = False  # Recap: "Advantage: positive" in the inference prompt (see pi06)
    fast_tokens: bool = False            # CE on FAST action tokens (the tokenizer is fitted on the training set)
    fast_vocab: int = 1024               # FAST BPE vocabulary (paper: 1024)
    # π0-FAST: True: greedy among the tokens that can still end in exactly H x D coefficients (never an undecodable
    # chunk). False (default: it did better here, README): plain greedy, undecodable sequences rejected
    # (invalid_action_tokens) and the executing chunk runs on
    fast_constrained_decoding: bool = False
    subtask: bool = False                # hierarchical: CE on subtask text; inference decodes it, then acts on it
    max_target_tokens: int = 128         # longest VLM target block (subtask + FAST tokens, markers included)
    max_subtask_tokens: int = 16         # decoding budget of a subtask
    training_rtc_max_delay: int = 0      # training-time RTC: prefixes of up to this many actions given clean
    delta_actions: bool = True           # default delta_mask: arm joints relative (openpi); False: all absolute
    # openpi flows noise through all 32 padded dims and scores them all; False (the sim configs): only the robot's
    # action dims (resolve sets model.noise_dims), so a small expert is not spent carrying the padding's noise.
    flow_on_padding: bool = True
    # Robot-specific, filled by resolve(profile) and stored in the checkpoint:
    action_names: tuple[str, ...] = ()
    state_dim: int = 0
    delta_mask: tuple[bool, ...] | None = None  # per action dim: True = relative to the current state

    def __post_init__(self):
        if not self.model.expert and not self.fast_tokens:
            raise ValueError("a model without an action expert (π0-FAST) acts through FAST tokens: set fast_tokens")
        if not 0 <= self.training_rtc_max_delay < self.model.action_horizon:
            raise ValueError(f"training_rtc_max_delay must be in [0, {self.model.action_horizon})")
        if self.norm_mode not in NORM_MODES:
            raise ValueError(f"norm_mode must be one of {NORM_MODES}, got {self.norm_mode!r}")
        if len(self.image_keys) != len(IMAGE_KEYS):  # a checkpoint's prefix length depends on the camera count
            raise ValueError(f"π0 uses {len(IMAGE_KEYS)} image slots, got {self.image_keys}")
        pad = self.model.action_dim
        if len(self.action_names) > pad or self.state_dim > pad:
            raise ValueError(f"{len(self.action_names)} actions / {self.state_dim} state dims exceed the model's {pad}")
        if self.action_names and self.delta_mask is not None:
            if len(self.delta_mask) != len(self.action_names):
                raise ValueError(f"delta_mask has {len(self.delta_mask)} entries, "
                                 f"actions have {len(self.action_names)}")
            if any(self.delta_mask[self.state_dim:]):
                raise ValueError("delta dims must have a state (base velocities and other stateless dims are absolute)")

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def state_in_prompt(self) -> bool:  # π0.5 and π0-FAST write the discretized state into the prompt
        return self.model.pi05 or not self.model.expert

    @property
    def has_targets(self) -> bool:  # the VLM learns from a next-token loss, so it must train
        return self.fast_tokens or self.subtask

    @property
    def horizon(self) -> int:
        return self.model.action_horizon

    @property
    def resolved(self) -> bool:
        return bool(self.action_names) and self.delta_mask is not None

    def resolve(self, profile) -> Pi0Config:
        """Bind the robot: action layout, state size, default delta mask (arm joints relative, the rest absolute)."""
        names = tuple(profile.action_names)
        if self.action_names and self.action_names != names:
            raise ValueError(f"config {self.name!r} was made for actions {list(self.action_names)}, "
                             f"profile {profile.name!r} has {list(names)}")
        mask = self.delta_mask
        if mask is None:
            mask = tuple(self.delta_actions and i < profile.state_dim and "gripper" not in n
                         for i, n in enumerate(names))
        model = self.model if self.flow_on_padding else dataclasses.replace(self.model, noise_dims=len(names))
        return dataclasses.replace(self, model=model, action_names=names, state_dim=profile.state_dim,
                                   delta_mask=tuple(mask))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Pi0Config:
        """From to_dict's JSON: unknown fields and values of the wrong type are a ValueError naming the field."""
        return cls(**config_kwargs(cls, d))
