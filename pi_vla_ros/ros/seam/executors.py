"""rclpy.executors: SingleThreadedExecutor (deterministic) and MultiThreadedExecutor (a thread per node).

Ready work is picked like rclpy's wait-set walk: nodes in add order; within a node due timers,
then subscriptions with a queued message, then triggered guard conditions, each in creation
order. As in rclpy, one wait yields a snapshot of ready entities that is drained, one callback per
spin_once, before the next wait, so a busy entity cannot starve the ones after it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

from pi_vla_ros.ros.seam.clock import advance_virtual_time, virtual_time_active
from pi_vla_ros.ros.seam.context import Context, get_default_context
from pi_vla_ros.ros.seam.node import GuardCondition, Subscription, Timer


class ExternalShutdownException(Exception):
    """The context was shut down (rclpy.shutdown()) while the executor was waiting for work."""


class Executor:
    def __init__(self, *, context: Context | None = None):
        self._context = context or get_default_context(require_ok=True)
        self._nodes: list = []
        self._is_shutdown = False
        self._ready: deque = deque()  # the current snapshot (rclpy's _cb_iter)

    @property
    def context(self) -> Context:
        return self._context

    def add_node(self, node) -> bool:
        with self._context.cond:
            if node in self._nodes:
                return False
            self._nodes.append(node)
            self._context.wake()
            return True

    def remove_node(self, node) -> None:
        with self._context.cond:
            if node in self._nodes:
                self._nodes.remove(node)
            self._context.wake()

    def get_nodes(self) -> list:
        with self._context.cond:
            return list(self._nodes)

    def wake(self) -> None:
        self._context.wake()

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        with self._context.cond:
            self._is_shutdown = True
            self._context.wake()
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def spin(self) -> None:
        while self._context.ok() and not self._is_shutdown:
            self.spin_once()

    def spin_once(self, timeout_sec: float | None = None) -> None:
        """Run at most one ready callback, waiting up to ``timeout_sec`` (None: forever, 0: not at all).
        Under virtual time, waiting for a host-time timer is a jump of the virtual clock, not a sleep."""
        self._spin_once(timeout_sec)

    def spin_until(self, predicate, *, timeout_sec: float | None = None, max_callbacks: int | None = None) -> bool:
        """Seam-only helper: spin until ``predicate()`` is true and return True. Returns False after
        ``max_callbacks`` callbacks, after ``timeout_sec`` of wall time, on shutdown, or, under virtual
        time, as soon as nothing can ever become ready (no timers left on host time)."""
        end = None if timeout_sec is None else time.monotonic() + timeout_sec
        calls = 0
        while not predicate():
            remaining = None if end is None else end - time.monotonic()
            if (max_callbacks is not None and calls >= max_callbacks) or (remaining is not None and remaining <= 0):
                return False
            if not self._context.ok() or self._is_shutdown:
                return False
            if self._spin_once(0 if virtual_time_active() else remaining):
                calls += 1
            elif virtual_time_active():
                return predicate()
        return True

    # --- internals ----------------------------------------------------------------------------------
    def _spin_once(self, timeout_sec, nodes=None, ready=None, stop=lambda: False) -> bool:
        work = self._next_work(self._nodes if nodes is None else nodes, self._ready if ready is None else ready,
                               timeout_sec, stop)
        if work is None:
            return False
        callback, args = work
        callback(*args)  # outside the lock; exceptions propagate to the spinning caller, as in rclpy
        return True

    def _next_work(self, nodes: list, ready: deque, timeout_sec, stop):
        """Wait for and take one unit of work: (callback, args), or None on timeout/shutdown."""
        deadline = None if timeout_sec is None or timeout_sec < 0 else time.monotonic() + timeout_sec
        # A worker serving one node sleeps on that node's condition: other nodes' traffic does not wake it.
        cond = self._context.node_cond(nodes[0]) if len(nodes) == 1 else self._context.cond
        with cond:
            while True:
                while ready:
                    work = _take(ready.popleft())
                    if work is not None:
                        return work
                if self._is_shutdown or stop():
                    return None
                if not self._context.ok():
                    raise ExternalShutdownException()
                ready.extend(_collect(nodes))
                if ready:
                    continue
                host_timers = [t for n in nodes for t in n._timers if not t._canceled and t._clock._follows_host()]
                next_due_ns = min((t._next - t._clock._now_ns() for t in host_timers), default=None)
                if virtual_time_active() and next_due_ns is not None:
                    # Nothing is ready: jump virtual time to the earliest host-time deadline instead of sleeping.
                    advance_virtual_time(min(t._next for t in host_timers))
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                waits = [w for w in (remaining, None if virtual_time_active() or next_due_ns is None
                                     else next_due_ns / 1e9) if w is not None]
                cond.wait(min(waits) if waits else None)  # publish/trigger/reset/shutdown notify; timers time out


def _collect(nodes: list) -> list:
    """Ready entities in rclpy's order (caller holds the context lock)."""
    ready = []
    for node in nodes:
        ready += [t for t in node._timers if t.is_ready()]
        ready += [s for s in node._subscriptions if s._queue]
        for guard in node._guards:
            if guard._triggered:
                guard._triggered = False  # auto-taken when collected, as in rclpy
                ready.append(guard)
    return ready


