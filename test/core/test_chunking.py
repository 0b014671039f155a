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

import pytest

from pi_vla_ros.core.chunking import ChunkScheduler, ChunkingConfig


def test_first_request_is_immediate_and_never_while_in_flight():
    s = ChunkScheduler(ChunkingConfig())
    assert s.should_request(0.0, in_flight=False)
    assert not s.should_request(0.0, in_flight=True)


def test_request_leads_by_estimated_delay():
    cfg = ChunkingConfig(horizon=50, execute_steps=25, dt=0.02, margin_steps=2)
    s = ChunkScheduler(cfg)
    s.on_chunk(arrival=1.0, latency_s=0.1)           # 5 steps of delay + 2 margin -> start at step 18
    assert s.lead_steps() == 7
    assert not s.should_request(1.0 + 17 * 0.02, in_flight=False)
    assert s.should_request(1.0 + 18 * 0.02, in_flight=False)


def test_delay_is_max_of_recent_latencies_and_capped():
    s = ChunkScheduler(ChunkingConfig(execute_steps=10, dt=0.02, latency_window=3))
    for lat in (0.05, 0.30, 0.04):
        s.on_chunk(0.0, lat)
    assert s.delay_steps() == 15
    assert s.lead_steps() == 10                       # never earlier than the chunk start
    for lat in (0.04, 0.04, 0.04):
        s.on_chunk(0.0, lat)
    assert s.delay_steps() == 2


def test_config_validation():
    with pytest.raises(ValueError):
        ChunkingConfig(horizon=10, execute_steps=11)
