"""rclpy.context: one in-process ROS graph (topics with their publishers and subscriptions).

A single condition variable guards the graph and every queue in it; whatever can make a callback
ready (publish, guard trigger, timer reset, shutdown) notifies it, so executors block on it instead
of polling.
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
        self.cond = threading.Condition(threading.RLock())
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
            self.cond.notify_all()

    def try_shutdown(self) -> None:
        with self.cond:
            if self._ok:
                self.shutdown()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

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
