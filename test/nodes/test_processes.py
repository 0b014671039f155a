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

"""The five console scripts as separate processes over DDS on loopback, as ros2 launch starts them, driven and
checked by this test process on its own rclpy context; then SIGINT: every node exits 0 within 5 s.
"""

import os
import time

import pytest

from pi_vla_ros.graph import graph
from pi_vla_ros.nodes.common import LATCHED_QOS
from pi_vla_ros.processes import GraphProcesses, node_command
from pi_vla_ros.ros import Context, Node, SingleThreadedExecutor, msgs, rclpy
from pi_vla_ros.runner import _environment

pytestmark = pytest.mark.slow


def test_node_command_carries_the_launch_layers():
    spec = next(s for s in graph("ur5e", sim=True, seed=7, checkpoint="") if s.executable == "pi_vla_sim")
    argv = node_command(spec)
    assert argv[0].endswith("pi_vla_sim") and argv[1] == "--ros-args"
    assert argv[argv.index("--params-file") + 1].endswith("config/nodes.yaml")
    assert "seed:=7" in argv and 'profile:="ur5e"' in argv and "use_sim_time:=false" in argv


def test_graph_as_processes_over_dds(tmp_path):
    env = {"ROS_DOMAIN_ID": str(50 + os.getpid() % 100), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "MUJOCO_GL": "egl"}
    with _environment(**env):
        context = Context()
        rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = Node("independent_test_process", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    heard, chunks, commands = [], [], []
    node.create_subscription(msgs.String, "/pi_vla/language", lambda m: heard.append(m.data), LATCHED_QOS)
    node.create_subscription(msgs.JointTrajectory, "/pi_vla/action_chunk", chunks.append, 10)
    node.create_subscription(msgs.JointTrajectory, "/scaled_joint_trajectory_controller/joint_trajectory",
                             commands.append, 10)
    instruction = node.create_publisher(msgs.String, "/pi_vla/instruction", 10)

    def spin_until(condition, timeout_s):
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        return condition()

    procs = GraphProcesses("ur5e", env=env, allow_untrained=True, policy="pi06_tiny",
                           overrides={"pi_vla_sim": {"publish_instruction": False}})
    try:
        assert spin_until(lambda: not procs.dead() and node.count_subscribers("/pi_vla/instruction") > 0, 60), \
            procs.dead()
        instruction.publish(msgs.String(data="wave at the camera; then bow"))
        assert spin_until(lambda: heard and heard[-1] == "wave at the camera", 30), heard
        # the policy (loaded in its own server process) answers with chunks, the executor commands the arm
        assert spin_until(lambda: len(chunks) >= 2 and len(commands) >= 50, 180), (len(chunks), len(commands))
        assert not procs.dead(), procs.dead()
        chunk = chunks[-1]
        assert len(chunk.points) == 50 and len(chunk.joint_names) == 7
        assert list(commands[-1].joint_names) == ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint",
                                                  "wrist_1_joint", "wrist_2_joint", "wrist_3_joint"]
        # a late subscriber still gets the current language (transient local)
        late = []
        node.create_subscription(msgs.String, "/pi_vla/language", lambda m: late.append(m.data), LATCHED_QOS)
        assert spin_until(lambda: late, 10) and late[-1] == "wave at the camera"
        # the control loop runs at real-time priority in its own process, as ros2_control's (root here; elsewhere
        # the node warns and keeps normal scheduling)
        if os.geteuid() == 0:
            def policy_of(tid):      # without the flag that gives children normal scheduling back
                return os.sched_getscheduler(tid) & ~os.SCHED_RESET_ON_FORK
            assert policy_of(procs.procs["pi_vla_executor"].pid) == os.SCHED_FIFO
            # the simulator steps (and receives) at real-time priority too, its camera renderer does not
            sim = procs.procs["pi_vla_sim"].pid
            policies = [policy_of(int(t)) for t in os.listdir(f"/proc/{sim}/task")]
            assert policy_of(sim) == os.SCHED_FIFO and os.SCHED_OTHER in policies
            # and the policy node, inference included, keeps normal scheduling
            assert policy_of(procs.procs["pi_vla_policy"].pid) == os.SCHED_OTHER
    finally:
        t0 = time.monotonic()
        codes = procs.stop()
        stopped_in = time.monotonic() - t0
        node.destroy_node()
        context.try_shutdown()
    assert codes == {name: 0 for name in codes}, codes
    assert stopped_in < 5.0
