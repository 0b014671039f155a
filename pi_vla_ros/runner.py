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

"""Runs the node graph in one process on real rclpy: ``pi-vla launch``, tests, data collection and evaluation.

The nodes are the ones ``ros2 launch`` starts (built from :func:`pi_vla_ros.graph.graph`), in one rclpy context
of the runner's own, on one SingleThreadedExecutor, driven tick by tick: the simulator has no timer
(``lockstep``); the runner steps it (it publishes ``/clock``, joint states, cameras) and then executes every
callback that became ready, pass after pass, until a pass finds none. Fast DDS delivers in-process messages
synchronously inside ``publish()``, so "none left" is exact: every message of a tick is handled within that tick,
and timers on ROS time fire at exactly their simulated instants (their /clock update and their readiness are seen
in consecutive passes). Two paces:

- Lockstep (``realtime=False``: tests, ``pi-vla collect``, ``pi-vla eval``): as fast as the CPU allows, and
  deterministic: cameras render inline, inference results are handed over after a fixed simulated latency. The
  context discovers nothing outside the process (``ROS_AUTOMATIC_DISCOVERY_RANGE=OFF``), so concurrent runs and
  tests never hear each other, and the nodes skip the parameter and lifecycle services nobody could call.
- Real time (``pi-vla launch``): each tick starts on the steady clock's 10 ms grid; cameras render (and publish)
  in a worker thread, inference runs in a policy-server process, and discovery is the machine's default, so
  ``ros2 topic echo`` from another terminal sees the graph (its messages are handled at the next tick).
  Waking the executor once per tick instead of once per message is what keeps rclpy's per-wake-up wait-set
  rebuild affordable on two cores (measured in the README).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time

from pi_vla_ros.core.scheduling import realtime_priority
from pi_vla_ros.graph import graph, node_class
from pi_vla_ros.processes import cpu_seconds
from pi_vla_ros.report import build_report
from pi_vla_ros.ros import Context, Parameter, SingleThreadedExecutor, TimeoutException, rclpy


@contextlib.contextmanager
def _environment(**values):
    """Environment variables read by rcl/rmw when a context starts (discovery range), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_RUN_IDS = itertools.count()


def isolated_context() -> Context:
    """A fresh, initialized rclpy context that discovers nothing outside this process (lockstep runs, tests)."""
    context = Context()
    with _environment(ROS_AUTOMATIC_DISCOVERY_RANGE="OFF"):
        rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    return context


def drain(executor) -> int:
    """Lockstep: run ready callbacks until a whole wait pass finds none; returns how many ran."""
    total = ran = 0
    while True:
        try:
            handler, _, _ = executor.wait_for_ready_callbacks(timeout_sec=0)
        except TimeoutException:   # the end of one pass over the wait set
            if ran == 0:
                return total
            total, ran = total + ran, 0
            continue
        handler()
        if handler.exception() is not None:
            raise handler.exception()
        ran += 1


