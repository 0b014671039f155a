"""Strict checkpoint I/O: safetensors only (no pickles), and never a silent random-weight fallback."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not match the model it is loaded into."""


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file missing: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt JSON in {path}: {exc}") from exc


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> None:
    # contiguous clones: safetensors refuses views and shared storage
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path), metadata=metadata)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file missing: {path}")
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad headers/truncation
        raise CheckpointError(f"corrupt safetensors file {path}: {exc}") from exc


def load_strict(module: torch.nn.Module, tensors: dict[str, torch.Tensor], expected: list[str], source: str,
                names: dict[str, str] | None = None) -> None:
    """Copy `tensors` into `module`; the keys must be exactly `expected` with the module's shapes.

    All problems are collected and reported in one CheckpointError naming every offending tensor
    (by `names[key]` where given: the checkpoint's own name for a model key it was renamed from).
    """
    own, name = module.state_dict(), (names or {}).get
    missing = sorted(name(k, k) for k in set(expected) - set(tensors))
    unexpected = sorted(name(k, k) for k in set(tensors) - set(expected))
    misshaped = sorted(f"{name(k, k)}: checkpoint {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}"
                       for k in set(expected) & set(tensors) if tensors[k].shape != own[k].shape)
    if missing or unexpected or misshaped:
        groups = (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
        parts = [f"{name} ({len(keys)}): {', '.join(keys[:20])}{' ...' if len(keys) > 20 else ''}"
                 for name, keys in groups if keys]
        raise CheckpointError(f"{source} does not match the model: " + "; ".join(parts))
    module.load_state_dict(tensors, strict=False)  # strict=False only because `expected` may be a subset (VLM by path)
