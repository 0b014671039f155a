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

"""The node graph as one process per node, as ``ros2 launch`` starts it, for machines without launch_ros.

``pi-vla launch <robot> --sim --processes`` starts each node's console script with the launch files' parameter
layers (:func:`pi_vla_ros.graph.graph`: the parameter file, then ``-p`` overrides), over DDS. The launcher process
itself runs one plain rclpy node, :class:`GraphMonitor`, which measures the graph from the outside, as a
controller and an operator see it: command arrival times on the first controller topic (wall clock), the
executor's and policy's figures from ``/diagnostics`` and ``/pi_vla/chunk_info``, the task from ``/sim/status``.

Shutdown: SIGINT to every node (each exits 0 by itself: :func:`pi_vla_ros.nodes.common.run_node`), SIGKILL for
any still there after ``grace_s``; a node that dies early is reported with its exit code and stops the run. The
measured window starts at the first action chunk (every node up, the policy loaded); CPU seconds over it are
read from /proc for the nodes and their children (policy servers).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pi_vla_ros.core.scheduling import realtime_priority, scheduling_kept
from pi_vla_ros.graph import NodeLaunch, graph
from pi_vla_ros.nodes.common import QUIET_QOS_EVENTS_ENV
from pi_vla_ros.report import _stats_ms


def node_command(spec: NodeLaunch, extra: dict | None = None) -> list[str]:
    """argv for one node: its console script, the parameter file, then each override as ``-p name:=value``."""
    script = Path(sys.executable).parent / spec.executable          # a venv's bin/
    if not script.exists():
        found = shutil.which(spec.executable)                          # an install's lib/pi_vla_ros on PATH
        if found is None:
            raise FileNotFoundError(f"console script {spec.executable} not found next to {sys.executable} nor on "
                                    "PATH (pip install -e . or colcon build first)")
        script = Path(found)
    argv = [str(script), "--ros-args", "-r", f"__node:={spec.name}", "--params-file", str(spec.params_file)]
    for name, value in (spec.overrides | (extra or {})).items():
        argv += ["-p", f"{name}:={_yaml_scalar(value)}"]
    return argv


def _yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)        # a double-quoted YAML string: "100" stays a string, "" stays empty
    return repr(value)


class GraphProcesses:
    """Start, watch and stop the graph's node processes (``with GraphProcesses(...) as g:``)."""

    def __init__(self, robot: str, *, overrides: dict | None = None, env: dict | None = None,
                 grace_s: float = 5.0, **launch_args):
        self.specs = graph(robot, sim=True, **launch_args)
        self.grace_s = grace_s
        self.procs: dict[str, subprocess.Popen] = {}
        self.exit_codes: dict[str, int] = {}
        environment = os.environ | {QUIET_QOS_EVENTS_ENV: "1"} | (env or {})   # a simulated graph: all QoS our own
        try:
            for spec in self.specs:
                self.procs[spec.executable] = subprocess.Popen(
                    node_command(spec, (overrides or {}).get(spec.executable)), env=environment)
        except Exception:
            self.stop()
            raise

    def dead(self) -> dict[str, int]:
        """Nodes that exited on their own: name -> exit code."""
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def stop(self) -> dict[str, int]:
        """SIGINT to all, SIGKILL after the grace period; returns each node's exit code (-9: killed)."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + self.grace_s
        for name, p in self.procs.items():
            try:
                self.exit_codes[name] = p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                self.exit_codes[name] = p.wait()
        return self.exit_codes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class GraphMonitor:
    """A plain rclpy node that measures the running graph from its topics (see the module docstring)."""

    def __init__(self, profile, context=None):
        from pi_vla_ros.nodes.common import LATCHED_QOS
        from pi_vla_ros.ros import Node, msgs

        self.node = Node("pi_vla_monitor", context=context)
        ctrl = profile.controllers[0]     # the executor commands every controller on the same tick
        msg_type = {"trajectory": msgs.JointTrajectory, "position": msgs.Float64MultiArray,
                    "twist": msgs.Twist}[ctrl.interface]
        self.command_topic = topic = ctrl.topic
        self.command_wall: list[float] = []
        self.sim_time = 0.0
        self.chunks: list[dict] = []
        self.diagnostics: dict[str, dict] = {}
        self.status: dict = {}
        self.node.create_subscription(msg_type, topic, lambda m: self.command_wall.append(time.perf_counter()), 50)
        self.node.create_subscription(msgs.String, "/pi_vla/chunk_info", self._on_chunk, 10)
        self.first_chunk: tuple[float, float] | None = None   # (sim, wall) when the graph was up
        self.node.create_subscription(msgs.DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        # simulated time from the status (2 Hz) and the chunks: following /clock would wake this process 100 times
        # a second, beside the graph it measures
        self.node.create_subscription(msgs.String, "/sim/status", self._on_status, LATCHED_QOS)

    def _on_chunk(self, msg) -> None:
        self.chunks.append(json.loads(msg.data))
        self.sim_time = max(self.sim_time, self.chunks[-1]["published_at"])
        if self.first_chunk is None:
            self.first_chunk = (self.sim_time, time.perf_counter())

    def _on_status(self, msg) -> None:
        self.status = json.loads(msg.data)
        self.sim_time = max(self.sim_time, self.status.get("time", 0.0))

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = {"level": int.from_bytes(status.level, "little"),
                                             "message": status.message,
                                             **{kv.key: _json_or_str(kv.value) for kv in status.values}}

    def report(self, wall_s: float, cpu_by_node: dict | None, exit_codes: dict) -> dict:
        from pi_vla_ros.ros import middleware

        # the window measured: from the first chunk (every node up, the policy loaded) to the end
        start = self.first_chunk[1] if self.first_chunk else np.inf
        wall = np.asarray([t for t in self.command_wall if t >= start])
        n = len(wall)
        ex = self.diagnostics.get("pi_vla_executor", {})
        sim_s = self.sim_time - self.first_chunk[0] if self.first_chunk else 0.0
        cpu_s = round(sum(cpu_by_node.values()), 2) if cpu_by_node else None
        return {
            "layout": "one process per node", "wall_s": round(wall_s, 3), "sim_s": round(sim_s, 3),
            "startup_s": round(self.first_chunk[0], 3) if self.first_chunk else None,
            "executor": {
                "commands_seen": n, "topic": self.command_topic,
                "rate_hz_wall": round((n - 1) / (wall[-1] - wall[0]), 3) if n > 1 else None,
                "interval_ms_wall": _stats_ms(np.diff(wall), 50, 99),
                **{k: ex.get(k) for k in ("commands", "starvation_ticks", "watchdog_trips", "safety_clamps")},
            },
            "policy": {"chunks": len(self.chunks),
                       "inference_latency_ms": _stats_ms([c["latency_s"] for c in self.chunks], 50, 95)},
            "diagnostics": self.diagnostics, "task": self.status, "cpu_s": cpu_s, "cpu_s_by_node": cpu_by_node,
            "cpu_s_per_sim_s": round(cpu_s / sim_s, 3) if cpu_s and sim_s else None,
            "exit_codes": exit_codes, "ros": middleware(),
        }


def _cpu_of(procs: GraphProcesses) -> dict[str, float]:
    """CPU seconds used so far by each node process with its children (policy servers), from /proc."""
    return {name: cpu_seconds(p.pid) for name, p in procs.procs.items() if p.poll() is None}


def cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root``, its threads and its descendants, from /proc."""
    total, pids, seen = 0.0, [root], set()
    while pids:
        pid = pids.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue     # exited meanwhile
    return total