class GraphRunner:
    def __init__(self, robot: str, *, realtime: bool = True, overrides: dict | None = None,
                 instances: dict | None = None, skip: tuple[str, ...] = (), **launch_args):
        """``overrides``: executable -> extra parameters; ``instances``: executable -> constructor kwargs
        (e.g. ``{"pi_vla_policy": {"policy": obj}}`` to hand an in-memory policy to the node); ``skip``:
        executables not to start (data collection runs without the policy and the executor).
        """
        self.realtime = realtime
        self.nodes: dict = {}
        self._scheduling = None     # (policy, param) of this thread before a real-time run raised it
        self._run_id = next(_RUN_IDS)
        self._next_tick = 0.0
        if realtime:   # discoverable: `ros2 topic echo` from another terminal sees the graph
            self.context = Context()
            rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
            sys.setswitchinterval(0.001)  # hand the GIL over quickly: the 50 Hz loop must not wait 5 ms
        else:
            self.context = isolated_context()
        overrides = overrides or {}
        instances = instances or {}
        self.specs = [s for s in graph(robot, sim=True, **launch_args) if s.executable not in skip]
        self.executor = SingleThreadedExecutor(context=self.context)
        try:
            for spec in self.specs:
                params = spec.parameters()
                kwargs = self.node_options(spec.executable)
                if spec.executable == "pi_vla_sim":
                    params["lockstep"] = True
                if not realtime:  # threads would make simulated time racy; services nobody can call cost wake-ups
                    if spec.executable == "pi_vla_policy":
                        params["inference_mode"] = "simulated"
                    if spec.executable == "pi_vla_sim":
                        params["render_in_thread"] = False
                params |= overrides.get(spec.executable, {})
                kwargs["parameter_overrides"] = [Parameter(k, value=v) for k, v in params.items()]
                self.add_node(node_class(spec.executable)(**kwargs, **instances.get(spec.executable, {})),
                              spec.executable)
        except Exception:
            self.close()
            raise
        self.sim = self.nodes["pi_vla_sim"]
        if realtime and "pi_vla_executor" in self.nodes:
            self._raise_priority(self.nodes["pi_vla_executor"].p.thread_priority)
        self._wall_start = time.perf_counter()
        self._cpu_start = cpu_seconds(os.getpid())   # this process and its policy server, after start-up

    def _raise_priority(self, priority: int) -> None:
        """This thread steps the simulator and runs every node's callbacks, the control loop's among them: give it
        the executor's real-time priority (``thread_priority``) until close(), as the control loop has in a process
        of its own. The camera renderer and the policy server started above keep normal scheduling; inference
        runs there, so nothing slow runs at this priority.
        """
        before = (os.sched_getscheduler(0), os.sched_getparam(0))
        refused = realtime_priority(priority)
        if refused:
            self.nodes["pi_vla_executor"].get_logger().warning(
                f"thread_priority {priority}: SCHED_FIFO refused ({refused}); the graph runs with normal scheduling")
        elif priority:
            self._scheduling = before

    def node_options(self, executable: str = "") -> dict:
        """Constructor options for a node of this run (``executable``: which graph node, "" for plain rclpy nodes):
        its context, no QoS-event handlers for pi_vla nodes (:class:`~pi_vla_ros.nodes.common.GraphNode`), and in
        lockstep no parameter or lifecycle services (no other process can reach them, and each would be one more
        entity in every wait pass).
        """
        options = {"context": self.context}
        if not self.realtime:
            # rcl registers one /rosout publisher per logger name and process: a namespace per lockstep run keeps
            # two runs in one process (tests, tools) from sharing, and then losing, their nodes' log output
            options["namespace"] = f"/lockstep_{self._run_id}"
        if executable:
            options["quiet_qos_events"] = True   # all QoS in here are the graph's own: see GraphNode
        if self.realtime:
            return options
        managed = executable in ("pi_vla_policy", "pi_vla_executor")
        return options | {"start_parameter_services": False} | (
            {"enable_communication_interface": False} if managed else {})

    def node(self, executable: str):
        return self.nodes[executable]

    def add_node(self, node, name: str | None = None):
        """Add a node built outside the graph description (an expert teleoperator, a recorder, a test's tap) to
        this run. Build it with ``**runner.node_options()``.
        """
        self.nodes[name or node.get_name()] = node
        self.executor.add_node(node)
        return node

    def set_log_level(self, severity: int) -> None:
        """Every node's log level (LoggingSeverity values: 10 DEBUG, 20 INFO, 30 WARN, 40 ERROR)."""
        for node in self.nodes.values():
            node.get_logger().set_level(severity)

    def reset_episode(self, seed: int, target_object: str | None = None) -> str:
        """Start a new episode in place (lockstep): the simulator re-places the scene from ``seed`` (time runs on),
        then every node that has a ``reset_episode()`` forgets its episode state. Nothing of the last episode is
        still in flight: each lockstep tick ends with every callback run. Returns the new instruction.
        """
        if self.realtime:
            raise RuntimeError("reset_episode needs a lockstep run: in real time messages may still be in flight")
        instruction = self.sim.reset_episode(seed, target_object)
        for name, node in self.nodes.items():
            if name != "pi_vla_sim" and hasattr(node, "reset_episode"):
                node.reset_episode()
        return instruction

    def sim_time(self) -> float:
        return self.sim.sim.time

    def spin_until(self, sim_time_s: float) -> None:
        self.drain()
        period = self.sim.p.step_period_s / self.sim.p.real_time_factor
        while self.sim_time() < sim_time_s - 1e-9:
            if self.realtime:   # the next tick on the steady clock's grid; a late tick runs at once, never twice
                now = time.monotonic()
                self._next_tick = max(self._next_tick + period, now) if self._next_tick else now
                time.sleep(max(0.0, self._next_tick - now))
            self.sim.step()
            self.drain()

    def spin_for(self, seconds: float) -> None:
        self.spin_until(self.sim_time() + seconds)

    def drain(self) -> int:
        return drain(self.executor)

    def report(self) -> dict:
        from pi_vla_ros.ros import middleware

        report = build_report(self.nodes, wall_s=time.perf_counter() - self._wall_start)
        cpu = cpu_seconds(os.getpid()) - self._cpu_start
        sim_s = report.get("sim_s") or 0.0
        return report | {"ros": middleware(), "layout": "one process", "cpu_s": round(cpu, 2),
                         "cpu_s_per_sim_s": round(cpu / sim_s, 3) if sim_s else None}

    def close(self) -> None:
        """Destroy every node (threads, policy servers, files released), then shut the context down."""
        for node in reversed(list(self.nodes.values())):
            with contextlib.suppress(Exception):
                node.destroy_node()
        self.nodes.clear()
        if self._scheduling is not None:    # the caller's thread goes on with its own scheduling
            os.sched_setscheduler(0, self._scheduling[0], self._scheduling[1])
            self._scheduling = None
        with contextlib.suppress(Exception):
            self.executor.shutdown(timeout_sec=1)
        self.context.try_shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
