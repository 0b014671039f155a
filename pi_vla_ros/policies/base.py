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

"""The policy interface the policy node talks to. ROS-free, numpy in and out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class CommittedActions:
    """Real-time chunking: the actions the next chunk must agree with, on that chunk's own time grid.

    actions[i] is what the robot is (or will be) commanded at stamp + i * dt by the chunk executing now; the first
    `frozen` of them will already have run when the new chunk arrives, and the executing chunk covers only the
    first `overlap` steps (rows past it repeat its last action and carry no weight).
    """

    actions: np.ndarray             # float32 [H, action_dim], absolute, in the profile's action layout
    frozen: int
    overlap: int


@dataclass(frozen=True)
class Observation:
    images: dict[str, np.ndarray]   # profile camera name -> HxWx3 uint8 RGB (any size)
    state: np.ndarray               # float32 [state_dim], joint positions in the profile's joint order
    prompt: str                     # current language conditioning
    stamp: float                    # seconds (ROS time) the observation was taken
    committed: CommittedActions | None = None   # set by the policy node when real-time chunking is on
    subtask: str | None = None      # hierarchical policies: a person's subtask instruction, used as given
    subtask_choices: tuple[str, ...] = ()   # hierarchical: the task's own steps; the prediction is one of them


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