def _json_or_str(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value


def run(robot: str, duration_s: float, *, overrides: dict | None = None, log=print, startup_timeout_s: float = 300.0,
        monitor_priority: int = 40, **launch_args) -> dict:
    """``pi-vla launch --processes``: run the graph for ``duration_s`` of simulated time after its first chunk (all
    nodes up, the policy loaded); returns the report. CPU seconds are measured over the same window.

    The monitor listens at SCHED_FIFO ``monitor_priority`` (0: normal scheduling) where it may, as the controller
    manager it stands in for would: otherwise its own wake-ups behind the policy's inference on a loaded machine
    enter the command intervals it reports (p99 +1 ms here).
    """
    with scheduling_kept():     # the monitor's real-time threads do not outlive the run
        return _run(robot, duration_s, overrides=overrides, log=log, startup_timeout_s=startup_timeout_s,
                    monitor_priority=monitor_priority, **launch_args)


def _run(robot, duration_s, *, overrides, log, startup_timeout_s, monitor_priority, **launch_args) -> dict:
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.ros import SingleThreadedExecutor, rclpy

    profile = load_profile(launch_args.get("profile") or robot)
    rclpy.init()
    monitor = GraphMonitor(profile)
    executor = SingleThreadedExecutor()
    executor.add_node(monitor.node)
    stop = {"signal": None}
    previous = {s: signal.signal(s, lambda num, _f: stop.update(signal=num)) for s in (signal.SIGINT, signal.SIGTERM)}
    wall0 = time.perf_counter()
    next_print = 0.0
    try:
        with GraphProcesses(robot, overrides=overrides, **launch_args) as procs:
            refused = realtime_priority(monitor_priority, whole_process=True)   # after the nodes start: not theirs
            cpu0 = None
            while stop["signal"] is None and not procs.dead():
                executor.spin_once(timeout_sec=0.1)
                if monitor.first_chunk is None:
                    if time.perf_counter() - wall0 > startup_timeout_s:
                        log(f"pi-vla: no action chunk within {startup_timeout_s} s")
                        break
                    continue
                if cpu0 is None:
                    cpu0 = _cpu_of(procs)
                elapsed = monitor.sim_time - monitor.first_chunk[0]
                if elapsed >= next_print:
                    log(f"  t={elapsed:6.2f} s after the first chunk  commands seen={len(monitor.command_wall)}  "
                        f"chunks={len(monitor.chunks)}")
                    next_print += max(1.0, duration_s / 10)
                if elapsed >= duration_s:
                    break
            cpu = ({k: round(v - cpu0.get(k, 0.0), 2) for k, v in _cpu_of(procs).items()}
                   if cpu0 is not None else None)
            wall = time.perf_counter() - wall0
            early = procs.dead()
            codes = procs.stop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        monitor.node.destroy_node()
        rclpy.try_shutdown()
    report = monitor.report(wall, cpu, codes)
    report["monitor_priority"] = f"normal scheduling ({refused})" if refused else f"SCHED_FIFO {monitor_priority}" \
        if monitor_priority else "normal scheduling"
    report["stopped_by"] = (signal.Signals(stop["signal"]).name if stop["signal"] else
                            f"node exited early: {early}" if early else "duration")
    return report
