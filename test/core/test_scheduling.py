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

"""Thread scheduling: raising threads to SCHED_FIFO, and putting every thread's scheduling back."""

import os
import threading

from pi_vla_ros.core import scheduling
from pi_vla_ros.core.scheduling import realtime_priority, scheduling_kept


def test_realtime_priority_raises_the_threads_asked_for_and_says_why_when_refused(monkeypatch):
    calls = []
    monkeypatch.setattr(scheduling.os, "sched_setscheduler", lambda tid, policy, param: calls.append(
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
    monkeypatch.setattr(scheduling.os, "sched_setscheduler", refuse)
    assert realtime_priority(50) == "Operation not permitted"


def test_scheduling_kept_puts_threads_back_and_new_threads_to_normal(monkeypatch):
    state = {}        # tid -> (policy, priority): a stand-in for the kernel's
    monkeypatch.setattr(scheduling.os, "sched_getscheduler", lambda tid: state.get(tid, (os.SCHED_OTHER, 0))[0])
    monkeypatch.setattr(scheduling.os, "sched_getparam",
                        lambda tid: os.sched_param(state.get(tid, (os.SCHED_OTHER, 0))[1]))
    monkeypatch.setattr(scheduling.os, "sched_setscheduler",
                        lambda tid, policy, param: state.__setitem__(tid, (policy, param.sched_priority)))
    me = threading.get_native_id()
    state[me] = (os.SCHED_FIFO, 50)                  # raised before the block: stays so
    done = threading.Event()
    with scheduling_kept():
        state[me] = (os.SCHED_FIFO, 99)              # what libsvtav1 does to its caller as root
        worker = threading.Thread(target=done.wait)  # and to the workers it starts
        worker.start()
        state[worker.native_id] = (os.SCHED_FIFO, 99)
    try:
        assert state[me] == (os.SCHED_FIFO, 50) and state[worker.native_id] == (os.SCHED_OTHER, 0)
    finally:
        done.set()
        worker.join()
