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

"""Node helpers that need no graph: the bounded log behind reports, real-time scheduling."""

import os
import threading

import pytest

from pi_vla_ros.nodes import common
from pi_vla_ros.nodes.common import RecentLog, realtime_priority


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


def test_realtime_priority_raises_the_threads_asked_for_and_says_why_when_refused(monkeypatch):
    calls = []
    monkeypatch.setattr(common.os, "sched_setscheduler", lambda tid, policy, param: calls.append(
        (tid, policy, param.sched_priority)))
    assert realtime_priority(0, whole_process=True) is None and calls == []        # 0: scheduling left alone
    assert realtime_priority(50) is None
    assert calls == [(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, 50)]             # this thread; children normal
    calls.clear()
    done = threading.Event()
    renderer = threading.Thread(target=done.wait)
    renderer.start()
    try:
        assert realtime_priority(40, whole_process=True, keep_normal=(renderer.native_id,)) is None
        raised = {tid for tid, _, _ in calls}
        assert threading.get_native_id() in raised and renderer.native_id not in raised
        assert raised == {int(t) for t in os.listdir("/proc/self/task")} - {renderer.native_id}
    finally:
        done.set()
        renderer.join()

    def refuse(*_):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(common.os, "sched_setscheduler", refuse)
    assert realtime_priority(50) == "Operation not permitted"
