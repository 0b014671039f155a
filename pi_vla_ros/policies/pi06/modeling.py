"""π0.6-style model: frozen PaliGemma prefix -> cross-attention action expert -> flow-matching velocity.

Batches come from Pi06Processor: images [B, N, 3, S, S], image_mask [B, N], tokens / token_mask [B, T],
state [B, S] (normalized; it reaches the model through the prompt) and, for training, actions [B, H, A]
(normalized model space) with an optional action_mask [B, H] (False past an episode's end).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pi_vla_ros.models import flow_matching as fm
from pi_vla_ros.models.pi06_expert import Pi06Expert
from pi_vla_ros.models.vlm import PaliGemmaBackbone, vlm_config

from .configuration import Pi06Config


class Pi06Model(nn.Module):
    def __init__(self, config: Pi06Config, vlm: PaliGemmaBackbone | None = None):
        super().__init__()
        if not config.resolved:
            raise ValueError("Pi06Model needs a config resolved against a robot profile (Pi06Config.resolve)")
        self.config = config
        self.vlm = vlm if vlm is not None else PaliGemmaBackbone(vlm_config(config.vlm, config.image_size))
        if self.vlm.hidden_size != config.expert.context_dim or self.vlm.image_size != config.image_size:
            raise ValueError(f"VLM (width {self.vlm.hidden_size}, images {self.vlm.image_size}) does not match the "
                             f"config (context_dim {config.expert.context_dim}, image_size {config.image_size})")
        self.expert = Pi06Expert(config.expert)

    def train(self, mode: bool = True) -> "Pi06Model":
        super().train(mode)
        self.vlm.eval()  # frozen backbone never trains
        return self

    def trainable_parameters(self):
        return self.expert.parameters()

    def context(self, batch: dict[str, Tensor]) -> dict:
        """Run the VLM prefix once and precompute the expert's per-layer cross-attention keys/values."""
        hidden, mask = self.vlm(batch["images"], batch["image_mask"], batch["tokens"], batch["token_mask"])
        return self.expert.precompute_context(hidden.to(self.dtype), mask)  # e.g. bf16 VLM, fp32 expert

    def compute_loss(self, batch: dict[str, Tensor], noise: Tensor | None = None, time: Tensor | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
        """Flow-matching loss; gradients reach only the expert (the VLM runs under no_grad)."""
        batch = self._to(batch)
        actions = batch["actions"]
        b = actions.shape[0]
        noise = torch.randn(actions.shape, generator=generator).to(actions) if noise is None else noise
        time = fm.sample_time(b, generator).to(actions) if time is None else time
        v = self.expert.velocity(fm.interpolate(actions, noise, time), time, self.context(batch))
        return fm.flow_loss(v, noise, actions, batch.get("action_mask"))

    @torch.no_grad()
    def sample_actions(self, batch: dict[str, Tensor], noise: Tensor | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
        """Normalized model-space actions [B, H, A]: prefix once, then num_steps Euler steps of the expert."""
        batch = self._to(batch)
        b, cfg = batch["tokens"].shape[0], self.config.expert
        if noise is None:
            noise = torch.randn((b, cfg.horizon, cfg.action_dim), generator=generator)
        return self.expert.sample(self.context(batch), noise.to(self.device, self.dtype), self.config.num_steps)

    @property
    def device(self) -> torch.device:
        return self.expert.pos.device

    @property
    def dtype(self) -> torch.dtype:
        return self.expert.pos.dtype

    def _to(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device) for k, v in batch.items()}
