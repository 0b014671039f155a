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

"""Small helpers every node uses: parameters, time conversion, rejection logging, diagnostics."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from pi_vla_ros.core.errors import RejectedInput, RejectionCounter
from pi_vla_ros.core.scheduling import realtime_priority  # noqa: F401 - the nodes' import point
from pi_vla_ros.ros import (DurabilityPolicy, FloatingPointRange, IntegerRange, InvalidParameterTypeException,
                            InvalidParameterValueException, Node, ParameterDescriptor, PublisherEventCallbacks,
                            QoSProfile, ReliabilityPolicy, SubscriptionEventCallbacks, TransitionCallbackReturn, msgs,
                            qos_profile_sensor_data)

SENSOR_QOS = qos_profile_sensor_data              # cameras and joint states: best effort, keep last 5
LATCHED_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


# Set by `pi-vla launch --processes` (GraphProcesses): every publisher and subscription in that simulated graph is
# this package's own, so the QoS-event waitables can go, as in one process (saves ~0.3 ms per wake-up per node).
QUIET_QOS_EVENTS_ENV = "PI_VLA_QUIET_QOS_EVENTS"


class GraphNode:
    """Mixin of every pi_vla node: the ``quiet_qos_events`` constructor option.

    rclpy gives each publisher and subscription waitables for QoS events (incompatible QoS or type warnings);
    in a graph whose QoS are all this package's own and run in one process (:class:`~pi_vla_ros.runner.GraphRunner`)
    they can never fire, yet each is one more entity in every wait-set rebuild: without them the executor's work
    per tick halves (README, benchmark). Nodes started on their own (``ros2 run``/``ros2 launch``) keep them, unless
    ``QUIET_QOS_EVENTS_ENV`` is "1" (the simulated multi-process graph of ``pi-vla launch --processes``).
    """

    def __init__(self, *args, quiet_qos_events: bool = False, **kwargs):
        self._quiet_qos_events = quiet_qos_events
        super().__init__(*args, **kwargs)

    def create_publisher(self, *args, **kwargs):
        if self._quiet_qos_events:
            kwargs.setdefault("event_callbacks", PublisherEventCallbacks(use_default_callbacks=False))
        return super().create_publisher(*args, **kwargs)

    def create_subscription(self, *args, **kwargs):
        if self._quiet_qos_events:
            kwargs.setdefault("event_callbacks", SubscriptionEventCallbacks(use_default_callbacks=False))
        return super().create_subscription(*args, **kwargs)


@dataclass(frozen=True)
class Param:
    """A node parameter: default (its type is the parameter's type), description, inclusive numeric limits, choices.

    Every parameter is read-only: nodes read them once at start-up (or configuration), so a later
    ``ros2 param set`` is refused instead of being silently ignored.
    """

    default: object
    description: str
    limits: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None


def declare(node, parameters: dict[str, Param]) -> SimpleNamespace:
    """Declare ``parameters`` with descriptors and return their validated values.

    Integers given for a float parameter are accepted (YAML writes ``50`` for ``50.0``); any other type
    mismatch, a value out of range or not among the choices is one ValueError naming the parameter (and the node,
    which cannot run, is destroyed: its name and /rosout publisher are free again).
    """
    try:
        return _declare(node, parameters)
    except ValueError:
        Node.destroy_node(node)    # rclpy's own: the subclass's clean-up expects a node that finished __init__
        raise


def _declare(node, parameters: dict[str, Param]) -> SimpleNamespace:
    values = {}
    for name, spec in parameters.items():
        descriptor = ParameterDescriptor(description=spec.description, read_only=True, dynamic_typing=True)
        if spec.limits is not None:
            lo, hi = spec.limits
            if isinstance(spec.default, bool) or not isinstance(spec.default, (int, float)):
                raise TypeError(f"{name}: a range needs a numeric default")
            if isinstance(spec.default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
            else:
                descriptor.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi))]
        if spec.choices:
            descriptor.additional_constraints = f"one of {', '.join(spec.choices)}"
        try:
            value = node.declare_parameter(name, spec.default, descriptor).value
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:   # rclpy's range check
            raise ValueError(f"{node.get_name()}: parameter {name!r}: {exc.args[0]}") from None
        values[name] = _checked(node.get_name(), name, spec, value)
    return SimpleNamespace(**values)


def _checked(node_name: str, name: str, spec: Param, value):
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise ValueError(f"{node_name}: parameter {name!r} must be {expected.__name__}, got {value!r}")
    if spec.limits is not None and not spec.limits[0] <= value <= spec.limits[1]:
        raise ValueError(f"{node_name}: parameter {name!r}={value} outside [{spec.limits[0]}, {spec.limits[1]}]")
    if spec.choices and value not in spec.choices:
        raise ValueError(f"{node_name}: parameter {name!r}={value!r} must be one of {list(spec.choices)}")
    return value


class RecentLog:
    """An append-only log that keeps its last ``keep`` entries (a robot runs for days): indices stay absolute and
    ``len`` counts every entry ever appended, so ``log[len_before:]`` still means "appended since", while memory
    stays bounded (trimmed to ``keep`` whenever it holds a tenth more).
    """

    def __init__(self, keep: int = 10_000):
        self._items: list = []
        self._dropped = 0
        self._keep = keep

    def append(self, item) -> None:
        self._items.append(item)
        if len(self._items) >= self._keep + max(1, self._keep // 10):
            self._dropped += len(self._items) - self._keep
            del self._items[:-self._keep]

    def __len__(self) -> int:
        return self._dropped + len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return self._items[max(start - self._dropped, 0):max(stop - self._dropped, 0):step]
        if index < 0:
            return self._items[index]
        if index < self._dropped:
            raise IndexError(f"entry {index} was dropped (the log keeps the last {self._keep})")
        return self._items[index - self._dropped]


def start_managed(node) -> None:
    """``autostart``: configure and activate a lifecycle node now (the launch files' default); one error if not."""
    success = TransitionCallbackReturn.SUCCESS
    if node.p.autostart and (node.trigger_configure() != success or node.trigger_activate() != success):
        name = node.get_name()
        node.destroy_node()     # nobody will hold this half-made node: free its name (and its /rosout publisher)
        raise RuntimeError(f"{name} could not be configured and activated (see the log)")


def destroy_entities(node, entities) -> None:
    """Destroy the timers and subscriptions a lifecycle node made in ``configure`` (``cleanup`` and ``shutdown``)."""
    for entity in entities:
        (node.destroy_timer if hasattr(entity, "timer_period_ns") else node.destroy_subscription)(entity)


def to_sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _sec_nanosec(seconds: float) -> tuple[int, int]:
    return divmod(int(round(seconds * 1e9)), 1_000_000_000)   # rounding may carry into the seconds


def to_stamp(seconds: float):
    sec, nanosec = _sec_nanosec(seconds)
    return msgs.TimeMsg(sec=sec, nanosec=nanosec)


def to_duration(seconds: float):
    sec, nanosec = _sec_nanosec(seconds)
    return msgs.DurationMsg(sec=sec, nanosec=nanosec)


def now_sec(node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


class Rejections:
    """Counts rejected inputs by reason; logs the first of each reason in full, then at most every 5 s."""

    def __init__(self, node, log_period_s: float = 5.0):
        self._logger = node.get_logger()
        self.counter = RejectionCounter()
        self._last_log: dict[str, float] = {}
        self._period = log_period_s

    def __call__(self, error: RejectedInput, source: str = "") -> None:
        self.counter.add(error.reason)
        t = time.monotonic()
        if t - self._last_log.get(error.reason, -np.inf) >= self._period:
            self._last_log[error.reason] = t
            n = self.counter.as_dict()[error.reason]
            self._logger.warning(f"rejected {source or 'input'}: {error} (count {n})")


OK, WARN, ERROR = msgs.DiagnosticStatus.OK, msgs.DiagnosticStatus.WARN, msgs.DiagnosticStatus.ERROR


def diagnostics(node_name: str, level: bytes, message: str, values: dict):
    """One DiagnosticStatus: ``level`` is OK, WARN (degraded: holding, stale input) or ERROR (a fault)."""
    return msgs.DiagnosticStatus(
        level=level, name=node_name, message=message, hardware_id="pi_vla_ros",
        values=[msgs.KeyValue(key=str(k), value=json.dumps(v) if not isinstance(v, str) else v)
                for k, v in values.items()])


def _record_stop_signals() -> list[int]:
    """Python handlers for SIGINT (raise KeyboardInterrupt, as by default) and SIGTERM that note the signal.

    A KeyboardInterrupt raised while rclpy's C++ code converts a taken message is replaced by pybind11's
    "Unable to convert call argument '0' ..." RuntimeError: only the note tells that shutdown from a fault.
    """
    received: list[int] = []

    def note(signum, _frame):
        received.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, note)
    return received


def run_node(node_cls, args=None) -> int:
    """The console-script main for one node: spin until SIGINT/SIGTERM, then shut down cleanly (exit 0).

    rclpy's own signal handler shuts the context down; the executor then returns, the node releases what it
    holds (threads, child processes, files) in ``destroy_node`` while the context is still there to log.
    """
    from pi_vla_ros.ros import ExternalShutdownException, SingleThreadedExecutor, rclpy

    stop_signal = _record_stop_signals()   # before rclpy.init: its handlers chain to these
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        node = node_cls(quiet_qos_events=os.environ.get(QUIET_QOS_EVENTS_ENV) == "1")
        if hasattr(node, "on_own_process"):  # e.g. real-time priority: only in a process of its own
            node.on_own_process()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback, then a non-zero exit
        if node is not None and (stop_signal or not rclpy.ok()):
            # a callback was publishing when SIGINT shut the context down under it, or the KeyboardInterrupt hit
            # rclpy converting a message and came out as another error: either way, that is the shutdown
            return 0
        print(f"[{node_cls.__name__}] fatal: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not interrupt the clean-up
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
