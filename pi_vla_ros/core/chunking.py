"""When the policy node asks for the next action chunk.

A chunk of H actions spaced ``dt`` apart starts at its observation stamp. We want to execute
``execute_steps`` (N) of them and have the next chunk ready exactly then, so inference starts
``d`` steps earlier, where d is the inference delay in steps estimated like RTC does (FACTS §8):
the max over the last few measured latencies, rounded up, plus a safety margin.
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
        self.current_stamp: float | None = None   # stamp of the chunk being executed
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
        if self.current_stamp is None:
            return True
        steps_done = (now - self.current_stamp) / self.config.dt
        return steps_done >= self.config.execute_steps - self.lead_steps() - 1e-6

    def on_chunk(self, stamp: float, latency_s: float) -> None:
        self.current_stamp = stamp
        self._latencies.append(latency_s)
        self.chunks += 1
