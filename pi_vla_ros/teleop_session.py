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

"""``pi-vla teleop ROBOT --sim``: drive the simulated robot from this terminal's keyboard, in real time.

The graph of ``pi-vla launch`` in one process (:class:`~pi_vla_ros.runner.GraphRunner`, real time, discoverable:
``ros2 topic echo`` from another terminal sees it) with the teleop node (``teleop:=twist`` or ``leader``) and,
for ``twist``, the keyboard teleop node reading this terminal. Without a policy (no ``policy``/``checkpoint``) the
policy node is not started and the executor holds while nobody has the robot; with one, SPACE hands the robot
between the policy and the person. Ends on the keyboard's quit key, Ctrl-C or after ``duration`` simulated seconds,
and returns the counters of the session.
"""

from __future__ import annotations

import math
import os


def run(robot: str, mode: str = "twist", duration: float = math.inf, keyboard: bool = True,
        overrides: dict | None = None, realtime: bool = True, **launch_args) -> dict:
    """The session; ``realtime=False`` runs it in lockstep (tests: deterministic, nothing discoverable)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.nodes.keyboard_teleop_node import KeyboardTeleopNode
    from pi_vla_ros.ros import Parameter
    from pi_vla_ros.runner import GraphRunner

    skip = () if launch_args.get("policy") or launch_args.get("checkpoint") else ("pi_vla_policy",)
    with GraphRunner(robot, realtime=realtime, overrides=overrides, skip=skip, teleop=mode, **launch_args) as graph:
        if keyboard and mode == "twist":
            graph.add_node(KeyboardTeleopNode(**graph.node_options(), parameter_overrides=[
                Parameter("use_sim_time", value=True)]), "pi_vla_keyboard_teleop")
        stopped_by = "duration"
        try:
            while graph.sim_time() < duration:
                graph.spin_for(min(0.1, duration - graph.sim_time()))
        except KeyboardInterrupt:
            stopped_by = "quit"
        graph.drain()   # what the quit key published (the robot given back) is handled before the report
        executor, teleop = graph.node("pi_vla_executor"), graph.node("pi_vla_teleop")
        stats = executor.core.stats
        return {"robot": robot, "mode": mode, "sim_s": round(graph.sim_time(), 3), "stopped_by": stopped_by,
                "teleop_sent": teleop.sent, "executor_teleop_commands": executor.teleop_commands,
                "executor_commands": stats.commands, "safety_clamps": stats.safety_clamps,
                "clamps_by_kind": dict(stats.clamps_by_kind),
                "rejected": {"pi_vla_teleop": teleop.rejections.counter.as_dict(),
                             "pi_vla_executor": executor.rejections.counter.as_dict()}}
