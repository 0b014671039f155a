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

"""When the policy node asks for the next action chunk.

A chunk of H actions spaced ``dt`` apart starts at its observation stamp and takes over from the
previous one when it arrives. We want each chunk to drive the robot for ``execute_steps`` (N)
actions, so the next inference starts ``d`` steps before the N-th action after the arrival, where d
is the inference delay in steps estimated like RTC does (FACTS §8): the max over the last few
measured latencies, rounded up, plus a safety margin. The chunk must still cover the handover:
observation age + latency + N steps must stay below H (the executor holds otherwise, and says so).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkingConfig:
    horizon: int = 50
    execute_steps: int = 25          # N of H actions executed before the next chunk takes over
    dt: float = 0.02                 # seconds between actions in a chunk
    margin_steps: int = 2            # extra lead so jitter in latency never starves the executor
    latency_window: int = 10         # how many recent latencies the delay estimate looks at
    initial_latency_s: float = 0.2   # delay assumed before anything was measured

    def __post_init__(self):
        if not 0 < self.execute_steps <= self.horizon:
            raise ValueError(f"execute_steps must be in 1..horizon ({self.horizon}), got {self.execute_steps}")


class ChunkScheduler:

    def __init__(self, config: ChunkingConfig):
        self.config = config
        self._latencies: deque[float] = deque(maxlen=config.latency_window)
        self.current_arrival: float | None = None   # when the chunk being executed took over
        self.chunks = 0

    def delay_steps(self) -> int:
        latency = max(self._latencies) if self._latencies else self.config.initial_latency_s
        return math.ceil(latency / self.config.dt - 1e-9)

    def lead_steps(self) -> int:
        """How many steps before the N-th action the next inference starts (at most N)."""
        return min(self.config.execute_steps, self.delay_steps() + self.config.margin_steps)

    def should_request(self, now: float, in_flight: bool) -> bool:
        if in_flight:
            return False
        if self.current_arrival is None:
            return True
        steps_done = (now - self.current_arrival) / self.config.dt
        return steps_done >= self.config.execute_steps - self.lead_steps() - 1e-6

    def on_chunk(self, arrival: float, latency_s: float) -> None:
        self.current_arrival = arrival
        self._latencies.append(latency_s)
        self.chunks += 1
