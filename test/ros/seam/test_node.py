import warnings

import pytest

from pi_vla_ros.ros.seam import msgs
from pi_vla_ros.ros.seam.executors import SingleThreadedExecutor
from pi_vla_ros.ros.seam.node import Node, ParameterDescriptor
from pi_vla_ros.ros.seam.parameter import (InvalidParameterTypeException, Parameter, ParameterAlreadyDeclaredException,
                                           ParameterNotDeclaredException, ParameterUninitializedException)
from pi_vla_ros.ros.seam.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from .conftest import drain

LATCHED = QoSProfile(depth=2, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def listener(node, topic="chatter", qos=10, msg_type=msgs.String):
    received = []
    node.create_subscription(msg_type, topic, lambda m: received.append(m.data), qos)
    return received


# --- names ----------------------------------------------------------------------------------------------
def test_names_and_topic_resolution():
    node = Node("talker", namespace="robot")
    assert (node.get_name(), node.get_namespace(), node.get_fully_qualified_name()) == \
        ("talker", "/robot", "/robot/talker")
    assert node.resolve_topic_name("/abs") == "/abs"
    assert node.resolve_topic_name("rel/x") == "/robot/rel/x"
    assert node.resolve_topic_name("~/priv") == "/robot/talker/priv"
    root = Node("n")
    assert (root.get_namespace(), root.get_fully_qualified_name()) == ("/", "/n")
    assert root.resolve_topic_name("x") == "/x" and root.resolve_topic_name("~/y") == "/n/y"
    for bad in ("", "a b", "~x", "/x/", "1x"):
        with pytest.raises(ValueError):
            root.resolve_topic_name(bad)
    with pytest.raises(ValueError):
        Node("bad-name")


def test_publishers_resolve_names_like_subscriptions():
    node = Node("talker", namespace="ns")
    pub = node.create_publisher(msgs.String, "~/out", 10)
    assert pub.topic_name == "/ns/talker/out"
    received = listener(Node("other"), "/ns/talker/out")
    assert node.count_publishers("~/out") == 1 and node.count_subscribers("/ns/talker/out") == 1
    assert pub.get_subscription_count() == 1
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    pub.publish(msgs.String(data="hi"))
    drain(ex)
    assert received == []  # the subscribing node is not in the executor
    assert ("/ns/talker/out", ["std_msgs/msg/String"]) in node.get_topic_names_and_types()


# --- delivery -------------------------------------------------------------------------------------------
def test_delivery_is_in_order_and_never_inside_publish():
    pub_node, sub_node = Node("pub"), Node("sub")
    received = listener(sub_node)
    pub = pub_node.create_publisher(msgs.String, "chatter", 10)
    for i in range(3):
        pub.publish(msgs.String(data=str(i)))
    assert received == []  # callbacks only run in an executor
    ex = SingleThreadedExecutor()
    ex.add_node(sub_node)
    drain(ex)
    assert received == ["0", "1", "2"]


def test_keep_last_depth_drops_oldest_and_messages_are_shared_references():
    node = Node("n")
    received = []
    node.create_subscription(msgs.String, "chatter", received.append, 2)
    pub = node.create_publisher(msgs.String, "chatter", 10)
    sent = [msgs.String(data=str(i)) for i in range(5)]
    for m in sent:
        pub.publish(m)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    drain(ex)
    assert [m.data for m in received] == ["3", "4"]
    assert received[0] is sent[3]


def test_keep_all_keeps_everything():
    node = Node("n")
    received = listener(node, qos=QoSProfile(history=HistoryPolicy.KEEP_ALL))
    pub = node.create_publisher(msgs.String, "chatter", 1)
    for i in range(50):
        pub.publish(msgs.String(data=str(i)))
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    drain(ex)
    assert len(received) == 50


def test_transient_local_late_joiner_gets_last_depth_messages_volatile_does_not():
    node = Node("n")
    pub = node.create_publisher(msgs.String, "latched", LATCHED)
    for word in ("a", "b", "c"):
        pub.publish(msgs.String(data=word))
    late_latched = listener(node, "latched", QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    late_volatile = listener(node, "latched", 10)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    drain(ex)
    assert late_latched == ["b", "c"] and late_volatile == []


def test_incompatible_qos_does_not_connect_and_warns(caplog):
    node = Node("n")
    pub = node.create_publisher(msgs.String, "chatter", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    received = listener(node, qos=10)  # RELIABLE request vs BEST_EFFORT offer
    late = listener(node, qos=QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    pub.publish(msgs.String(data="x"))
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    drain(ex)
    assert received == [] and late == []
    assert "Last incompatible policy: RELIABILITY" in caplog.text


def test_type_errors():
    node = Node("n")
    pub = node.create_publisher(msgs.String, "chatter", 10)
    with pytest.raises(TypeError, match="Expected"):
        pub.publish(msgs.Bool(data=True))
    with pytest.raises(TypeError, match="already carries std_msgs/msg/String"):
        node.create_publisher(msgs.Bool, "/chatter", 10)
    with pytest.raises(TypeError):
        node.create_subscription(msgs.Bool, "chatter", print, 10)
    with pytest.raises(TypeError):
        node.create_publisher(msgs.String, "x", "10")


def test_destroy_entities_and_node():
    node = Node("n")
    pub = node.create_publisher(msgs.String, "chatter", 10)
    sub = node.create_subscription(msgs.String, "chatter", print, 10)
    timer = node.create_timer(1.0, print)
    assert node.destroy_subscription(sub) and not node.destroy_subscription(sub)
    assert node.count_subscribers("chatter") == 0
    assert node.destroy_timer(timer) and timer.is_canceled()
    assert pub.destroy() and node.count_publishers("chatter") == 0
    with pytest.raises(RuntimeError):
        pub.publish(msgs.String())
    node.create_publisher(msgs.Bool, "chatter", 10)  # topic forgotten once unused: new type allowed
    node.destroy_node()
    assert list(node.publishers) == [] and list(node.timers) == []


# --- parameters -----------------------------------------------------------------------------------------
def test_parameters_declare_override_and_types():
    node = Node("n", parameter_overrides=[Parameter("rate", value=25.0), Parameter("name", value="ovr")])
    assert set(node._parameters) == {"use_sim_time"}  # auto-declared, as in rclpy
    assert node.get_parameter("use_sim_time").value is False
    assert node.declare_parameter("rate", 50.0).value == 25.0  # override wins
    p = node.declare_parameter("name", "default")
    assert (p.name, p.value, p.type_) == ("name", "ovr", Parameter.Type.STRING)
    assert [q.value for q in node.declare_parameters("ctl", [("gain", 2), ("joints", ["a", "b"])])] == [2, ["a", "b"]]
    assert node.get_parameter("ctl.joints").type_ == Parameter.Type.STRING_ARRAY
    assert node.has_parameter("ctl.gain") and not node.has_parameter("gain")
    with pytest.raises(ParameterAlreadyDeclaredException):
        node.declare_parameter("rate", 1.0)
    with pytest.raises(ParameterNotDeclaredException):
        node.get_parameter("nope")
    with pytest.raises(ParameterNotDeclaredException):
        node.set_parameters([Parameter("nope", value=1)])


def test_int_default_overridden_by_float_is_a_type_error():
    node = Node("n", parameter_overrides=[Parameter("count", value=3.0)])
    with pytest.raises(InvalidParameterTypeException, match="expecting type 'INTEGER'"):
        node.declare_parameter("count", 3)  # no int->float or float->int coercion, like rclpy


def test_set_parameters_results():
    node = Node("n")
    node.declare_parameter("gain", 1.0)
    ok, bad = node.set_parameters([Parameter("gain", value=2.0), Parameter("gain", value=3)])
    assert ok.successful and not bad.successful and "Wrong parameter type" in bad.reason
    assert node.get_parameter("gain").value == 2.0
    seen = []
    node.add_on_set_parameters_callback(lambda ps: seen.append(ps[0].value) or type(ok)(successful=ps[0].value > 0))
    assert not node.set_parameters([Parameter("gain", value=-1.0)])[0].successful
    assert node.get_parameter("gain").value == 2.0 and seen == [-1.0]


def test_typed_declaration_without_value_and_dynamic_parameters():
    node = Node("n", parameter_overrides=[Parameter("given", value=4)])
    node.declare_parameter("missing", Parameter.Type.INTEGER)
    with pytest.raises(ParameterUninitializedException):
        node.get_parameter("missing")
    assert node.declare_parameter("given", Parameter.Type.INTEGER).value == 4
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        node.declare_parameter("anything")
    assert node.set_parameters([Parameter("anything", value="s")])[0].successful
    with pytest.raises(ValueError, match="PARAMETER_NOT_SET"):
        node.declare_parameter("no_type", None, ParameterDescriptor())


def test_automatically_declare_parameters_from_overrides():
    node = Node("n", parameter_overrides=[Parameter("a", value=1), Parameter("use_sim_time", value=True)],
                automatically_declare_parameters_from_overrides=True)
    assert node.get_parameter("a").value == 1
    assert node.get_clock().ros_time_is_active


def test_use_sim_time_follows_clock_topic():
    sim, node = Node("sim"), Node("n", parameter_overrides=[Parameter("use_sim_time", value=True)])
    clock_pub = sim.create_publisher(msgs.Clock, "/clock", 10)
    assert node.count_subscribers("/clock") == 1
    assert node.get_clock().now().nanoseconds == 0  # before the first /clock message
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    clock_pub.publish(msgs.Clock(clock=msgs.TimeMsg(sec=12, nanosec=5)))
    drain(ex)
    assert node.get_clock().now().nanoseconds == 12_000_000_005
    assert node.set_parameters([Parameter("use_sim_time", value=False)])[0].successful
    assert node.get_clock().now().nanoseconds > 10**18 and node.count_subscribers("/clock") == 0
    later = Node("later")
    later.set_parameters([Parameter("use_sim_time", value=True)])
    assert later.get_clock().ros_time_is_active and later.count_subscribers("/clock") == 1
