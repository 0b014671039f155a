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

"""Terminal keyboard teleop: keys in, geometry_msgs/Twist, the gripper and the intervention flag out.

``ros2 run pi_vla_ros pi_vla_keyboard_teleop`` in a terminal of its own (launch cannot give a node a keyboard),
beside a graph started with ``teleop:=twist``. Every ``1 / rate_hz`` s (ROS time) it reads the keys typed since the
last tick (the terminal in cbreak mode: no echo, no Enter needed; Ctrl-C still interrupts) and publishes the
twist (:class:`pi_vla_ros.core.teleop.KeyboardTwist` says what each key does: a press moves for ``step_s``, a held
key repeats), the gripper (std_msgs/Float64, fraction open) when a gripper key was pressed, and
``/pi_vla/intervention`` (std_msgs/Bool, transient local) each time SPACE toggles who has the robot. Quitting
(``x``, Ctrl-C, Ctrl-D or the end of its input) while it has the robot gives it back first (publishes false).
"""

from __future__ import annotations

import os
import select
import sys

from pi_vla_ros.core.teleop import KEY_HELP, KeyboardTwist
from pi_vla_ros.nodes.common import GraphNode, LATCHED_QOS, Param, declare, now_sec, run_node
from pi_vla_ros.ros import Node, msgs


class KeyboardTeleopNode(GraphNode, Node):
    PARAMETERS = dict(
        rate_hz=Param(20.0, "twist publishing rate", (1.0, 200.0)),
        linear_speed=Param(0.05, "m/s of a translation key (rotation keys: 5x in rad/s); +/- change it", (0.001, 0.5)),
        step_s=Param(0.1, "how long one key press moves", (0.01, 2.0)),
        twist_topic=Param("/pi_vla/teleop/twist", "geometry_msgs/Twist out"),
        gripper_topic=Param("/pi_vla/teleop/gripper", "std_msgs/Float64 out: fraction open"),
        intervention_topic=Param("/pi_vla/intervention", "std_msgs/Bool out: true while the person has the robot"),
    )

    def __init__(self, fd: int | None = None, echo: bool = True, **kwargs):
        """``fd``: where keys come from (default: standard input, put in cbreak mode when it is a terminal);
        ``echo``: print the key help and a status line to stderr.
        """
        super().__init__("pi_vla_keyboard_teleop", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.keys = KeyboardTwist(self.p.linear_speed, self.p.step_s)
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.echo = echo
        self._saved_tty = None
        if os.isatty(self.fd):
            import termios
            import tty

            self._saved_tty = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        self.twist_pub = self.create_publisher(msgs.Twist, self.p.twist_topic, 10)
        self.gripper_pub = self.create_publisher(msgs.Float64, self.p.gripper_topic, 10)
        self.intervention_pub = self.create_publisher(msgs.Bool, self.p.intervention_topic, LATCHED_QOS)
        self._gripper = None
        self.create_timer(1.0 / self.p.rate_hz, self._tick)
        if echo:
            print(KEY_HELP, file=sys.stderr, flush=True)

    def _read(self) -> str:
        text = b""
        while select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 64)
            if not chunk:              # end of input: as if the person quit
                return text.decode(errors="ignore") + "\x04"
            text += chunk
        return text.decode(errors="ignore")

    def _tick(self) -> None:
        now = now_sec(self)
        had = self.keys.intervention
        for key in self._read():
            self.keys.on_key(key.lower(), now)
        if self.keys.quit:
            self.keys.intervention = False
        if self.keys.intervention != had:
            self.intervention_pub.publish(msgs.Bool(data=self.keys.intervention))
        if self.keys.quit:
            raise KeyboardInterrupt("quit key")
        v = self.keys.twist(now)
        self.twist_pub.publish(msgs.Twist(linear=msgs.Vector3(x=v[0], y=v[1], z=v[2]),
                                          angular=msgs.Vector3(x=v[3], y=v[4], z=v[5])))
        if self.keys.gripper is not None and self.keys.gripper != self._gripper:
            self._gripper = self.keys.gripper
            self.gripper_pub.publish(msgs.Float64(data=self._gripper))
        if self.echo:
            who = "PERSON (teleop)" if self.keys.intervention else "policy"
            grip = "-" if self._gripper is None else ("open" if self._gripper else "closed")
            print(f"\rrobot: {who:15s} speed {self.keys.linear_speed:.3f} m/s  gripper {grip:6s}", end="",
                  file=sys.stderr, flush=True)

    def destroy_node(self):
        if self.keys.intervention and self.context.ok():   # give the robot back before going
            self.keys.intervention = False
            self.intervention_pub.publish(msgs.Bool(data=False))
        if self._saved_tty is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None
        return super().destroy_node()


def main(args=None):
    return run_node(KeyboardTeleopNode, args)
