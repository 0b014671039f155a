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

"""π0.6-style model: frozen PaliGemma prefix -> cross-attention action expert -> flow-matching velocity.

Batches come from Pi06Processor: images [B, N, 3, S, S], image_mask [B, N], tokens / token_mask [B, T],
state [B, S] (normalized; it reaches the model through the prompt) and, for training, actions [B, H, A]
(normalized model space) with an optional action_mask [B, H] (False past an episode's end). With an observation
encoder (config.obs_encoder) also obs_images [B, N, 3, s, s]. A batch may carry the frozen VLM's output instead of
images and tokens: prefix [B, L, D] and prefix_mask [B, L] (training on a cache: the frozen VLM's output for a
frame never changes, so it is computed once per frame, see training/data.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from pi_vla_ros.models import flow_matching as fm
from pi_vla_ros.models.obs_encoder import ConvObsEncoder
from pi_vla_ros.models.pi06_expert import Pi06Expert
from pi_vla_ros.models.vlm import PaliGemmaBackbone, vlm_config

from .configuration import Pi06Config


class ObservationEncoder(nn.Module):
    """What π0.6-style models see of an observation, as context tokens: the frozen VLM's hidden states for the
    images and prompt (language only without config.vlm_images), plus the conv encoder's image and state tokens
    when config.obs_encoder is set. The action expert (Pi06Model) and the value function (value.py) both read it.
    """

    def __init__(self, config: Pi06Config, vlm: PaliGemmaBackbone | None = None):
        super().__init__()
        if not config.resolved:
            raise ValueError(f"{type(self).__name__} needs a config resolved against a robot profile "
                             "(Pi06Config.resolve)")
        self.config = config
        self.vlm = vlm if vlm is not None else PaliGemmaBackbone(vlm_config(config.vlm, config.image_size))
        if self.vlm.hidden_size != config.expert.context_dim or self.vlm.image_size != config.image_size:
            raise ValueError(f"VLM (width {self.vlm.hidden_size}, images {self.vlm.image_size}) does not match the "
                             f"config (context_dim {config.expert.context_dim}, image_size {config.image_size})")
        self.build_head()  # before the observation encoder: the random init draws in the order checkpoints expect
        self.obs = None
        if config.obs_encoder == "conv":
            self.obs = ConvObsEncoder(len(config.image_keys), config.obs_image_size, config.obs_width,
                                      self.vlm.hidden_size, config.state_dim if config.state_token else 0)

    def build_head(self) -> None:
        """Subclasses create what reads the context tokens here."""

    def train(self, mode: bool = True):
        super().train(mode)
        self.vlm.eval()  # frozen backbone never trains
        return self

    def prefix(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The frozen VLM's hidden states and validity mask for the batch's images and tokens (language only when
        config.vlm_images is False: every image slot is then masked and the vision tower skipped).
        """
        if self.config.vlm_images:
            return self.vlm(batch["images"], batch["image_mask"], batch["tokens"], batch["token_mask"])
        hidden, mask = self.vlm(batch["images"], torch.zeros_like(batch["image_mask"]), batch["tokens"],
                                batch["token_mask"])
        t = batch["tokens"].shape[1]
        return hidden[:, -t:], mask[:, -t:]  # drop the (all masked) image slots

    def context_tokens(self, batch: dict[str, Tensor], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """[B, L, D] tokens in `dtype` and their [B, L] validity: the VLM prefix (or the batch's cached "prefix")
        followed by the observation encoder's tokens, if any.
        """
        hidden, mask = (batch["prefix"], batch["prefix_mask"]) if "prefix" in batch else self.prefix(batch)
        hidden = hidden.to(dtype)  # e.g. bf16 VLM (or cache), fp32 heads
        if self.obs is not None:
            tokens, tmask = self.obs(batch["obs_images"], batch["image_mask"],
                                     batch["state"] if self.config.state_token else None)
            hidden, mask = torch.cat([hidden, tokens.to(hidden.dtype)], 1), torch.cat([mask.bool(), tmask], 1)
        return hidden, mask


class Pi06Model(ObservationEncoder):

    def build_head(self) -> None:
        self.expert = Pi06Expert(self.config.expert)
        self.gradient_checkpointing = False

    def trainable_parameters(self):
        yield from self.expert.parameters()
        if self.obs is not None:
            yield from self.obs.parameters()

    def gradient_checkpointing_enable(self) -> None:
        """Recompute the expert's activations in the backward pass instead of storing them (less memory)."""
        self.gradient_checkpointing = True

    def context(self, batch: dict[str, Tensor]) -> dict:
        """Run the VLM prefix once (or take it from the batch) and precompute the expert's per-layer
        cross-attention keys/values; observation-encoder tokens, if any, join the prefix.
        """
        return self.expert.precompute_context(*self.context_tokens(batch, self.dtype))

    def compute_loss(self, batch: dict[str, Tensor], noise: Tensor | None = None, time: Tensor | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
        """Flow-matching loss; gradients reach only the expert (the VLM runs under no_grad)."""
        batch = self._to(batch)
        actions = batch["actions"]
        b = actions.shape[0]
        noise = torch.randn(actions.shape, generator=generator).to(actions) if noise is None else noise
        time = fm.sample_time(b, generator).to(actions) if time is None else time
        x_t, ctx = fm.interpolate(actions, noise, time), self.context(batch)
        if self.gradient_checkpointing and torch.is_grad_enabled():
            v = checkpoint(self.expert.velocity, x_t, time, ctx, use_reentrant=False)
        else:
            v = self.expert.velocity(x_t, time, ctx)
        return fm.flow_loss(v, noise, actions, batch.get("action_mask"))

    @torch.no_grad()
    def sample_actions(self, batch: dict[str, Tensor], noise: Tensor | None = None,
                       generator: torch.Generator | None = None, inpaint: fm.Inpainting | None = None,
                       guidance: float | None = None) -> Tensor:
        """Normalized model-space actions [B, H, A]: prefix once, then num_steps Euler steps of the expert
        (guided towards inpaint.target with real-time chunking).

        guidance (Recap's classifier-free guidance): the batch holds B conditioned prompts, then the same B
        observations without the condition, and v = v_uncond + guidance * (v_cond - v_uncond).
        """
        batch = self._to(batch)
        b, cfg = batch["state"].shape[0] // (1 if guidance is None else 2), self.config.expert
        if noise is None:  # scaled by the sampling temperature (0: deterministic, from the noise's mean)
            noise = torch.randn((b, cfg.horizon, cfg.action_dim), generator=generator) * self.config.noise_scale
        noise, ctx = noise.to(self.device, self.dtype), self.context(batch)
        if guidance is None:
            return self.expert.sample(ctx, noise, self.config.num_steps, inpaint)

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            v = self.expert.velocity(torch.cat([x, x]), torch.cat([t, t]), ctx)
            return v[b:] + guidance * (v[:b] - v[b:])

        return fm.euler_sample(velocity, noise, self.config.num_steps, inpaint)

    @property
    def device(self) -> torch.device:
        return self.expert.pos.device

    @property
    def dtype(self) -> torch.dtype:
        return self.expert.pos.dtype

    def _to(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device) for k, v in batch.items()}
