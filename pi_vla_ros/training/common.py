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

"""Helpers shared by the trainers (training/trainer.py, training/recap.py): precision, registry configs with
overrides, loss plots. Imports nothing else of training/, so both trainers can use it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_bf16() else None


def policy_config(name: str, overrides: dict | None = None):
    """The registry config ``name`` with ``overrides`` applied ("a.b" keys reach into nested dataclasses)."""
    from pi_vla_ros.policies.registry import get_config

    config = get_config(name)
    nested: dict[str, dict] = {}
    flat = {}
    for key, value in (overrides or {}).items():
        head, dot, rest = key.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[key] = value
    for head, sub in nested.items():
        flat[head] = dataclasses.replace(getattr(config, head), **sub)
    return dataclasses.replace(config, **flat) if flat else config


def plot_loss(history, path: Path, title: str = "", terms: dict[str, list] | None = None,
              ylabel: str = "flow-matching loss") -> None:
    """The training loss (raw and smoothed) against steps, as a PNG; ``terms`` (name -> [(step, value)]) adds
    each loss term's smoothed curve (the π0.5 recipe's ce / flow parts).
    """
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def smoothed(pairs):
        steps, values = np.array([s for s, _ in pairs]), np.array([v for _, v in pairs])
        k = max(1, len(values) // 50)
        return steps, values, steps[k - 1:], np.convolve(values, np.ones(k) / k, mode="valid"), k

    steps, loss, s_steps, smooth, k = smoothed(history)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, loss, alpha=0.3, lw=0.8, label="loss")
    ax.plot(s_steps, smooth, lw=1.8, label=f"mean of {k}")
    for name, pairs in (terms or {}).items():
        if pairs and name != "loss":
            ax.plot(*smoothed(pairs)[2:4], lw=1.2, ls="--", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel if not terms else "loss and its terms")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
