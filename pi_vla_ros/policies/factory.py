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

"""make_policy: the one way nodes, tools and tests get a Policy."""

from __future__ import annotations

from pi_vla_ros.policies.base import Policy
from pi_vla_ros.policies.pi0 import Pi0Config, Pi0Policy
from pi_vla_ros.policies.pi06 import Pi06Policy
from pi_vla_ros.policies.registry import get_config


def make_policy(name: str, profile, checkpoint: str | None = None, *, allow_untrained: bool = False,
                device: str = "cpu", seed: int = 0) -> Policy:
    """Policy `name` (see registry.POLICY_CONFIGS) for `profile`, loaded strictly from `checkpoint`.

    Without a checkpoint this refuses unless allow_untrained=True, in which case it builds random weights
    with identity normalization, warns loudly and sets `policy.untrained = True` (also in every chunk's info).
    """
    config = get_config(name)
    cls = Pi0Policy if isinstance(config, Pi0Config) else Pi06Policy
    if checkpoint is not None:
        policy = cls.from_pretrained(checkpoint, profile, device=device, seed=seed)
        if policy.config.name != name:
            raise ValueError(f"checkpoint {checkpoint} holds policy {policy.config.name!r}, not {name!r}")
        return policy
    if not allow_untrained:
        raise ValueError(f"policy {name!r} needs a checkpoint; pass checkpoint=<dir>, or allow_untrained=True "
                         "to run random weights for plumbing tests")
    if cls is Pi0Policy:  # untrained because no weights are given
        return Pi0Policy.build(config, profile, device=device, seed=seed)
    return Pi06Policy.build(config, profile, device=device, seed=seed, untrained=True)
