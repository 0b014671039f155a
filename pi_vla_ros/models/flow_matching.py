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

"""Flow matching, openpi's convention: t = 1 is pure noise, t = 0 is data (FACTS.md §1).

This is the only place the convention lives; every model (π0, π0.5, the π0.6 expert) imports it.
Shapes: actions / noise / x_t / velocities are [B, H, D]; t is [B], or [B, H] (one time per action) where
training-time real-time chunking gives a prefix of the chunk clean (t = 0) while the rest is noised.

Two ways to make a new chunk agree with the actions already committed (FACTS.md §8, §13):

* guidance RTC (:class:`Inpainting`, arXiv 2506.07339): any trained model; each Euler step is pulled towards the
  committed actions with a soft mask, at the cost of one vector-Jacobian product per step;
* training-time RTC (:class:`PrefixInpainting`, arXiv 2512.05964): the model was trained with a random executed
  prefix given clean at t = 0 and left out of the loss (:func:`training_prefix`); at inference that prefix is
  written in at every step (hard inpainting, no gradient) and comes out exactly as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor


def sample_time(batch: int, generator: torch.Generator | None = None, device=None) -> Tensor:
    """Training times t ~ Beta(1.5, 1) * 0.999 + 0.001: weighted towards the noisy end."""
    # Beta(a, 1) has CDF x**a, so inverse-CDF sampling is exact and honours `generator`
    # (torch.distributions.Beta cannot take one).
    u = torch.rand(batch, generator=generator, device=device)
    return u.pow(1.0 / 1.5) * 0.999 + 0.001


def _bcast(t: Tensor, like: Tensor) -> Tensor:
    return t.reshape(*t.shape, *([1] * (like.ndim - t.ndim))).to(like.dtype)  # [B] or [B, H] against [B, H, D]


def interpolate(actions: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """x_t = t * noise + (1 - t) * actions."""
    t = _bcast(t, actions)
    return t * noise + (1 - t) * actions


def target_velocity(noise: Tensor, actions: Tensor) -> Tensor:
    """u = dx_t/dt = noise - actions (constant along the straight path)."""
    return noise - actions


def flow_loss(v_pred: Tensor, noise: Tensor, actions: Tensor, mask: Tensor | None = None) -> Tensor:
    """MSE between predicted and target velocity, averaged over batch, horizon and dims.

    mask: optional bool [B, H] (valid steps, e.g. not past the episode end) or [B, H, D].
    """
    err = (v_pred - target_velocity(noise, actions)).pow(2)
    if mask is None:
        return err.mean()
    mask = mask.to(err.dtype)
    if mask.ndim == err.ndim - 1:
        mask = mask.unsqueeze(-1).expand_as(err)
    return (err * mask).sum() / mask.sum().clamp_min(1.0)


def euler_schedule(num_steps: int = 10) -> tuple[Tensor, Tensor]:
    """The times euler_sample evaluates the velocity at ([num_steps] float32) and its step dt (float32 scalar).

    Mirrors openpi's loop exactly (dt = -1/num_steps, run while t >= -dt/2), so there are exactly num_steps times.
    Like openpi, t accumulates in float32: accumulating in float64 instead moves t by up to 1 ulp, which the
    high-frequency time embedding turns into ~1e-4 differences in the sampled actions. Computed on the CPU (no
    device syncs in the loop condition); known ahead, so a model can precompute its time conditioning for all steps.
    """
    dt = torch.tensor(-1.0 / num_steps, dtype=torch.float32)
    t, times = torch.tensor(1.0, dtype=torch.float32), []
    while t >= -dt / 2:
        times.append(t)
        t = t + dt
    return torch.stack(times), dt


def euler_sample(velocity_fn: Callable[[Tensor, Tensor], Tensor], noise: Tensor, num_steps: int = 10,
                 inpaint: Inpainting | None = None) -> Tensor:
    """Integrate dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data) with fixed Euler steps (euler_schedule).

    velocity_fn(x_t [B, H, D], t [B]) -> v [B, H, D]. With an `Inpainting`, every velocity is guided towards
    inpaint.target (real-time chunking, see guided_velocity); velocity_fn must then be differentiable in x_t.
    With a `PrefixInpainting`, the prefix is set to its target before every step and at the end, and velocity_fn is
    called with per-action times t [B, H] (0 on the prefix), as in training (training_prefix).
    """
    times, dt = euler_schedule(num_steps)
    x, dt = noise, dt.to(noise.device)
    hard = isinstance(inpaint, PrefixInpainting)
    keep = inpaint.prefix.to(x.device)[..., None] if hard else None
    for t in times.to(noise.device):
        t_batch = t.to(x.dtype).repeat(x.shape[0])
        if hard:
            x = torch.where(keep, inpaint.target.to(x), x)
            v = velocity_fn(x, prefix_times(t_batch, inpaint.prefix.to(x.device)))
        elif inpaint is None:
            v = velocity_fn(x, t_batch)
        else:
            v = guided_velocity(velocity_fn, x, t_batch, inpaint)
        x = x + dt * v
    return torch.where(keep, inpaint.target.to(x), x) if hard else x


# -- real-time chunking (RTC, arXiv 2506.07339; FACTS.md §8) ----------------------------------------------------------
@dataclass(frozen=True)
class Inpainting:
    """Make a new chunk agree with actions that are already committed (the previous chunk, model space).

    target [B, H, D]: what the chunk should match; weights broadcastable to it ([H, 1] from rtc_weights):
    1 where the actions will already have been executed when the chunk arrives, decaying to 0 where the
    previous chunk ends. max_guidance is the paper's beta, the cap on the guidance weight.
    """

    target: Tensor
    weights: Tensor
    max_guidance: float = 5.0


def rtc_weights(horizon: int, frozen: int, overlap: int) -> Tensor:
    """The soft inpainting mask [horizon, 1]: 1 for the first `frozen` steps (executed before the chunk
    arrives), then c (e^c - 1) / (e - 1) with c falling linearly towards 0 at step `overlap` (where the
    previous chunk runs out; the paper's H - s), and 0 from there on.
    """
    if not 0 <= frozen <= overlap <= horizon:
        raise ValueError(f"need 0 <= frozen ({frozen}) <= overlap ({overlap}) <= horizon ({horizon})")
    i = torch.arange(horizon, dtype=torch.float32)
    c = ((overlap - i) / (overlap - frozen + 1)).clamp(0.0, 1.0)
    w = c * torch.expm1(c) / math.expm1(1.0)
    w = torch.where(i < frozen, torch.ones_like(w), w)
    return torch.where(i >= overlap, torch.zeros_like(w), w)[:, None]


def guided_velocity(velocity_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor,
                    inpaint: Inpainting) -> Tensor:
    """RTC's pseudo-inverse guidance, in this file's convention (t = 1 noise; the paper's tau is 1 - t).

    The model's estimate of the clean chunk is x0 = x - t v. The guidance pulls x0 towards the target where the
    weights say so: v_guided = v - k J^T (W * (target - x0)), J = d x0 / d x (one vector-Jacobian product), with
    k = min(beta, (t^2 + (1 - t)^2) / (t (1 - t))), the paper's min(beta, (1 - tau) / (tau r^2)).
    """
    with torch.enable_grad():
        x_in = x.detach().requires_grad_(True)
        v = velocity_fn(x_in, t)
        tb = _bcast(t, x)
        x0 = x_in - tb * v
        err = inpaint.weights.to(x) * (inpaint.target.to(x) - x0)
        (vjp,) = torch.autograd.grad(x0, x_in, grad_outputs=err.detach())
    tt = tb.float()
    k = ((tt ** 2 + (1 - tt) ** 2) / (tt * (1 - tt)).clamp_min(1e-12)).clamp(max=inpaint.max_guidance)
    return (v.detach() - k.to(x.dtype) * vjp).to(x.dtype)


# -- training-time RTC (arXiv 2512.05964; FACTS.md §13) ------------------------------------------------------------
@dataclass(frozen=True)
class PrefixInpainting:
    """Training-time RTC at inference: prefix [B, H] bool marks the actions given exactly (those that will already
    have been executed when the chunk arrives), target [B, H, D] holds them (model space).
    """

    target: Tensor
    prefix: Tensor

    @classmethod
    def first(cls, target: Tensor, length: int) -> "PrefixInpainting":
        """The first `length` actions of every chunk in `target` are given."""
        b, h = target.shape[:2]
        if not 0 <= length <= h:
            raise ValueError(f"prefix length {length} outside [0, {h}]")
        return cls(target, (torch.arange(h, device=target.device) < length).expand(b, h))


def training_prefix(batch: int, horizon: int, max_delay: int, generator: torch.Generator | None = None) -> Tensor:
    """[B, H] bool: per sample a delay d uniform in {0, ..., max_delay}; its first d actions are the given prefix."""
    if not 0 <= max_delay < horizon:
        raise ValueError(f"max_delay {max_delay} must be in [0, horizon {horizon})")
    d = torch.randint(0, max_delay + 1, (batch,), generator=generator)
    return torch.arange(horizon)[None] < d[:, None]


def prefix_times(t: Tensor, prefix: Tensor) -> Tensor:
    """Per-action flow times [B, H]: 0 (data, given clean) on the prefix, the sample's t elsewhere."""
    return torch.where(prefix, torch.zeros((), dtype=t.dtype, device=t.device), t[:, None])


def sinusoidal_time_embedding(t: Tensor, width: int, min_period: float = 4e-3, max_period: float = 4.0) -> Tensor:
    """[sin(2π t / p), cos(2π t / p)] for `width // 2` periods p geometric in [min_period, max_period].

    t: [B] -> [B, width]; [B, H] (per-action times) -> [B, H, width].
    """
    if width % 2:
        raise ValueError(f"time embedding width must be even, got {width}")
    fraction = torch.linspace(0.0, 1.0, width // 2, dtype=torch.float64, device=t.device)
    period = min_period * (max_period / min_period) ** fraction
    x = t.to(torch.float64)[..., None] * (2 * math.pi / period)
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1).to(t.dtype if t.is_floating_point() else torch.float32)
