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

"""Strict checkpoint I/O: safetensors only (no pickles), and never a silent random-weight fallback.

What loads is checked: JSON config values against their dataclass field types (config_kwargs), every weight
finite (load_strict); the policies check their norm stats finite. Each problem is one CheckpointError naming
the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
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


def config_kwargs(cls, values: dict, prefix: str = "") -> dict:
    """Keyword arguments for the dataclass `cls` from JSON `values`, each checked against its field's annotation.

    Checked: int, finite float, bool, str, None, tuples of these (from JSON lists), nested dataclasses built
    likewise. An unknown field or a value of the wrong type is a ValueError naming the field.
    """
    hints = typing.get_type_hints(cls)
    if not isinstance(values, dict):
        raise ValueError(f"config field {prefix.rstrip('.')!r} must be a JSON object ({cls.__name__}), got {values!r}"
                         if prefix else f"{cls.__name__} config must be a JSON object, got {values!r}")
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(prefix + k for k in unknown)}")
    return {k: _typed(v, hints[k], prefix + k) for k, v in values.items()}


def _typed(value, tp, name: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _typed(value, arg, name)
            except ValueError:
                pass
    elif dataclasses.is_dataclass(tp):
        return tp(**config_kwargs(tp, value, name + "."))
    elif origin is tuple and isinstance(value, (list, tuple)):
        elems = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        if len(elems) == len(value):
            return tuple(_typed(v, t, f"{name}[{i}]") for i, (v, t) in enumerate(zip(value, elems)))
    elif tp is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    elif tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif tp in (bool, str, types.NoneType) and isinstance(value, tp):
        return value
    elif origin is None and tp not in (float, int, bool, str, types.NoneType):
        return value  # a type this checker does not know: left to the dataclass
    label = getattr(tp, "__name__", None) if origin is None else None
    raise ValueError(f"config field {name!r} must be {label or tp}, got {value!r}")


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
    # corrupted bytes or a diverged run load fine and act NaN forever: refuse them here
    bad = sorted(name(k, k) for k in expected
                 if tensors[k].is_floating_point() and not torch.isfinite(tensors[k]).all())
    if bad:
        raise CheckpointError(f"{source}: non-finite values (NaN/inf) in {len(bad)} tensor(s): "
                              f"{', '.join(bad[:20])}{' ...' if len(bad) > 20 else ''}")
    module.load_state_dict(tensors, strict=False)  # strict=False only because `expected` may be a subset (VLM by path)
