"""Flow matching, openpi's convention: t = 1 is pure noise, t = 0 is data (FACTS.md §1).

This is the only place the convention lives; every model (π0, π0.5, the π0.6 expert) imports it.
Shapes: actions / noise / x_t / velocities are [B, H, D]; t is [B].
"""

from __future__ import annotations

import math
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
    return t.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


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


def euler_sample(velocity_fn: Callable[[Tensor, Tensor], Tensor], noise: Tensor, num_steps: int = 10) -> Tensor:
    """Integrate dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data) with fixed Euler steps (euler_schedule).

    velocity_fn(x_t [B, H, D], t [B]) -> v [B, H, D].
    """
    times, dt = euler_schedule(num_steps)
    x, dt = noise, dt.to(noise.device)
    for t in times.to(noise.device):
        x = x + dt * velocity_fn(x, t.to(x.dtype).repeat(x.shape[0]))
    return x


def sinusoidal_time_embedding(t: Tensor, width: int, min_period: float = 4e-3, max_period: float = 4.0) -> Tensor:
    """[sin(2π t / p), cos(2π t / p)] for `width // 2` periods p geometric in [min_period, max_period]."""
    if width % 2:
        raise ValueError(f"time embedding width must be even, got {width}")
    fraction = torch.linspace(0.0, 1.0, width // 2, dtype=torch.float64, device=t.device)
    period = min_period * (max_period / min_period) ** fraction
    x = t.to(torch.float64)[:, None] * (2 * math.pi / period)[None, :]
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1).to(t.dtype if t.is_floating_point() else torch.float32)
