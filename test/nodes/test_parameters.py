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

"""Node parameters: descriptors (description, range, read-only), validation with one clear error per problem."""

import pytest

from pi_vla_ros.graph import NODE_CLASSES, node_class
from pi_vla_ros.nodes.common import Param, declare
from pi_vla_ros.ros import Node, Parameter
from pi_vla_ros.runner import isolated_context


@pytest.fixture
def context():
    ctx = isolated_context()
    yield ctx
    ctx.try_shutdown()


def _node(context, **overrides):
    return Node("param_test", context=context,
                parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


PARAMS = {"rate": Param(50.0, "a rate", (1.0, 100.0)), "steps": Param(25, "steps", (1, 50)),
          "mode": Param("a", "a mode", choices=("a", "b")), "flag": Param(False, "a flag")}


def test_every_graph_parameter_is_described():
    for executable in NODE_CLASSES:
        for name, spec in node_class(executable).PARAMETERS.items():
            assert isinstance(spec, Param) and len(spec.description) > 5, (executable, name)


def test_descriptors_and_values(context):
    node = _node(context, rate=20, steps=3)            # an int for a float parameter is fine (YAML writes 20)
    p = declare(node, PARAMS)
    assert p.rate == 20.0 and isinstance(p.rate, float) and p.steps == 3 and p.mode == "a" and p.flag is False
    d = node.describe_parameter("rate")
    assert d.description == "a rate" and d.read_only and d.floating_point_range[0].to_value == 100.0
    assert node.describe_parameter("steps").integer_range[0].from_value == 1
    assert "a, b" in node.describe_parameter("mode").additional_constraints
    # read-only: a later `ros2 param set` is refused, not silently ignored
    result = node.set_parameters([Parameter("rate", value=30.0)])[0]
    assert not result.successful and node.get_parameter("rate").value == 20.0
    node.destroy_node()


@pytest.mark.parametrize("overrides, message", [
    ({"rate": "fast"}, "'rate' must be float"),
    ({"steps": 2.5}, "'steps' must be int"),
    ({"steps": 99}, "'steps': .*out of range"),
    ({"rate": 0.5}, "'rate': .*out of range"),
    ({"mode": "c"}, "must be one of ['a', 'b']"),
    ({"flag": "yes"}, "'flag' must be bool"),
])
def test_bad_values_are_one_clear_error(context, overrides, message):
    node = _node(context, **overrides)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        declare(node, PARAMS)
    node.destroy_node()


def test_graph_node_refuses_a_bad_parameter(make_graph):
    with pytest.raises(ValueError, match="inference_mode"):
        make_graph("ur5e", overrides={"pi_vla_policy": {"inference_mode": "telepathy"}})
