import threading
import time

import pytest

from pi_vla_ros.ros.seam import msgs, rclpy
from pi_vla_ros.ros.seam.clock import Clock, ClockType, use_virtual_time
from pi_vla_ros.ros.seam.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from pi_vla_ros.ros.seam.node import Node
from pi_vla_ros.ros.seam.parameter import Parameter
from pi_vla_ros.ros.seam.time import Time

from .conftest import drain

SIM = [Parameter("use_sim_time", value=True)]


def publish_clock(pub, ns: int) -> None:
    pub.publish(msgs.Clock(clock=Time(nanoseconds=ns).to_msg()))


# --- timers on sim time ---------------------------------------------------------------------------------
def test_sim_time_timer_fires_exactly_at_deadlines():
    node, sim = Node("n", parameter_overrides=SIM), Node("sim")
    clock_pub = sim.create_publisher(msgs.Clock, "/clock", 10)
    fired = []
    timer = node.create_timer(0.1, lambda: fired.append(node.get_clock().now().nanoseconds))
    assert timer.timer_period_ns == 100_000_000
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    for step in range(1, 31):  # /clock advances 10 ms at a time up to 0.3 s
        publish_clock(clock_pub, step * 10_000_000)
        drain(ex, 5)
    assert fired == [100_000_000, 200_000_000, 300_000_000]


def test_sim_time_jump_skips_missed_periods_like_rcl():
    node, sim = Node("n", parameter_overrides=SIM), Node("sim")
    clock_pub = sim.create_publisher(msgs.Clock, "/clock", 10)
    fired = []
    timer = node.create_timer(0.1, lambda: fired.append(node.get_clock().now().nanoseconds))
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    publish_clock(clock_pub, 350_000_000)  # 3.5 periods late: one call, next deadline 0.4 s
    drain(ex)
    assert fired == [350_000_000]
    assert timer.time_until_next_call() == 50_000_000
    publish_clock(clock_pub, 399_999_999)
    drain(ex)
    publish_clock(clock_pub, 400_000_000)
    drain(ex)
    assert fired == [350_000_000, 400_000_000]


def test_timer_cancel_and_reset():
    node, sim = Node("n", parameter_overrides=SIM), Node("sim")
    clock_pub = sim.create_publisher(msgs.Clock, "/clock", 10)
    fired = []
    timer = node.create_timer(1.0, lambda: fired.append(1))
    timer.cancel()
    assert timer.is_canceled() and timer.time_until_next_call() is None
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    publish_clock(clock_pub, 2_000_000_000)
    drain(ex)
    assert fired == []
    timer.reset()  # deadline = now + period = 3 s
    assert not timer.is_canceled()
    publish_clock(clock_pub, 2_999_999_999)
    drain(ex)
    assert fired == []
    publish_clock(clock_pub, 3_000_000_000)
    drain(ex)
    assert fired == [1]


# --- single-threaded order and virtual time -------------------------------------------------------------
def test_single_threaded_order_timers_then_subscriptions_then_guards_per_node(virtual_time):
    trace = []
    a, b = Node("a"), Node("b")
    pub = a.create_publisher(msgs.String, "/t", 10)
    a.create_subscription(msgs.String, "/t", lambda m: trace.append(f"a.sub:{m.data}"), 10)
    b.create_subscription(msgs.String, "/t", lambda m: trace.append(f"b.sub:{m.data}"), 10)
    ga = a.create_guard_condition(lambda: trace.append("a.guard"))
    b.create_timer(1.0, lambda: trace.append("b.timer"))
    a.create_timer(1.0, lambda: trace.append("a.timer1"))
    a.create_timer(1.0, lambda: trace.append("a.timer2"))
    ex = SingleThreadedExecutor()
    ex.add_node(a)
    ex.add_node(b)
    ga.trigger()
    pub.publish(msgs.String(data="x"))
    for _ in range(3):
        ex.spin_once(timeout_sec=0)  # one callback each
    assert trace == ["a.sub:x", "a.guard", "b.sub:x"]
    for _ in range(3):
        ex.spin_once(timeout_sec=0)  # nothing ready: virtual time jumps to 1 s, all three timers are due
    assert trace[3:] == ["a.timer1", "a.timer2", "b.timer"]
    assert Clock().now().nanoseconds == 1_000_000_000


def run_sim_graph() -> list:
    """Simulator stepping on STEADY (virtual) time publishing /clock; controller and monitor on sim time."""
    trace = []
    sim = Node("sim")
    ctl = Node("controller", parameter_overrides=SIM)
    mon = Node("monitor", parameter_overrides=SIM)
    clock_pub = sim.create_publisher(msgs.Clock, "/clock", 10)
    state_pub = sim.create_publisher(msgs.JointState, "/joint_states", 10)
    cmd_pub = ctl.create_publisher(msgs.Float64, "/cmd", 10)
    sim_ns = [0]

    def step():
        sim_ns[0] += 2_000_000  # 2 ms physics step
        publish_clock(clock_pub, sim_ns[0])
        state_pub.publish(msgs.JointState(position=[sim_ns[0] * 1e-9]))

    sim.create_timer(0.0005, step, clock=Clock(clock_type=ClockType.STEADY_TIME))  # 4x faster than sim time
    ctl.create_subscription(msgs.JointState, "/joint_states", lambda m: trace.append(("state", m.position[0])), 10)
    ctl.create_timer(0.02, lambda: cmd_pub.publish(msgs.Float64(data=ctl.get_clock().now().nanoseconds * 1e-9)))
    mon.create_subscription(msgs.Float64, "/cmd", lambda m: trace.append(
        ("cmd", m.data, mon.get_clock().now().nanoseconds)), 10)
    mon.create_timer(0.05, lambda: trace.append(("mon", mon.get_clock().now().nanoseconds)))
    ex = SingleThreadedExecutor()
    for node in (sim, ctl, mon):
        ex.add_node(node)
    assert ex.spin_until(lambda: sum(e[0] == "cmd" for e in trace) == 10, max_callbacks=100_000)
    return trace


