"""rclpy.node.Node and the entities it creates: publishers, subscriptions, timers, guard conditions.

Entities only hold state (queues, deadlines, trigger flags); executors decide when callbacks run,
so nothing here ever calls user code except from an executor (publish() never runs a callback).
"""

from __future__ import annotations

import re
import warnings
from collections import deque

from pi_vla_ros.ros.seam import msgs
from pi_vla_ros.ros.seam.clock import Clock, ROSClock
from pi_vla_ros.ros.seam.context import Context, Topic, get_default_context
from pi_vla_ros.ros.seam.logging import RcutilsLogger
from pi_vla_ros.ros.seam.parameter import (InvalidParameterTypeException, InvalidParameterValueException, Parameter,
                                           ParameterAlreadyDeclaredException, ParameterNotDeclaredException,
                                           ParameterUninitializedException)
from pi_vla_ros.ros.seam.qos import QoSProfile, ReliabilityPolicy, incompatible_policy
from pi_vla_ros.ros.seam.time import S_TO_NS, Time

ParameterDescriptor = msgs.get_message("rcl_interfaces/msg/ParameterDescriptor")
SetParametersResult = msgs.get_message("rcl_interfaces/msg/SetParametersResult")

_NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOPIC_NAME = re.compile(r"(/[A-Za-z_][A-Za-z0-9_]*)+\Z")


class Publisher:
    def __init__(self, node: "Node", msg_type: type, topic: Topic, qos: QoSProfile):
        self.msg_type, self.qos, self._node, self._topic = msg_type, qos, node, topic
        self.topic_name = topic.name
        # Transient local: the writer keeps its last `depth` samples for late-joining readers.
        self._history = deque(maxlen=qos.keep_last) if qos.transient_local else None

    def publish(self, msg) -> None:
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"Expected {self.msg_type}, got {type(msg)}")
        cond = self._node.context.cond
        with cond:
            if self._topic is None:
                raise RuntimeError(f"publisher on '{self.topic_name}' has been destroyed")
            if self._history is not None:
                self._history.append(msg)
            receivers = set()
            for sub in self._topic.subscriptions:
                if incompatible_policy(self.qos, sub.qos) is None:
                    sub._queue.append(msg)  # a reference, as with intra-process delivery; deque drops the oldest
                    receivers.add(sub._node)
            self._node.context.notify(receivers)

    def get_subscription_count(self) -> int:
        with self._node.context.cond:
            return len(self._topic.subscriptions) if self._topic else 0

    def destroy(self) -> bool:
        return self._node.destroy_publisher(self)


class Subscription:
    def __init__(self, node: "Node", msg_type: type, topic_name: str, callback, qos: QoSProfile, callback_group):
        self.msg_type, self.topic_name, self.callback, self.qos = msg_type, topic_name, callback, qos
        self.callback_group = callback_group
        self._node = node
        self._queue: deque = deque(maxlen=qos.keep_last)

    def destroy(self) -> bool:
        return self._node.destroy_subscription(self)


