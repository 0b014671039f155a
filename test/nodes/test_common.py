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

"""Node helpers that need no graph: the bounded log behind reports."""

import pytest

from pi_vla_ros.nodes.common import RecentLog


def test_recent_log_keeps_absolute_indices_and_bounded_memory():
    log = RecentLog(keep=3)
    for i in range(10):
        log.append(i)
    assert len(log) == 10 and list(log) == [7, 8, 9]        # trimmed to `keep` whenever it holds a tenth more
    assert log[-1] == 9 and log[9] == 9 and log[8:] == [8, 9] and log[10:] == []
    assert log[0:10][-1] == 9 and bool(log)
    with pytest.raises(IndexError, match="dropped"):
        log[0]
    assert not RecentLog()
