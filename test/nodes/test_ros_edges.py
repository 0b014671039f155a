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

"""ROS stays at the edges: nodes reach ROS only through pi_vla_ros.ros (so real rclpy works unchanged),
and nothing below the node layer imports ROS at all.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "pi_vla_ros"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nodes_use_only_the_ros_switch():
    for path in (PKG / "nodes").glob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("rclpy", "pi_vla_ros.ros.seam", "sensor_msgs", "std_msgs"))}
        assert not bad, f"{path.name} imports {bad}: use pi_vla_ros.ros"


def test_lower_layers_are_ros_free():
    for sub in ("core", "policies", "models", "sim"):
        for path in (PKG / sub).rglob("*.py"):
            bad = {m for m in _imports(path) if m.startswith(("rclpy", "pi_vla_ros.ros", "pi_vla_ros.nodes"))}
            assert not bad, f"{path.relative_to(PKG)} imports {bad}"
