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

"""The policy node's hierarchical mode in the graph (lockstep simulated time): the subtask is predicted at the
configured cadence, published with the task and a confidence, and a person's instruction overrides it.
"""

import json

from pi_vla_ros.nodes.common import LATCHED_QOS
from pi_vla_ros.ros import msgs

from .conftest import Tap

TASK = "put the red cube in the bowl"


def test_hierarchical_mode_publishes_the_subtask_and_a_person_overrides_it(make_graph):
    run = make_graph("bimanual", policy="pi05_hier_tiny", skip=("pi_vla_instruction",),
                     overrides={"pi_vla_policy": {"task": TASK, "subtask_period_s": 0.6}})
    tap = Tap(run, {"/pi_vla/subtask": msgs.String})
    run.spin_until(2.5)
    got = [json.loads(m.data) for _, m in tap.messages["/pi_vla/subtask"]]
    assert got and all(m["task"] == TASK and 0.0 <= m["confidence"] <= 1.0 for m in got)
    assert got[0]["source"] == "predicted" and {m["source"] for m in got} == {"predicted", "reused"}
    predicted = [m["stamp"] for m in got if m["source"] == "predicted"]
    assert len(predicted) >= 2 and min(b - a for a, b in zip(predicted, predicted[1:])) >= 0.6 - 1e-6
    node = run.node("pi_vla_policy")
    assert {c["prompt"] for c in node.chunk_log} == {TASK}
    pub = tap.node.create_publisher(msgs.String, "/pi_vla/language", LATCHED_QOS)
    pub.publish(msgs.String(data=TASK))      # the task itself (a sim or instruction node saying it) is no override
    run.spin_for(0.5)
    pub.publish(msgs.String(data="pick up the red cube"))
    n = len(tap.messages["/pi_vla/subtask"])
    run.spin_for(1.0)
    later = [json.loads(m.data) for _, m in tap.messages["/pi_vla/subtask"][n:]]
    assert later[-1] == {**later[-1], "source": "instruction", "subtask": "pick up the red cube", "confidence": 1.0}
    assert node.rejections.counter.total() == 0


def test_a_task_of_several_steps_has_its_subtask_chosen_among_them(make_graph):
    steps = ["pick up the red cube and put it in the bowl", "pick up the blue cube and put it in the bowl"]
    run = make_graph("bimanual", policy="pi05_hier_tiny", skip=("pi_vla_instruction",),
                     overrides={"pi_vla_policy": {"task": " and then ".join(steps), "subtask_period_s": 0.0}})
    tap = Tap(run, {"/pi_vla/subtask": msgs.String})
    run.spin_until(2.0)
    got = [json.loads(m.data) for _, m in tap.messages["/pi_vla/subtask"]]
    assert got and all(m["subtask"] in steps and m["source"] == "predicted" and 0 < m["confidence"] <= 1 for m in got)


def test_a_task_on_the_task_topic_holds_until_the_episode_is_reset(make_graph):
    run = make_graph("ur5e", policy="pi05_hier_tiny", skip=("pi_vla_instruction",))
    tap = Tap(run, {"/pi_vla/subtask": msgs.String})
    run.spin_until(1.0)
    assert tap.messages["/pi_vla/subtask"] == []     # no task: a plain policy waiting for language
    tap.node.create_publisher(msgs.String, "/pi_vla/task", LATCHED_QOS).publish(msgs.String(data=TASK))
    run.spin_until(2.5)
    got = [json.loads(m.data) for _, m in tap.messages["/pi_vla/subtask"]]
    node = run.node("pi_vla_policy")
    assert got and got[0]["source"] == "predicted" and {m["task"] for m in got} == {TASK} and node.task == TASK
    run.reset_episode(1)
    assert node.task == "" and node._subtask is None    # the next episode's task comes with it


def test_fast_tokens_that_are_no_chunk_are_counted_as_such(make_graph):
    run = make_graph("bimanual", policy="pi0_fast_tiny")   # untrained: no FAST tokenizer, so never a chunk
    run.spin_until(2.0)
    counts = run.node("pi_vla_policy").rejections.counter.as_dict()
    assert counts.get("inference_error", 0) == 0 and counts.get("invalid_action_tokens", 0) > 0, counts


def test_a_prompt_cut_to_max_tokens_is_counted_and_warned_until_a_shorter_one_comes(make_graph):
    run = make_graph("ur5e", policy="pi0_tiny", skip=("pi_vla_instruction",),
                     overrides={"pi_vla_policy": {"diagnostics_period_s": 0.25}})
    tap = Tap(run, {"/diagnostics": msgs.DiagnosticArray})
    node = run.node("pi_vla_policy")
    pub = tap.node.create_publisher(msgs.String, "/pi_vla/language", LATCHED_QOS)
    pub.publish(msgs.String(data=" and then ".join([TASK] * 8)))     # well over pi0_tiny's 48 tokens
    run.spin_until(2.0)

    def last_status():
        return [s for _, m in tap.messages["/diagnostics"] for s in m.status if s.name == "pi_vla_policy"][-1]

    assert node.truncated_prompts > 0 and "max_tokens" in last_status().message
    assert {v.key: v.value for v in last_status().values}["truncated_prompts"] == str(node.truncated_prompts)
    pub.publish(msgs.String(data=TASK))
    run.spin_for(2.0)
    cut = node.truncated_prompts
    run.spin_for(1.0)
    assert node.truncated_prompts == cut and last_status().message == "running"
