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

"""`pi-vla eval --multi-step / --hierarchical / --override-next`: the multi-step task with the scripted expert (where
the annotations come from), a tiny random-weight hierarchical π0.5 scored per frame, a person's override, refusals.
"""

import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.cli import main  # noqa: E402
from pi_vla_ros.evaluation.closed_loop import evaluate  # noqa: E402
from pi_vla_ros.models.fast import FastTokenizer  # noqa: E402
from pi_vla_ros.policies.pi0 import Pi0Policy  # noqa: E402
from pi_vla_ros.policies.registry import get_config  # noqa: E402
from pi_vla_ros.profiles import load_profile  # noqa: E402

PROFILE = "ur5e"   # one arm: the cheapest scene to step and render
QUIET = dict(seed=100000, progress=False, log=lambda *_: None, media_episodes=0)


def _checkpoint(path, name):
    prof = load_profile(PROFILE)
    fast = None
    if get_config(name).fast_tokens:   # a FAST tokenizer fitted on smooth random chunks, as training would
        rng = np.random.default_rng(0)
        t = np.linspace(0, 1, 50)[None, :, None]
        dim = (100, 1, prof.action_dim)
        fast = FastTokenizer.fit(rng.uniform(0.1, 0.5, dim) * np.sin(2 * np.pi * rng.uniform(0.2, 1, dim) * t),
                                 vocab_size=512)
    Pi0Policy.build(get_config(name), prof, fast=fast, seed=0).save_pretrained(path)
    return str(path)


def test_expert_does_the_whole_sequence():
    report = evaluate(PROFILE, "expert", 1, multi_step=True, **QUIET)
    ep = report["per_episode"][0]
    assert report["multi_step"] and not report["hierarchical"] and report["success_rate"] == 1.0
    assert ep["subtasks_done"] == report["subtasks_done"] == report["subtasks_total"] == len(ep["subtasks"]) == 2
    assert ep["success_in_order"] and len(set(ep["placed_order"])) == 2
    assert ep["placed_order"][-1] == ep["target_object"]     # the last subtask's cube
    assert "subtask_accuracy" not in report   # no policy, no predictions


def test_hierarchical_policy_is_scored_per_frame_and_a_person_overrides(tmp_path):
    ckpt = _checkpoint(tmp_path / "ckpt", "pi05_hier_tiny")
    report = evaluate(PROFILE, ckpt, 1, override_next=True, hierarchical=True, time_limit_s=2.0,
                      out_dir=tmp_path / "out", **QUIET)
    ep = report["per_episode"][0]
    assert report["policy"] == "pi05_hier_tiny" and report["hierarchical"] and report["multi_step"]
    assert ep["subtask_messages"] == report["subtask_messages"] >= 2          # a chunk every 0.5 s, each with one
    by_source = report["subtask_by_source"]
    assert {"predicted", "instruction"} <= set(by_source) <= {"predicted", "reused", "instruction"}
    own = sum(by_source[s]["frames"] for s in ("predicted", "reused") if s in by_source)
    assert report["subtask_frames"] == own and own + by_source["instruction"]["frames"] <= 100   # 2 s of 0.02 s ticks
    assert 0.0 <= report["subtask_accuracy"] <= 1.0 and all(0.0 <= v["accuracy"] <= 1.0 for v in by_source.values())
    assert by_source["instruction"]["correct"] == by_source["instruction"]["meant"] == 0   # named the second subtask
    assert report["subtask_accuracy"] <= report["subtask_meant_accuracy"] <= 1.0   # every exact match is meant too
    override = ep["override"]
    assert override["line"] == ep["subtasks"][1] and override["at_s"] == 1.0 and override["cleared_at_s"] is None
    assert not override["followed"] and not ep["success"] and ep["placed_order"] == []    # random weights, 2 s
    assert report["override"] == {"at_s": 1.0, "episodes": 1, "followed": 0, "all_placed": 0,
                                  "followed_and_all_placed": 0}
    assert json.loads((tmp_path / "out" / "eval.json").read_text())["subtask_accuracy"] == report["subtask_accuracy"]


def test_hierarchical_needs_a_policy_that_predicts_subtasks(tmp_path, capsys):
    plain = _checkpoint(tmp_path / "plain", "pi05_tiny")
    with pytest.raises(ValueError, match="pi05_tiny does not"):
        evaluate(PROFILE, plain, 1, hierarchical=True, **QUIET)
    with pytest.raises(ValueError, match="scripted expert does not"):
        evaluate(PROFILE, "expert", 1, hierarchical=True, **QUIET)
    with pytest.raises(ValueError, match="override_next needs hierarchical"):
        evaluate(PROFILE, plain, 1, override_next=True, **QUIET)
    assert main(["eval", "--profile", PROFILE, "--policy", plain, "--episodes", "1", "--override-next"]) == 2
    err = capsys.readouterr().err
    assert "predicts subtasks" in err and "Traceback" not in err
