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

"""One registry of named, frozen policy configs (openpi style). Robot-specific fields are bound later
by `config.resolve(profile)`; everything else about a named policy is fixed here.
"""

from __future__ import annotations

import dataclasses

from pi_vla_ros.models.pi0 import Pi0ModelConfig
from pi_vla_ros.models.pi06_expert import ExpertConfig
from pi_vla_ros.policies.pi0.configuration import Pi0Config
from pi_vla_ros.policies.pi06.configuration import Pi06Config

_PI0_TINY = Pi0ModelConfig(vlm="gemma_tiny", expert="gemma_expert_tiny", vision="siglip_tiny", image_size=32,
                           vocab_size=1024)

# The width-128 expert: at width 64 the flow fitted about 1.7x worse in a 400-step probe (README, π0.5's recipe);
# `--set model.expert=gemma_expert_sim` trains the narrower one.
_PI0_SIM = Pi0ModelConfig(vlm="gemma_sim", expert="gemma_expert_sim_w128", vision="conv_sim", image_size=64,
                          vocab_size=1024)

POLICY_CONFIGS: dict[str, Pi06Config | Pi0Config] = {
    # CPU-sized: tiny SigLIP/Gemma at 64x64, for tests, CI and plumbing; a chunk takes a few tens of ms.
    "pi06_tiny": Pi06Config(
        name="pi06_tiny", vlm="tiny", image_size=64, max_tokens=96,
        expert=ExpertConfig(width=192, depth=3, heads=6, horizon=50), num_steps=10,
    ),
    # What `pi-vla train` learns the simulated tasks with on a CPU: the tiny frozen VLM reads the language; a small
    # trainable CNN over the cameras and a state token join its output in the expert's context, because a randomly
    # initialised frozen VLM does not localize the cubes (README "Training"). No state in the prompt.
    "pi06_sim": Pi06Config(
        name="pi06_sim", vlm="tiny", image_size=64, max_tokens=24, state_in_prompt=False,
        expert=ExpertConfig(width=128, depth=3, heads=4, horizon=50), num_steps=10,
        obs_encoder="conv", obs_image_size=64, obs_width=32, state_token=True, vlm_images=False,
        delta_actions=False,
    ),
    # The seed's π0.6 expert (FACTS.md §6) over PaliGemma 3B at 224x224.
    "pi06": Pi06Config(
        name="pi06", vlm="paligemma-3b", image_size=224, max_tokens=200,
        expert=ExpertConfig(width=512, depth=4, heads=8, horizon=50), num_steps=10,
    ),
    # π0 / π0.5 (FACTS.md §2-3), tiny: same structure, tens of thousands of parameters, 32x32 images.
    "pi0_tiny": Pi0Config(name="pi0_tiny", model=_PI0_TINY, max_tokens=48, norm_mode="zscore"),
    "pi05_tiny": Pi0Config(name="pi05_tiny", model=dataclasses.replace(_PI0_TINY, pi05=True), max_tokens=200,
                           norm_mode="quantile"),
    # Published sizes: PaliGemma 3B (SigLIP So400m/14 at 224 + Gemma 2B) + Gemma 300M expert, 32-dim padding.
    "pi0": Pi0Config(name="pi0", model=Pi0ModelConfig(pi05=False), max_tokens=48, norm_mode="zscore"),
    "pi05": Pi0Config(name="pi05", model=Pi0ModelConfig(pi05=True), max_tokens=200, norm_mode="quantile"),
    # π0.5 as the seed describes it (models/pi0.py, "the π0.5 recipe"): the VLM also learns FAST action tokens
    # (train with knowledge insulation: TrainConfig.knowledge_insulation), only the expert acts; "hier" adds
    # hierarchical inference (subtask text decoded, then acted on; trained on subtask-annotated data).
    "pi05_ki_tiny": Pi0Config(name="pi05_ki_tiny", model=dataclasses.replace(_PI0_TINY, pi05=True), max_tokens=200,
                              norm_mode="quantile", fast_tokens=True, fast_vocab=512),
    "pi05_hier_tiny": Pi0Config(name="pi05_hier_tiny", model=dataclasses.replace(_PI0_TINY, pi05=True),
                                max_tokens=200, norm_mode="quantile", fast_tokens=True, fast_vocab=512, subtask=True),
    "pi05_ki": Pi0Config(name="pi05_ki", model=Pi0ModelConfig(pi05=True), max_tokens=200, norm_mode="quantile",
                         fast_tokens=True),
    "pi05_hier": Pi0Config(name="pi05_hier", model=Pi0ModelConfig(pi05=True), max_tokens=200, norm_mode="quantile",
                           fast_tokens=True, subtask=True),
    # Sim-sized π0 / π0.5 for `pi-vla train` on this CPU, everything trainable (pass --train-vlm): 64x64 cameras
    # through a small CNN in SigLIP's place (16 tokens each), a 3-layer width-128 Gemma with a width-64 expert;
    # absolute actions, as pi06_sim (relative ones let the idle arm drift); noise and flow loss on the robot's own
    # action dims only (flow_on_padding=False: with openpi's 32 padded dims the width-64 expert fitted half as well).
    "pi0_sim": Pi0Config(name="pi0_sim", model=_PI0_SIM, max_tokens=24, norm_mode="zscore", delta_actions=False,
                         flow_on_padding=False),
    "pi05_sim": Pi0Config(name="pi05_sim", model=dataclasses.replace(_PI0_SIM, pi05=True), max_tokens=80,
                          norm_mode="quantile", delta_actions=False, flow_on_padding=False),
    "pi05_ki_sim": Pi0Config(name="pi05_ki_sim", model=dataclasses.replace(_PI0_SIM, pi05=True), max_tokens=80,
                             norm_mode="quantile", fast_tokens=True, fast_vocab=512, delta_actions=False,
                             flow_on_padding=False),
    # Two-step tasks and the discrete state run to about 90 prompt tokens (80 cut the last state numbers off).
    "pi05_hier_sim": Pi0Config(name="pi05_hier_sim", model=dataclasses.replace(_PI0_SIM, pi05=True), max_tokens=112,
                               norm_mode="quantile", fast_tokens=True, fast_vocab=512, subtask=True,
                               delta_actions=False, flow_on_padding=False),
    "pi0_fast_sim": Pi0Config(name="pi0_fast_sim", model=dataclasses.replace(_PI0_SIM, expert=""), max_tokens=80,
                              norm_mode="quantile", fast_tokens=True, fast_vocab=512, delta_actions=False),
    # π0-FAST: PaliGemma alone, actions decoded from FAST tokens (state in the prompt, quantile normalization).
    "pi0_fast_tiny": Pi0Config(name="pi0_fast_tiny", model=dataclasses.replace(_PI0_TINY, expert=""), max_tokens=200,
                               norm_mode="quantile", fast_tokens=True, fast_vocab=512),
    "pi0_fast": Pi0Config(name="pi0_fast", model=Pi0ModelConfig(expert=""), max_tokens=200, norm_mode="quantile",
                          fast_tokens=True, max_target_tokens=256),
}


def get_config(name: str) -> Pi06Config | Pi0Config:
    if name not in POLICY_CONFIGS:
        raise KeyError(f"unknown policy {name!r}; known: {sorted(POLICY_CONFIGS)}")
    return POLICY_CONFIGS[name]
