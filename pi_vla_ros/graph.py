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

"""The one description of the node graph, read by the launch files and by ``pi-vla launch``.

Parameters are layered: config/nodes.yaml (all robots) <- the profile's ``nodes:`` section <- launch
arguments. The launch files pass the same layers to launch_ros, so a graph started with
``ros2 launch`` and one started without ROS 2 cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pi_vla_ros.profiles import load_profile, profile_path, share_dir

PACKAGE = "pi_vla_ros"

# executable (console script) -> node class
NODE_CLASSES = {
    "pi_vla_sim": "pi_vla_ros.nodes.sim_node:SimNode",
    "pi_vla_observation": "pi_vla_ros.nodes.observation_node:ObservationNode",
    "pi_vla_policy": "pi_vla_ros.nodes.policy_node:PolicyNode",
    "pi_vla_executor": "pi_vla_ros.nodes.executor_node:ExecutorNode",
    "pi_vla_instruction": "pi_vla_ros.nodes.instruction_node:InstructionNode",
    "pi_vla_teleop": "pi_vla_ros.nodes.teleop_node:TeleopNode",
}

# name, default, description: the launch arguments every robot's launch file declares
LAUNCH_ARGUMENTS = (
    ("sim", "false", "true: run the embedded MuJoCo simulator (publishes /clock) instead of a real robot"),
    ("use_sim_time", "", "follow /clock (default: same as sim; set true under Gazebo)"),
    ("policy", "", "policy config name (registry), default from config/nodes.yaml"),
    ("checkpoint", "", "policy checkpoint directory (model.safetensors, config.json, norm_stats.json)"),
    ("allow_untrained", "false", "allow random policy weights (plumbing tests only)"),
    ("profile", "", "robot profile YAML overriding config/<robot>.yaml"),
    ("params_file", "", "node parameter file overriding config/nodes.yaml"),
    ("seed", "0", "simulator episode seed"),
    ("autostart", "true", "configure and activate the managed policy and executor nodes at start-up (false: a "
                          "lifecycle manager or `ros2 lifecycle set` decides when the robot may move)"),
    ("teleop", "", "start the teleop node: leader (leader arms' joint states) or twist (end-effector twist from a "
                   "keyboard or SpaceMouse); it drives while /pi_vla/intervention is true"),
)


def node_class(executable: str):
    module, cls = NODE_CLASSES[executable].split(":")
    return getattr(__import__(module, fromlist=[cls]), cls)


@dataclass(frozen=True)
class NodeLaunch:
    executable: str
    name: str
    params_file: Path
    overrides: dict = field(default_factory=dict)   # what is layered on top of params_file

    def parameters(self) -> dict:
        """The node's effective parameters (file section + overrides)."""
        return {**load_params_file(self.params_file).get(self.name, {}), **self.overrides}


def load_params_file(path: Path) -> dict[str, dict]:
    """node name -> parameters, from a ROS 2 parameter file (``/**`` applies to every node)."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    out: dict[str, dict] = {}
    wildcard = (raw.get("/**") or {}).get("ros__parameters", {})
    for key, section in raw.items():
        if key != "/**":
            out[key.lstrip("/")] = {**wildcard, **(section or {}).get("ros__parameters", {})}
    return out


def _as_bool(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def graph(robot: str, **args) -> list[NodeLaunch]:
    """The nodes to start for ``robot`` given launch arguments (names as in LAUNCH_ARGUMENTS)."""
    args = {name: args.get(name, default) for name, default, _ in LAUNCH_ARGUMENTS} | args
    sim = _as_bool(args["sim"])
    use_sim_time = sim if args["use_sim_time"] in ("", None) else _as_bool(args["use_sim_time"])
    profile_ref = str(args["profile"] or robot)
    profile = load_profile(profile_ref)
    params_file = Path(args["params_file"]) if args["params_file"] else share_dir() / "config" / "nodes.yaml"
    per_robot = profile.raw.get("nodes") or {}

    def node(executable: str, **overrides) -> NodeLaunch:
        layered = {"use_sim_time": use_sim_time, **per_robot.get(executable, {}), **overrides}
        return NodeLaunch(executable, executable, params_file, layered)

    autostart = _as_bool(args["autostart"])
    policy_args = {"profile": profile_ref, "allow_untrained": _as_bool(args["allow_untrained"]), "autostart": autostart}
    if args["policy"]:
        policy_args["policy"] = args["policy"]
    if args["checkpoint"]:
        policy_args["checkpoint"] = str(args["checkpoint"])
    nodes = [
        node("pi_vla_observation", profile=profile_ref),
        node("pi_vla_policy", **policy_args),
        node("pi_vla_executor", profile=profile_ref, autostart=autostart),
        # no clock of its own to follow: it has no timers, and every /clock message would wake it (100 Hz)
        NodeLaunch("pi_vla_instruction", "pi_vla_instruction", params_file,
                   dict(per_robot.get("pi_vla_instruction", {}))),
    ]
    if args["teleop"]:
        nodes.append(node("pi_vla_teleop", profile=profile_ref, mode=str(args["teleop"])))
    if sim:  # the simulator is the clock source: it runs on its own steady clock
        nodes.insert(0, NodeLaunch("pi_vla_sim", "pi_vla_sim", params_file,
                                   {"use_sim_time": False, **per_robot.get("pi_vla_sim", {}),
                                    "profile": profile_ref, "seed": int(args["seed"])}))
    return nodes


def robot_description(robot: str, profile: str = "") -> str:
    return load_profile(profile or robot).urdf_xml()


__all__ = ["graph", "NodeLaunch", "LAUNCH_ARGUMENTS", "NODE_CLASSES", "node_class", "load_params_file",
           "robot_description", "profile_path"]
