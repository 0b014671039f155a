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
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = type("Node", (_Recorder,), {})
    for name, mod in {"launch": launch, "launch.actions": actions, "launch_ros": launch_ros,
                      "launch_ros.actions": ros_actions}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "pi_vla_ros.launch_support", raising=False)
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


@pytest.mark.parametrize("robot", ROBOTS)
@pytest.mark.parametrize("sim", ["true", "false"])
def test_launch_file_nodes(fake_launch, robot, sim):
    nodes = _run_launch_file(robot, {"sim": sim})
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


def test_every_node_class_is_a_console_script():
    assert set(NODE_CLASSES) <= _console_scripts()
