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

import math

import pytest
import torch

from pi_vla_ros.models import flow_matching as fm


def test_sample_time_range_and_distribution():
    t = fm.sample_time(20000, torch.Generator().manual_seed(0))
    assert t.shape == (20000,)
    assert t.min() >= 0.001 and t.max() <= 1.0
    assert abs(t.mean().item() - (0.6 * 0.999 + 0.001)) < 0.01  # E[Beta(1.5, 1)] = 0.6
    assert (t > 0.5).float().mean() > 0.6  # weighted towards the noisy end
    again = fm.sample_time(20000, torch.Generator().manual_seed(0))
    assert torch.equal(t, again)


def test_interpolation_endpoints_and_velocity():
    a, n = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    assert torch.allclose(fm.interpolate(a, n, torch.ones(3)), n)
    assert torch.allclose(fm.interpolate(a, n, torch.zeros(3)), a)
    t, h = torch.full((3,), 0.4), 1e-3
    finite_diff = (fm.interpolate(a, n, t + h) - fm.interpolate(a, n, t - h)) / (2 * h)
    assert torch.allclose(finite_diff, fm.target_velocity(n, a), atol=1e-3)


def test_loss_zero_at_true_velocity_and_mask():
    a, n = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    u = fm.target_velocity(n, a)
    assert fm.flow_loss(u, n, a).item() == 0.0
    assert fm.flow_loss(u + 1.0, n, a).item() == pytest.approx(1.0)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[:, 3:] = False
    wrong_tail = u.clone()
    wrong_tail[:, 3:] += 5.0
    assert fm.flow_loss(wrong_tail, n, a, mask).item() == 0.0


def test_euler_takes_num_steps_and_integrates_straight_flow_exactly():
    a, noise = torch.randn(2, 7, 3), torch.randn(2, 7, 3)
    calls = []

    def v(x, t):  # the exact velocity of the straight path through x_t towards a
        calls.append(t[0].item())
        return (x - a) / t[:, None, None]

    out = fm.euler_sample(v, noise, num_steps=10)
    assert len(calls) == 10 and calls[0] == 1.0 and calls[-1] == pytest.approx(0.1)
    assert torch.allclose(out, a, atol=1e-5)
    const = fm.euler_sample(lambda x, t: torch.full_like(x, 2.0), noise, num_steps=5)
    assert torch.allclose(const, noise - 2.0, atol=1e-6)


def test_sinusoidal_time_embedding():
    e = fm.sinusoidal_time_embedding(torch.tensor([0.0, 0.5, 1.0]), 16)
    assert e.shape == (3, 16) and e.dtype == torch.float32
    assert torch.allclose(e[0, :8], torch.zeros(8)) and torch.allclose(e[0, 8:], torch.ones(8))
    # the shortest period is 4e-3: sin(2π t / 4e-3)
    assert e[1, 0].item() == pytest.approx(math.sin(2 * math.pi * 0.5 / 4e-3), abs=1e-4)
    assert not torch.allclose(e[1], e[2])
    with pytest.raises(ValueError):
        fm.sinusoidal_time_embedding(torch.zeros(1), 15)


def test_rtc_weights_follow_the_soft_mask():
    w = fm.rtc_weights(50, frozen=5, overlap=30).squeeze(1)
    assert w.shape == (50,)
    assert torch.all(w[:5] == 1) and torch.all(w[30:] == 0)
    assert torch.all(w[5:30] > 0) and torch.all(w[5:30] < 1)
    assert torch.all(torch.diff(w[4:31]) < 0)                  # strictly decaying from frozen to overlap
    c = (30 - 10) / (30 - 5 + 1)
    assert w[10].item() == pytest.approx(c * math.expm1(c) / math.expm1(1))
    assert torch.all(fm.rtc_weights(10, 0, 0) == 0)           # nothing committed: no guidance
    with pytest.raises(ValueError):
        fm.rtc_weights(10, 6, 5)


def _two_chunk_velocity(modes):
    """The exact velocity field for data that is one of two whole chunks (a bimodal 'policy')."""
    def v(x, t):
        tb = t[:, None, None]
        d = ((x[:, None] - (1 - tb[:, None]) * modes[None]) ** 2).sum((-1, -2))
        x0 = torch.einsum("bm,mhd->bhd", torch.softmax(-d / (2 * t[:, None] ** 2), dim=1), modes)
        return (x - x0) / tb
    return v


def test_inpainting_guides_a_bimodal_flow_to_the_committed_mode():
    h, d = 20, 2
    modes = torch.stack([torch.ones(h, d), -torch.ones(h, d)])
    v = _two_chunk_velocity(modes)
    noise = torch.randn(64, h, d, generator=torch.Generator().manual_seed(0))
    plain = fm.euler_sample(v, noise, 10)
    picks_first = (plain.mean((1, 2)) > 0).float().mean().item()
    assert 0.3 < picks_first < 0.7                             # unguided: either chunk, about half each
    for committed in (modes[0], modes[1]):
        inpaint = fm.Inpainting(committed.expand(64, h, d), fm.rtc_weights(h, frozen=5, overlap=15))
        guided = fm.euler_sample(v, noise, 10, inpaint=inpaint)
        assert torch.allclose(guided, committed.expand(64, h, d), atol=1e-4)   # every sample continues it


def test_prefix_inpainting_gives_the_prefix_exactly_and_per_action_times():
    """Training-time RTC at inference: hard inpainting, the model sees t = 0 on the prefix."""
    seen = []

    def velocity(x, t):
        seen.append(t.clone())
        return x * 0.7 + 0.1

    target = torch.randn(2, 8, 3)
    hard = fm.PrefixInpainting(target, torch.tensor([[True] * 3 + [False] * 5, [True] * 5 + [False] * 3]))
    out = fm.euler_sample(velocity, torch.randn(2, 8, 3), 4, hard)
    assert torch.equal(out[0, :3], target[0, :3]) and torch.equal(out[1, :5], target[1, :5])
    assert not torch.allclose(out[0, 3:], target[0, 3:])
    assert len(seen) == 4 and all(t.shape == (2, 8) and (t[0, :3] == 0).all() and (t[0, 3:] > 0).all() for t in seen)
    assert torch.equal(fm.PrefixInpainting.first(target, 2).prefix[1], torch.arange(8) < 2)
    with pytest.raises(ValueError):
        fm.PrefixInpainting.first(target, 9)


def test_training_prefix_draws_delays_up_to_the_maximum():
    prefix = fm.training_prefix(4000, 10, 4, torch.Generator().manual_seed(0))
    d = prefix.sum(1)
    assert set(d.tolist()) == {0, 1, 2, 3, 4}
    assert torch.equal(prefix, torch.arange(10)[None] < d[:, None])  # always a prefix
    assert torch.equal(fm.prefix_times(torch.tensor([0.5]), prefix[:1])[0], torch.where(prefix[0], 0.0, 0.5))
    with pytest.raises(ValueError):
        fm.training_prefix(2, 10, 10)
