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

"""Thread scheduling for real-time loops: raising threads to SCHED_FIFO, and putting scheduling back."""

from __future__ import annotations

import contextlib
import os


def _thread_ids() -> list[int]:
    return [int(t) for t in os.listdir("/proc/self/task")] if os.path.isdir("/proc/self/task") else []


@contextlib.contextmanager
def scheduling_kept():
    """Every thread of this process gets back the scheduling it had before the block; threads started inside it
    get normal scheduling. For code that raises threads and should not leave them raised: a real-time run
    inside a longer-lived process, or libsvtav1 (PyAV's AV1 encoder), which run as root puts the calling thread
    and its workers at SCHED_FIFO 99, above the robot's control loop.
    """
    if not hasattr(os, "sched_getscheduler"):
        yield
        return
    before = {}
    for tid in _thread_ids():
        with contextlib.suppress(OSError):
            before[tid] = (os.sched_getscheduler(tid), os.sched_getparam(tid))
    try:
        yield
    finally:
        for tid in _thread_ids():
            policy, param = before.get(tid, (os.SCHED_OTHER, os.sched_param(0)))
            with contextlib.suppress(OSError):
                if (os.sched_getscheduler(tid), os.sched_getparam(tid)) != (policy, param):
                    os.sched_setscheduler(tid, policy, param)


def realtime_priority(priority: int, *, whole_process: bool = False, keep_normal: tuple[int, ...] = ()) -> str | None:
    """Put the calling thread (``whole_process``: every thread of this process so far, but the native thread ids in
    ``keep_normal``) under SCHED_FIFO at ``priority`` (1-99; 0 leaves them alone), as ros2_control's
    controller_manager does its update loop. The whole process includes the middleware's receive threads: each
    message on the way to a real-time callback passes one, and at normal priority it waits behind inference and
    rendering (p99 command interval 24.8 -> 23.0 ms here). Processes started later get normal scheduling.
    Returns why it was refused (no CAP_SYS_NICE and no rtprio limit, e.g. a user outside the ``realtime`` group),
    else None: the caller warns once and runs with normal scheduling.
    """
    if not priority:
        return None
    threads = _thread_ids() if whole_process else [0]
    for tid in threads:
        if tid in keep_normal:
            continue
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
        except ProcessLookupError:
            continue     # a thread that ended meanwhile
        except OSError as exc:
            return exc.strerror
    return None
