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

"""The launch files, checked without ROS 2: launch/launch_ros are replaced by recorders.

For every robot and for sim true/false: each Node's executable is a console script of setup.py (or
robot_state_publisher), its parameter files exist, and every parameter it sets is declared by its node.
"""

import ast
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from pi_vla_ros.graph import NODE_CLASSES, node_class

ROOT = Path(__file__).resolve().parents[2]
ROBOTS = ("ur5e", "bimanual", "mobile_manipulator")


def _console_scripts() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == "console_scripts":
                    return {ast.literal_eval(e).split("=")[0].strip() for e in v.elts}
    raise AssertionError("no console_scripts in setup.py")


class _Recorder:

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


@pytest.fixture
def fake_launch(monkeypatch):
    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda entities: list(entities)
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = type("DeclareLaunchArgument", (_Recorder,), {})
    actions.OpaqueFunction = type("OpaqueFunction", (_Recorder,), {})
    actions.LogInfo = type("LogInfo", (_Recorder,), {})
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = type("Node", (_Recorder,), {})
    for name, mod in {"launch": launch, "launch.actions": actions, "launch_ros": launch_ros,
                      "launch_ros.actions": ros_actions}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "pi_vla_ros.launch_support", raising=False)
    import pi_vla_ros.launch_support as support
    monkeypatch.setattr(support, "have_package", lambda name: True)   # as on a full ROS 2 install
    return ros_actions.Node


def _run_launch_file(robot: str, arguments: dict):
    spec = importlib.util.spec_from_file_location(f"{robot}_launch", ROOT / "launch" / f"{robot}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = module.generate_launch_description()
    declared = {e.args[0]: e.kwargs
                for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    for required in ("sim", "policy", "checkpoint", "profile"):
        assert required in declared, f"{robot}.launch.py lacks launch argument {required}"
    configs = {name: kw["default_value"] for name, kw in declared.items()} | arguments
    context = types.SimpleNamespace(launch_configurations=configs)
    opaque = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    return [n for o in opaque for n in o.kwargs["function"](context, **o.kwargs.get("kwargs", {}))]


def _nodes_only(entities):
    return [e for e in entities if type(e).__name__ == "Node"]


@pytest.mark.parametrize("robot", ROBOTS)
@pytest.mark.parametrize("sim", ["true", "false"])
def test_launch_file_nodes(fake_launch, robot, sim):
    nodes = _nodes_only(_run_launch_file(robot, {"sim": sim}))
    scripts = _console_scripts()
    executables = [n.kwargs["executable"] for n in nodes]
    assert ("pi_vla_sim" in executables) == (sim == "true")
    assert {"pi_vla_observation", "pi_vla_policy", "pi_vla_executor", "pi_vla_instruction",
            "robot_state_publisher"} <= set(executables)
    for node in nodes:
        kw = node.kwargs
        if kw["executable"] == "robot_state_publisher":
            assert "<robot" in kw["parameters"][0]["robot_description"]
            continue
        assert kw["package"] == "pi_vla_ros" and kw["executable"] in scripts
        declared = set(node_class(kw["executable"]).PARAMETERS) | {"use_sim_time"}
        for entry in kw["parameters"]:
            if isinstance(entry, str):
                path = Path(entry)
                assert path.exists(), f"parameter file {path} does not exist"
                section = yaml.safe_load(path.read_text()).get(kw["name"], {}).get("ros__parameters", {})
            else:
                section = entry
            undeclared = set(section) - declared
            assert not undeclared, f"{kw['executable']} sets undeclared parameters {undeclared}"


def test_robot_state_publisher_is_optional(fake_launch, monkeypatch):
    import pi_vla_ros.launch_support as support

    monkeypatch.setattr(support, "have_package", lambda name: name != "robot_state_publisher")
    entities = _run_launch_file("bimanual", {"sim": "true"})
    executables = [e.kwargs["executable"] for e in entities if type(e).__name__ == "Node"]
    assert "robot_state_publisher" not in executables and "pi_vla_policy" in executables
    warnings = [e.kwargs["msg"] for e in entities if type(e).__name__ == "LogInfo"]
    assert len(warnings) == 1 and "robot_state_publisher is not installed" in warnings[0]


@pytest.mark.parametrize("autostart", ["true", "false"])
def test_autostart_reaches_the_managed_nodes(fake_launch, autostart):
    nodes = {n.kwargs["executable"]: n for n in _run_launch_file("ur5e", {"autostart": autostart})
             if type(n).__name__ == "Node"}
    for managed in ("pi_vla_policy", "pi_vla_executor"):
        assert nodes[managed].kwargs["parameters"][1]["autostart"] is (autostart == "true")


def test_every_node_class_is_a_console_script():
    assert set(NODE_CLASSES) <= _console_scripts()


@pytest.mark.parametrize("mode", ["leader", "twist"])
@pytest.mark.parametrize("robot", ROBOTS)
def test_teleop_argument_starts_the_teleop_node(fake_launch, robot, mode):
    nodes = {n.kwargs["executable"]: n for n in _nodes_only(_run_launch_file(robot, {"sim": "true", "teleop": mode}))}
    teleop = nodes["pi_vla_teleop"].kwargs
    assert teleop["executable"] in _console_scripts() and teleop["name"] == "pi_vla_teleop"
    assert teleop["parameters"][1]["mode"] == mode and teleop["parameters"][1]["profile"] == robot
    assert set(teleop["parameters"][1]) <= set(node_class("pi_vla_teleop").PARAMETERS) | {"use_sim_time"}
    assert "pi_vla_executor" in nodes    # teleop drives through the executor, never beside it
    without = _nodes_only(_run_launch_file(robot, {"sim": "true"}))
    assert "pi_vla_teleop" not in [n.kwargs["executable"] for n in without]