def _take(entity):
    """Take the work of a ready entity, or None if it went away since the snapshot (caller holds the lock)."""
    if isinstance(entity, Timer):
        if entity._canceled:
            return None
        entity._advance()
        return entity.callback, ()
    if isinstance(entity, Subscription):
        return (entity.callback, (entity._queue.popleft(),)) if entity._queue else None
    assert isinstance(entity, GuardCondition)
    return entity.callback, ()


class SingleThreadedExecutor(Executor):
    """Every callback in the spinning thread, in a deterministic order; the executor for virtual time."""


class MultiThreadedExecutor(Executor):
    """Real-time executor: one worker thread per node, so callbacks of one node never overlap (rclpy's
    default mutually exclusive callback group per node) while different nodes run in parallel.
    ``num_threads`` is accepted for compatibility; the thread count is the node count."""

    def __init__(self, num_threads: int | None = None, *, context: Context | None = None):
        super().__init__(context=context)
        self._num_threads = num_threads or os.cpu_count() or 1
        self._errors: list[BaseException] = []
        self._stopping = False  # tells the workers of the current spin() to return

    def spin(self) -> None:
        if virtual_time_active():
            raise RuntimeError("virtual time needs the SingleThreadedExecutor (nothing would advance it here)")
        cond, workers = self._context.cond, {}
        was_ok = self._context.ok()
        try:
            with cond:
                while self._context.ok() and not self._is_shutdown and not self._errors:
                    for node in self._nodes:
                        if node not in workers or not workers[node].is_alive():
                            workers[node] = threading.Thread(target=self._worker, args=(node,), daemon=True,
                                                             name=f"executor:{node.get_name()}")
                            workers[node].start()
                    cond.wait()  # add_node, shutdown and worker errors notify
        finally:
            with cond:
                self._stopping = True
                self._context.wake()
            for worker in workers.values():
                worker.join()
            self._stopping = False
        errors, self._errors = self._errors, []
        if errors:
            raise errors[0]
        if was_ok and not self._context.ok():
            raise ExternalShutdownException()

    def _worker(self, node) -> None:
        ready: deque = deque()
        def stop():
            return self._stopping or node not in self._nodes

        try:
            while not stop():
                # No timeout: block until a notify or this node's next host-time timer deadline.
                self._spin_once(None, [node], ready, stop)
        except ExternalShutdownException:
            pass
        except BaseException as error:  # surfaced by spin(), like rclpy re-raising a callback's exception
            with self._context.cond:
                self._errors.append(error)
                self._context.wake()
