"""Runs the node graph in one process: ``pi-vla launch``, tests, data collection and evaluation.

Two modes. Real time (default): a multi-threaded executor, the simulator steps on the wall clock and
inference runs in a worker thread, as on a robot. Fast (``realtime=False``, no ROS 2 needed): the
seam's virtual clock and a single-threaded deterministic executor; inference results are handed
over after a fixed simulated latency. Both build the graph from :func:`pi_vla_ros.graph.graph`.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from pi_vla_ros.graph import graph, node_class
from pi_vla_ros.report import build_report
from pi_vla_ros.ros import HAVE_RCLPY, MultiThreadedExecutor, Parameter, SingleThreadedExecutor, rclpy


class GraphRunner:
    def __init__(self, robot: str, *, realtime: bool = True, overrides: dict | None = None,
                 instances: dict | None = None, skip: tuple[str, ...] = (), **launch_args):
        """``overrides``: executable -> extra parameters; ``instances``: executable -> constructor kwargs
        (e.g. ``{"pi_vla_policy": {"policy": obj}}`` to hand an in-memory policy to the node); ``skip``:
        executables not to start (data collection runs without the policy and the executor)."""
        self.realtime = realtime
        self._virtual = None
        self._spin_thread: threading.Thread | None = None
        self.nodes: dict = {}
        self.executor = None
        if realtime:
            sys.setswitchinterval(0.001)  # hand the GIL over quickly: the 50 Hz loop must not wait 5 ms
        else:
            if HAVE_RCLPY:
                raise RuntimeError("fast (virtual-time) runs need the seam: set PI_VLA_FORCE_SEAM=1")
            from pi_vla_ros.ros.seam.clock import use_virtual_time

            self._virtual = use_virtual_time()
            self._virtual.__enter__()
        rclpy.init()
        overrides = overrides or {}
        instances = instances or {}
        self.specs = [s for s in graph(robot, sim=True, **launch_args) if s.executable not in skip]
        try:
            for spec in self.specs:
                params = spec.parameters()
                if not realtime:  # threads would make simulated time racy
                    if spec.executable == "pi_vla_policy":
                        params["inference_mode"] = "simulated"
                    if spec.executable == "pi_vla_sim":
                        params["render_in_thread"] = False
                params |= overrides.get(spec.executable, {})
                self.nodes[spec.executable] = node_class(spec.executable)(
                    parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
                    **instances.get(spec.executable, {}))
        except Exception:
            self.close()
            raise
        self.executor = (MultiThreadedExecutor() if realtime else SingleThreadedExecutor())
        for node in self.nodes.values():
            self.executor.add_node(node)
        self.sim = self.nodes["pi_vla_sim"]
        self._wall_start = time.perf_counter()

    def node(self, executable: str):
        return self.nodes[executable]

    def add_node(self, node, name: str | None = None):
        """Add a node built outside the graph description (an expert teleoperator, a recorder) to this run."""
        self.nodes[name or node.get_name()] = node
        self.executor.add_node(node)
        return node

    def set_log_level(self, severity: int) -> None:
        """Every node's log level (LoggingSeverity values: 10 DEBUG, 20 INFO, 30 WARN, 40 ERROR)."""
        for node in self.nodes.values():
            node.get_logger().set_level(severity)

    def reset_episode(self, seed: int, target_object: str | None = None) -> str:
        """Start a new episode in place (fast mode): messages still queued from the last one are dropped, the
        simulator re-places the scene from ``seed`` (time runs on), then every node that has a
        ``reset_episode()`` forgets its episode state. Returns the new instruction."""
        if self.realtime:
            raise RuntimeError("reset_episode needs a fast (virtual-time) run: messages in flight cannot be dropped")
        for node in self.nodes.values():
            for sub in node.subscriptions:
                sub._queue.clear()   # seam subscription queues: nothing of the last episode arrives late
        instruction = self.sim.reset_episode(seed, target_object)
        for name, node in self.nodes.items():
            if name != "pi_vla_sim" and hasattr(node, "reset_episode"):
                node.reset_episode()
        return instruction

    def sim_time(self) -> float:
        return self.sim.sim.time

    def spin_until(self, sim_time_s: float) -> None:
        if self.realtime:
            if self._spin_thread is None:
                self._spin_thread = threading.Thread(target=self.executor.spin, daemon=True)
                self._spin_thread.start()
            while self.sim_time() < sim_time_s and self._spin_thread.is_alive():
                time.sleep(0.005)
        else:
            while self.sim_time() < sim_time_s - 1e-9:
                self.executor.spin_once(timeout_sec=0)

    def spin_for(self, seconds: float) -> None:
        self.spin_until(self.sim_time() + seconds)

    def report(self) -> dict:
        return build_report(self.nodes, wall_s=time.perf_counter() - self._wall_start)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()
        if self._spin_thread is not None:
            self._spin_thread.join(timeout=5)
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                node.destroy_node()
        with contextlib.suppress(Exception):
            rclpy.try_shutdown()
        if self._virtual is not None:
            self._virtual.__exit__(None, None, None)
            self._virtual = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
