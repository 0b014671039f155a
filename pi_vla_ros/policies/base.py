"""The policy interface the policy node talks to. ROS-free, numpy in and out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Observation:
    images: dict[str, np.ndarray]   # profile camera name -> HxWx3 uint8 RGB (any size)
    state: np.ndarray               # float32 [state_dim], joint positions in the profile's joint order
    prompt: str                     # current language conditioning
    stamp: float                    # seconds (ROS time) the observation was taken


@dataclass(frozen=True)
class ActionChunk:
    actions: np.ndarray             # float32 [H, action_dim], absolute targets in the profile's action layout
    dt: float                       # seconds between consecutive actions
    stamp: float                    # time actions[0] applies to (the observation stamp)
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyMetadata:
    name: str
    action_dim: int
    horizon: int
    dt: float
    cameras: tuple[str, ...]


class Policy(Protocol):
    metadata: PolicyMetadata

    def infer(self, obs: Observation) -> ActionChunk: ...

    def reset(self) -> None: ...
