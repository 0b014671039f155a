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

"""The terminal keyboard teleop through the graph in lockstep: keys come through a pipe, as from a terminal."""

import os
import time

import numpy as np
import pytest

from pi_vla_ros.nodes.keyboard_teleop_node import KeyboardTeleopNode
from pi_vla_ros.ros import Parameter, msgs
from test.nodes.conftest import Tap
from test.nodes.test_teleop_node import assert_within_limits, teleop_graph


def test_keyboard_teleop_drives_the_simulator(make_graph):
    """SPACE takes the robot, a held w moves +x, x quits and gives it back."""
    run, person, tap = teleop_graph(make_graph, "twist", twist_arm="left")
    read_fd, write_fd = os.pipe()
    keyboard = KeyboardTeleopNode(fd=read_fd, echo=False, **run.node_options(),
                                  parameter_overrides=[Parameter("use_sim_time", value=True)])
    run.add_node(keyboard)
    flags = Tap(run, {"/pi_vla/intervention": msgs.Bool})
    sim = run.sim.sim
    body = sim.model.body("left_tcp_link").id
    run.spin_for(0.2)
    p0 = sim.data.xpos[body].copy()
    os.write(write_fd, b" ")
    for _ in range(20):                  # a held key: the terminal repeats it every 50 ms for 1 s
        os.write(write_fd, b"w")
        run.spin_for(0.05)
    run.spin_for(0.5)
    moved = sim.data.xpos[body] - p0
    assert moved[0] == pytest.approx(0.05 * 1.05, abs=0.01) and np.all(np.abs(moved[1:]) < 2e-3)
    os.write(write_fd, b"x")
    with pytest.raises(KeyboardInterrupt):
        run.spin_for(0.1)
    for _ in range(200):                 # the give-back was published as the quit key ended the tick; DDS
        run.drain()                      # delivers it to the tap a little later on a loaded machine
        if len(flags.messages["/pi_vla/intervention"]) >= 2:
            break
        time.sleep(0.01)
    assert [m.data for _, m in flags.messages["/pi_vla/intervention"]] == [True, False]
    os.close(write_fd)
    os.close(read_fd)
    assert_within_limits(run, tap)
