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

import numpy as np
import torch

from pi_vla_ros.policies.factory import make_policy

from .pi06_testutil import observation, profile


def training_batch(policy, n=4):
    prof = policy.profile
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        obs = observation(prof, seed=i)
        images = {policy.slots[k]: v for k, v in obs.images.items()}
        actions = np.cumsum(rng.normal(0, 0.05, (50, prof.action_dim)), axis=0) + obs.state[None, : prof.action_dim]
        samples.append({"images": images, "state": obs.state, "prompt": obs.prompt, "actions": actions})
    return policy.processor(samples)


def fixed_noise_and_time(batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch["actions"].shape, generator=g), torch.rand(batch["actions"].shape[0], generator=g)


def test_only_the_expert_gets_gradients():
    policy = make_policy("pi06_tiny", profile("ur5e"), allow_untrained=True)
    model = policy.model.train()
    batch = training_batch(policy, 2)
    loss = model.compute_loss(batch, *fixed_noise_and_time(batch))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None and not p.requires_grad for p in model.vlm.parameters())
    grads = [p.grad for p in model.expert.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    assert not model.vlm.training and model.expert.training
    assert {id(p) for p in model.trainable_parameters()} == {id(p) for p in model.expert.parameters()}


def test_optimizer_steps_lower_the_loss_on_a_fixed_batch():
    policy = make_policy("pi06_tiny", profile("ur5e"), allow_untrained=True)
    model = policy.model.train()
    batch = training_batch(policy)
    noise, time = fixed_noise_and_time(batch)
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = model.compute_loss(batch, noise, time)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_action_mask_is_used():
    policy = make_policy("pi06_tiny", profile("ur5e"), allow_untrained=True)
    batch = training_batch(policy, 2)
    noise, time = fixed_noise_and_time(batch)
    with torch.no_grad():
        plain = policy.model.compute_loss(batch, noise, time)
        batch["action_mask"] = torch.ones(2, 50, dtype=torch.bool)
        assert torch.allclose(policy.model.compute_loss(batch, noise, time), plain)
        batch["action_mask"][:, 25:] = False
        assert not torch.allclose(policy.model.compute_loss(batch, noise, time), plain)


def test_sample_actions_shape_and_determinism():
    policy = make_policy("pi06_tiny", profile("bimanual"), allow_untrained=True)
    batch = training_batch(policy, 2)
    del batch["actions"]
    noise = torch.randn(2, 50, 14)
    a = policy.model.sample_actions(batch, noise=noise)
    assert a.shape == (2, 50, 14) and torch.isfinite(a).all()
    assert torch.equal(a, policy.model.sample_actions(batch, noise=noise))