class Timer:
    """rcl_timer semantics: deadline = creation/reset time + period, then += period per call."""

    def __init__(self, callback, period_ns: int, clock: Clock, context: Context, callback_group=None):
        self.callback, self.callback_group = callback, callback_group
        self._period, self._clock, self._context = int(period_ns), clock, context
        self._canceled = False
        self._last = clock._now_ns()
        self._next = self._last + self._period

    @property
    def timer_period_ns(self) -> int:
        return self._period

    @property
    def clock(self) -> Clock:
        return self._clock

    def is_ready(self) -> bool:
        if self._canceled:
            return False
        now = self._clock._now_ns()
        if now < self._last:
            # The clock went backwards (sim reset, or sim time switched on and ROS time reads 0):
            # like rcl, restart the period from the new "now" rather than wait for the old deadline.
            self._last, self._next = now, now + self._period
        return now >= self._next

    def _advance(self) -> None:
        """rcl_timer_call's bookkeeping: next deadline += period; if that is already past, skip the
        missed periods (one call, not a burst), landing on the first deadline >= now."""
        now = self._clock._now_ns()
        nxt = self._next + self._period
        if nxt < now:
            nxt = now if self._period == 0 else nxt + ((now - nxt - 1) // self._period + 1) * self._period
        self._last, self._next = now, nxt

    def cancel(self) -> None:
        self._canceled = True

    def is_canceled(self) -> bool:
        return self._canceled

    def reset(self) -> None:
        with self._context.cond:
            self._canceled = False
            self._next = self._clock._now_ns() + self._period
            self._context.wake()

    def time_until_next_call(self) -> int | None:
        return None if self._canceled else self._next - self._clock._now_ns()



class GuardCondition:
    """trigger() may be called from any thread; the callback then runs once in the executor."""

    def __init__(self, callback, context: Context, callback_group=None):
        self.callback, self.callback_group, self._context = callback, callback_group, context
        self._triggered = False

    def trigger(self) -> None:
        with self._context.cond:
            self._triggered = True
            self._context.wake()


def _as_qos(qos_profile) -> QoSProfile:
    if isinstance(qos_profile, QoSProfile):
        return qos_profile
    if isinstance(qos_profile, int) and not isinstance(qos_profile, bool):
        return QoSProfile(depth=qos_profile)  # rclpy: an int is a KEEP_LAST depth with default policies
    raise TypeError("Expected QoSProfile or int, but received {!r}".format(type(qos_profile)))


class Node:
    def __init__(self, node_name: str, *, context: Context | None = None, namespace: str | None = None,
                 parameter_overrides: list[Parameter] | None = None, allow_undeclared_parameters: bool = False,
                 automatically_declare_parameters_from_overrides: bool = False, cli_args=None,
                 start_parameter_services: bool = True, enable_rosout: bool = True):
        self._context = context or get_default_context(require_ok=True)
        if not _NODE_NAME.match(node_name):
            raise ValueError(f"Invalid node name '{node_name}': letters, digits and '_', not starting with a digit")
        self._name = node_name
        self._namespace = "/" + namespace.strip("/") if namespace and namespace.strip("/") else "/"
        if not (self._namespace == "/" or _TOPIC_NAME.match(self._namespace)):
            raise ValueError(f"Invalid namespace '{namespace}'")
        self._logger = RcutilsLogger(".".join([*self._namespace.strip("/").split("/"), node_name]).lstrip("."))
        self._publishers: list[Publisher] = []
        self._subscriptions: list[Subscription] = []
        self._timers: list[Timer] = []
        self._guards: list[GuardCondition] = []
        self._parameters: dict[str, Parameter] = {}
        self._descriptors: dict = {}
        self._on_set_callbacks: list = []
        self._allow_undeclared = allow_undeclared_parameters
        self._parameter_overrides = {p.name: p for p in parameter_overrides or []}
        self._clock = ROSClock()
        self._clock_sub: Subscription | None = None
        self._destroyed = False
        if automatically_declare_parameters_from_overrides:
            self.declare_parameters("", [(n, p.value, ParameterDescriptor()) for n, p in
                                         self._parameter_overrides.items()], ignore_override=True)
        # rclpy's TimeSource: declare use_sim_time (if not yet) and follow it from now on.
        if not self.has_parameter("use_sim_time"):
            self.declare_parameter("use_sim_time", False)
        use_sim_time = self.get_parameter("use_sim_time")
        if use_sim_time.type_ == Parameter.Type.BOOL:
            self._set_sim_time(use_sim_time.value)
        else:
            self._logger.error(f"Invalid type for parameter 'use_sim_time' {use_sim_time.type_!r} should be bool")

    # --- identity, names, clock, logger -------------------------------------------------------------
    @property
    def context(self) -> Context:
        return self._context

    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def get_fully_qualified_name(self) -> str:
        return self._namespace.rstrip("/") + "/" + self._name

    def get_clock(self) -> ROSClock:
        return self._clock

    def get_logger(self) -> RcutilsLogger:
        return self._logger

    def resolve_topic_name(self, topic: str) -> str:
        """'/x' stays, 'x' -> '<namespace>/x', '~' / '~/x' -> '<namespace>/<node name>[/x]'."""
        if topic == "~" or topic.startswith("~/"):
            name = self.get_fully_qualified_name() + topic[1:]
        elif topic.startswith("/"):
            name = topic
        else:
            name = self._namespace.rstrip("/") + "/" + topic
        if not _TOPIC_NAME.match(name):
            raise ValueError(f"Invalid topic name '{topic}' (resolved to '{name}')")
        return name

    # --- entities -----------------------------------------------------------------------------------
    @property
    def publishers(self):
        yield from self._publishers

    @property
    def subscriptions(self):
        yield from self._subscriptions

    @property
    def timers(self):
        yield from self._timers

    @property
    def guards(self):
        yield from self._guards

    def create_publisher(self, msg_type, topic: str, qos_profile, *, callback_group=None) -> Publisher:
        qos, name = _as_qos(qos_profile), self.resolve_topic_name(topic)
        with self._context.cond:
            graph_topic = self._context.topic(name, msg_type)
            publisher = Publisher(self, msg_type, graph_topic, qos)
            graph_topic.publishers.append(publisher)
            self._publishers.append(publisher)
            for sub in graph_topic.subscriptions:
                _warn_if_incompatible(publisher, sub)
        return publisher

    def create_subscription(self, msg_type, topic: str, callback, qos_profile, *,
                            callback_group=None) -> Subscription:
        qos, name = _as_qos(qos_profile), self.resolve_topic_name(topic)
        with self._context.cond:
            graph_topic = self._context.topic(name, msg_type)
            sub = Subscription(self, msg_type, name, callback, qos, callback_group)
            graph_topic.subscriptions.append(sub)
            self._subscriptions.append(sub)
            for publisher in graph_topic.publishers:
                if not _warn_if_incompatible(publisher, sub) and qos.transient_local:
                    sub._queue.extend(publisher._history)  # late joiner gets the publisher's kept samples
            self._context.wake()
        return sub

    def create_timer(self, timer_period_sec: float, callback, callback_group=None, clock: Clock | None = None,
                     autostart: bool = True) -> Timer:
        timer = Timer(callback, int(float(timer_period_sec) * S_TO_NS), clock or self._clock, self._context,
                      callback_group)
        if not autostart:
            timer.cancel()
        with self._context.cond:
            self._timers.append(timer)
            self._context.wake()  # a waiting executor must recompute its wake-up time
        return timer

    def create_guard_condition(self, callback, callback_group=None) -> GuardCondition:
        guard = GuardCondition(callback, self._context, callback_group)
        with self._context.cond:
            self._guards.append(guard)
        return guard

    def destroy_publisher(self, publisher: Publisher) -> bool:
        with self._context.cond:
            if publisher not in self._publishers:
                return False
            self._publishers.remove(publisher)
            publisher._topic.publishers.remove(publisher)
            self._context.forget_if_unused(publisher._topic)
            publisher._topic = None
        return True

    def destroy_subscription(self, subscription: Subscription) -> bool:
        with self._context.cond:
            if subscription not in self._subscriptions:
                return False
            self._subscriptions.remove(subscription)
            topic = self._context.topics[subscription.topic_name]
            topic.subscriptions.remove(subscription)
            self._context.forget_if_unused(topic)
            subscription._queue.clear()
        return True

    def destroy_timer(self, timer: Timer) -> bool:
        with self._context.cond:
            timer.cancel()
            if timer not in self._timers:
                return False
            self._timers.remove(timer)
        return True

    def destroy_guard_condition(self, guard: GuardCondition) -> bool:
        with self._context.cond:
            if guard not in self._guards:
                return False
            self._guards.remove(guard)
        return True

    def destroy_node(self) -> None:
        for destroy, entities in ((self.destroy_publisher, self._publishers),
                                  (self.destroy_subscription, self._subscriptions),
                                  (self.destroy_timer, self._timers), (self.destroy_guard_condition, self._guards)):
            for entity in list(entities):
                destroy(entity)
        self._clock_sub = None
        self._destroyed = True

    # --- graph introspection ------------------------------------------------------------------------
    def count_publishers(self, topic_name: str) -> int:
        topic = self._context.topics.get(self.resolve_topic_name(topic_name))
        return len(topic.publishers) if topic else 0

    def count_subscribers(self, topic_name: str) -> int:
        topic = self._context.topics.get(self.resolve_topic_name(topic_name))
        return len(topic.subscriptions) if topic else 0

    def get_topic_names_and_types(self) -> list[tuple[str, list[str]]]:
        with self._context.cond:
            return sorted((name, [t.msg_type.__msgtype__]) for name, t in self._context.topics.items())

    # --- parameters ---------------------------------------------------------------------------------
    def declare_parameter(self, name: str, value=None, descriptor=None, ignore_override: bool = False) -> Parameter:
        # rclpy: a bare name means "dynamically typed" (deprecated); a value or Parameter.Type makes it static.
        entry = (name,) if value is None and descriptor is None else (name, value, descriptor or ParameterDescriptor())
        return self.declare_parameters("", [entry], ignore_override)[0]

    def declare_parameters(self, namespace: str, parameters, ignore_override: bool = False) -> list[Parameter]:
        declared = []
        for entry in parameters:
            if not 1 <= len(entry) <= 3:
                raise TypeError(f"Invalid parameter tuple {entry!r}; expecting length between 1 and 3")
            name = f"{namespace}.{entry[0]}" if namespace else entry[0]
            value = entry[1] if len(entry) > 1 else None
            descriptor = entry[2] if len(entry) > 2 else ParameterDescriptor()
            if name in self._parameters:
                raise ParameterAlreadyDeclaredException([name])
            if len(entry) == 1:
                warnings.warn(f"declaring parameter '{name}' with only a name is deprecated (rclpy): "
                              "pass a default value or a Parameter.Type", DeprecationWarning, stacklevel=3)
                descriptor.dynamic_typing = True
            if isinstance(value, Parameter.Type):
                if value == Parameter.Type.NOT_SET:
                    raise ValueError(f"Cannot declare parameter {{{name}}} as statically typed of type NOT_SET")
                descriptor.type, value = value.value, None
            elif not descriptor.dynamic_typing:
                descriptor.type = Parameter.Type.from_parameter_value(value).value
                if descriptor.type == Parameter.Type.NOT_SET.value:
                    raise ValueError("Cannot declare a statically typed parameter with default value of type "
                                     "PARAMETER_NOT_SET")
            if not ignore_override and name in self._parameter_overrides:
                value = self._parameter_overrides[name].value  # overrides (launch/YAML) win over defaults
            parameter = Parameter(name, value=value)
            result = self._apply_parameter(parameter, descriptor)
            if not result.successful:
                if result.reason.startswith("Wrong parameter type"):
                    raise InvalidParameterTypeException(parameter, Parameter.Type(descriptor.type).name)
                raise InvalidParameterValueException(name, value, result.reason)
            declared.append(self._parameters[name])
        return declared

    def has_parameter(self, name: str) -> bool:
        return name in self._parameters

    def get_parameter(self, name: str) -> Parameter:
        if name in self._parameters:
            parameter = self._parameters[name]
            if parameter.type_ != Parameter.Type.NOT_SET or self._descriptors[name].dynamic_typing:
                return parameter
            raise ParameterUninitializedException(name)
        if self._allow_undeclared:
            return Parameter(name, Parameter.Type.NOT_SET, None)
        raise ParameterNotDeclaredException(name)

    def get_parameters(self, names) -> list[Parameter]:
        return [self.get_parameter(name) for name in names]

    def describe_parameter(self, name: str):
        if name not in self._descriptors:
            raise ParameterNotDeclaredException(name)
        return self._descriptors[name]

    def set_parameters(self, parameter_list) -> list:
        """One SetParametersResult per parameter; type mismatches fail the result, they do not raise."""
        results = []
        for parameter in parameter_list:
            if parameter.name in self._parameters:
                descriptor = self._descriptors[parameter.name]
            elif self._allow_undeclared:
                descriptor = ParameterDescriptor(dynamic_typing=True)
            else:
                raise ParameterNotDeclaredException(parameter.name)
            results.append(self._apply_parameter(parameter, descriptor))
        return results

    def add_on_set_parameters_callback(self, callback) -> None:
        self._on_set_callbacks.insert(0, callback)  # rclpy calls the newest first

    def _apply_parameter(self, parameter: Parameter, descriptor):
        """rclpy's _apply_descriptor + on-set callbacks + store; returns a SetParametersResult."""
        name, declared = parameter.name, parameter.name in self._parameters
        if declared and descriptor.read_only:
            return SetParametersResult(successful=False, reason=f"Trying to set a read-only parameter: {name}.")
        if descriptor.dynamic_typing:
            descriptor.type = parameter.type_.value
        elif declared and parameter.type_ == Parameter.Type.NOT_SET:
            return SetParametersResult(successful=False, reason="Static parameter cannot be undeclared")
        elif parameter.type_ != Parameter.Type.NOT_SET and parameter.type_.value != descriptor.type:
            return SetParametersResult(successful=False, reason=(
                f"Wrong parameter type, expected '{Parameter.Type(descriptor.type)}' got '{parameter.type_}'"))
        if name == "use_sim_time" and declared and parameter.type_ != Parameter.Type.BOOL:
            return SetParametersResult(successful=False,
                                       reason="use_sim_time parameter set to something besides a bool")
        for callback in self._on_set_callbacks:
            result = callback([parameter])
            if not result.successful:
                return result
        self._parameters[name], self._descriptors[name] = parameter, descriptor
        if name == "use_sim_time" and declared:
            self._set_sim_time(parameter.value)
        return SetParametersResult(successful=True)

    # --- time source (rclpy.time_source.TimeSource, folded in) --------------------------------------
    def _set_sim_time(self, enabled: bool) -> None:
        if enabled == self._clock.ros_time_is_active:
            return
        self._clock._set_ros_time_is_active(enabled)
        if enabled:
            self._clock_sub = self.create_subscription(
                msgs.Clock, "/clock", self._on_clock, QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        elif self._clock_sub is not None:
            self.destroy_subscription(self._clock_sub)
            self._clock_sub = None
        self._context.wake()  # executors sleeping towards this clock's timers must re-plan

    def _on_clock(self, msg) -> None:
        self._clock.set_ros_time_override(Time.from_msg(msg.clock))


def _warn_if_incompatible(publisher: Publisher, sub: Subscription) -> bool:
    policy = incompatible_policy(publisher.qos, sub.qos)
    if policy:  # rclpy's default QoS event handler logs exactly this and the pair never connects
        sub._node.get_logger().warning(
            f"New publisher discovered on topic '{sub.topic_name}', offering incompatible QoS. "
            f"No messages will be received from it. Last incompatible policy: {policy}")
    return policy is not None