def test_virtual_time_graph_is_deterministic_and_exact():
    t0 = time.perf_counter()
    traces = []
    for _ in range(2):
        rclpy.try_shutdown()
        rclpy.init()
        with use_virtual_time():
            traces.append(run_sim_graph())
    first, second = traces
    assert first == second
    assert time.perf_counter() - t0 < 5.0  # 0.2 s of sim time, 50 ms of virtual steady time: not real time
    cmds = [entry for entry in first if entry[0] == "cmd"]
    assert [c[1] for c in cmds] == pytest.approx([0.02 * k for k in range(1, 11)])  # exactly on the deadlines
    assert [c[2] for c in cmds] == [20_000_000 * k for k in range(1, 11)]  # received before sim time moves on
    assert [entry[1] for entry in first if entry[0] == "mon"] == [50_000_000 * k for k in range(1, 5)]
    assert [e[1] for e in first if e[0] == "state"] == pytest.approx([0.002 * k for k in range(1, 101)])


def test_spin_until_reports_idle_under_virtual_time(virtual_time):
    node = Node("n")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    assert not ex.spin_until(lambda: False)  # nothing can ever become ready
    ticks = []
    node.create_timer(0.5, lambda: ticks.append(Clock().now().nanoseconds))
    assert ex.spin_until(lambda: len(ticks) == 3)
    assert ticks == [500_000_000, 1_000_000_000, 1_500_000_000]
    assert not ex.spin_until(lambda: False, max_callbacks=2)


# --- threads --------------------------------------------------------------------------------------------
def test_guard_condition_triggered_from_another_thread_runs_in_executor():
    node = Node("n")
    ran_in = []
    guard = node.create_guard_condition(lambda: ran_in.append(threading.current_thread()))
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    threading.Timer(0.05, guard.trigger).start()
    ex.spin_once(timeout_sec=5.0)  # blocks until the trigger wakes it
    assert ran_in == [threading.current_thread()]


def test_spin_once_times_out_without_work():
    ex = SingleThreadedExecutor()
    ex.add_node(Node("n"))
    t0 = time.monotonic()
    ex.spin_once(timeout_sec=0.05)
    assert 0.04 < time.monotonic() - t0 < 2.0


def spin_in_thread(ex):
    errors = []

    def run():
        try:
            ex.spin()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_multithreaded_timer_punctuality_on_system_clock():
    node = Node("n")
    stamps = []
    timer = node.create_timer(0.02, lambda: stamps.append(time.monotonic_ns()), clock=Clock())
    first_deadline = time.monotonic_ns() + timer.time_until_next_call()
    ex = MultiThreadedExecutor()
    ex.add_node(node)
    thread, errors = spin_in_thread(ex)
    time.sleep(0.31)
    ex.shutdown()
    thread.join(5)
    assert not errors and not thread.is_alive()
    assert 14 <= len(stamps) <= 16
    lateness_ms = sorted((s - (first_deadline + i * 20_000_000)) / 1e6 for i, s in enumerate(stamps))
    assert lateness_ms[len(lateness_ms) // 2] < 10.0  # loose: typically well under 1 ms when idle


def test_multithreaded_one_node_is_exclusive_nodes_are_parallel():
    a, b = Node("a"), Node("b")
    active, overlap = [0], []
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=5)
    met = []

    def exclusive():
        with lock:
            active[0] += 1
            overlap.append(active[0])
        time.sleep(0.003)
        with lock:
            active[0] -= 1

    a.create_timer(0.001, exclusive, clock=Clock())
    a.create_timer(0.001, exclusive, clock=Clock())
    meet = a.create_guard_condition(lambda: met.append(barrier.wait()))
    meet_b = b.create_guard_condition(lambda: met.append(barrier.wait()))
    ex = MultiThreadedExecutor()
    ex.add_node(a)
    ex.add_node(b)
    thread, errors = spin_in_thread(ex)
    time.sleep(0.05)
    meet.trigger()
    meet_b.trigger()
    time.sleep(0.1)
    ex.shutdown()
    thread.join(5)
    assert not errors and sorted(met) == [0, 1]  # both sides reached the barrier: b ran while a was busy
    assert overlap and max(overlap) == 1


def test_multithreaded_reraises_callback_errors():
    node = Node("n")
    node.create_timer(0.001, lambda: 1 / 0, clock=Clock())
    ex = MultiThreadedExecutor()
    ex.add_node(node)
    with pytest.raises(ZeroDivisionError):
        ex.spin()


@pytest.mark.parametrize("executor_cls", [SingleThreadedExecutor, MultiThreadedExecutor])
def test_external_shutdown_interrupts_spin(executor_cls):
    node = Node("n")
    ex = executor_cls()
    ex.add_node(node)
    thread, errors = spin_in_thread(ex)
    time.sleep(0.05)
    rclpy.shutdown()
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ExternalShutdownException)


def test_multithreaded_refuses_virtual_time(virtual_time):
    ex = MultiThreadedExecutor()
    ex.add_node(Node("n"))
    with pytest.raises(RuntimeError, match="virtual time"):
        ex.spin()
