import logging

from pi_vla_ros.ros.seam.clock import advance_virtual_time
from pi_vla_ros.ros.seam.logging import LoggingSeverity
from pi_vla_ros.ros.seam.node import Node


def messages(caplog, name="pi_vla_ros.talker"):
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == name]


def test_levels_route_to_python_logging(caplog):
    log = Node("talker").get_logger()
    log.debug("hidden")  # rcutils default level is INFO
    log.info("i")
    log.warning("w")
    log.warn("w2")
    log.error("e")
    log.fatal("f")
    assert messages(caplog) == [(logging.INFO, "i"), (logging.WARNING, "w"), (logging.WARNING, "w2"),
                                (logging.ERROR, "e"), (logging.CRITICAL, "f")]
    log.set_level(LoggingSeverity.DEBUG)
    log.debug("shown")
    assert messages(caplog)[-1] == (logging.DEBUG, "shown")
    assert caplog.records[-1].funcName == "test_levels_route_to_python_logging"
    Node("talker", namespace="robot").get_logger().info("x")
    assert messages(caplog, "pi_vla_ros.robot.talker") == [(logging.INFO, "x")]


def test_once_and_skip_first(caplog):
    log = Node("talker").get_logger()
    for i in range(3):
        log.info(f"once {i}", once=True)
        log.info(f"skip {i}", skip_first=True)
    assert [m for _, m in messages(caplog)] == ["once 0", "skip 1", "skip 2"]


def test_throttle_on_virtual_time(caplog, virtual_time):
    log = Node("talker").get_logger()
    for step in range(9):  # t = 0, 0.25, ..., 2.0 s
        log.warning(f"t={step * 0.25}", throttle_duration_sec=1.0)
        advance_virtual_time((step + 1) * 250_000_000)
    assert [m for _, m in messages(caplog)] == ["t=0.0", "t=1.0", "t=2.0"]
