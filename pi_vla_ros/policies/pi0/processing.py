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

"""π0 / π0.5 pre/post-processing: the π0.6 pipeline (resize with padding, normalization with stored stats, delta
actions, π0.5's discretized state in the prompt) plus openpi's zero-padding of state and actions to the model's
action_dim (32) and the slicing back to the robot's action dims.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from pi_vla_ros.policies.pi06.processing import Pi06Processor

log = logging.getLogger(__name__)


class Pi0Processor(Pi06Processor):

    def __call__(self, samples: list[dict]) -> dict[str, torch.Tensor]:
        batch = super().__call__(samples)
        pad = self.config.model.action_dim
        batch["state"] = F.pad(batch["state"], (0, pad - batch["state"].shape[-1]))
        if "actions" in batch:
            batch["actions"] = F.pad(batch["actions"], (0, pad - batch["actions"].shape[-1]))
        return batch

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        r"""π0.5: the prompt as is. π0 (openpi): the task text, then "\n" encoded on its own as the answer start."""
        if self.config.state_in_prompt:
            return super().tokenize(prompts)
        newline = self.tokenizer("\n", add_special_tokens=False)["input_ids"]
        seqs = [self.tokenizer(p.removesuffix("\n"))["input_ids"] + newline for p in prompts]
        t = self.config.max_tokens
        ids = torch.full((len(prompts), t), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros(len(prompts), t, dtype=torch.bool)
        for b, seq in enumerate(seqs):
            if len(seq) > t and not self._warned_truncation:
                self._warned_truncation = True
                log.warning("prompt of %d tokens truncated to max_tokens=%d: %r", len(seq), t, prompts[b])
            seq = seq[:t]
            ids[b, : len(seq)], mask[b, : len(seq)] = torch.tensor(seq, dtype=torch.long), True
        return ids, mask

    def postprocess(self, actions_norm: torch.Tensor, state: np.ndarray) -> np.ndarray:
        """Padded model output [B, H, 32] -> the robot's absolute actions [B, H, action_dim]."""
        return super().postprocess(actions_norm[..., : len(self.config.action_names)], state)
