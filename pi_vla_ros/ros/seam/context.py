"""rclpy.context: one in-process ROS graph (topics with their publishers and subscriptions).

One lock guards the graph and every queue in it. Executors block on conditions of that lock
instead of polling: a global one, and one per node for the multi-threaded executor's per-node
workers, so that a publish wakes only the nodes subscribed to the topic (waking every thread on
every message made them all fight for the GIL and jittered real-time loops). Whatever else can make a
callback ready (guard trigger, timer changes, shutdown) wakes everyone.
"""

from __future__ import annotations

import threading


class Topic:
    __slots__ = ("name", "msg_type", "publishers", "subscriptions")

    def __init__(self, name: str, msg_type: type):
        self.name, self.msg_type = name, msg_type
        self.publishers: list = []
        self.subscriptions: list = []


class Context:
    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self._node_conds: dict = {}   # node -> Condition(self.lock)
        self.topics: dict[str, Topic] = {}
        self.global_executor = None  # rclpy.spin()'s executor, created on first use
        self._ok = True

    def ok(self) -> bool:
        return self._ok

    def shutdown(self) -> None:
        with self.cond:
            if not self._ok:
                raise RuntimeError("Context is already shut down (rcl_shutdown already called)")
            self._ok = False
            self.wake()

    def try_shutdown(self) -> None:
        with self.cond:
            if self._ok:
                self.shutdown()

    def wake(self) -> None:
        """Wake every waiting executor and worker."""
        with self.lock:
            self.cond.notify_all()
            for cond in self._node_conds.values():
                cond.notify_all()

    def node_cond(self, node) -> threading.Condition:
        with self.lock:
            cond = self._node_conds.get(node)
            if cond is None:
                cond = self._node_conds[node] = threading.Condition(self.lock)
            return cond

    def notify(self, nodes) -> None:
        """New work for ``nodes`` (caller holds the lock): wake their workers and global waiters."""
        self.cond.notify_all()
        for node in nodes:
            cond = self._node_conds.get(node)
            if cond is not None:
                cond.notify_all()

    def topic(self, name: str, msg_type: type) -> Topic:
        """The topic ``name``, created on first use; one message type per topic (caller holds cond)."""
        topic = self.topics.get(name)
        if topic is None:
            topic = self.topics[name] = Topic(name, msg_type)
        elif topic.msg_type is not msg_type:
            # DDS would quietly never match the endpoints; an error is kinder and just as strict.
            raise TypeError(f"topic '{name}' already carries {_type_name(topic.msg_type)}; "
                            f"cannot use it with {_type_name(msg_type)}")
        return topic

    def forget_if_unused(self, topic: Topic) -> None:
        if not topic.publishers and not topic.subscriptions:
            self.topics.pop(topic.name, None)


def _type_name(msg_type: type) -> str:
    return getattr(msg_type, "__msgtype__", getattr(msg_type, "__name__", repr(msg_type)))


_default_context: Context | None = None


def get_default_context(*, require_ok: bool = False) -> Context | None:
    if require_ok and (_default_context is None or not _default_context.ok()):
        raise RuntimeError("rclpy.init() has not been called (or rclpy.shutdown() already was)")
    return _default_context


def new_default_context() -> Context:
    global _default_context
    if _default_context is not None and _default_context.ok():
        raise RuntimeError("Context.init() must only be called once")
    _default_context = Context()
    return _default_context
