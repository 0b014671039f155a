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

"""pi-vla bench subtask: a hierarchical checkpoint's subtask text against a dataset's per-frame annotations."""

import numpy as np
import pytest

from pi_vla_ros.benchmarks.subtask_fit import score, subtask_fit
from pi_vla_ros.policies.pi0.policy import Pi0Policy
from pi_vla_ros.training.trainer import TrainConfig, train
from test.training.conftest import write_dataset

SUBTASKS = ("reach for the cube", "lift the cube")


def test_score_splits_by_subtask_and_by_distance_to_a_change():
    labels = ["a"] * 5 + ["b"] * 5
    predicted = ["a", "a", "a", "a", "b", "b", "b", "b", "b", "b"]   # one frame early at the change
    report = score(labels, predicted, [0.9] * 9 + [0.4], np.zeros(10, int), np.arange(10), fps=1.0, boundary_s=1.0)
    assert report["accuracy"] == 0.9 and report["episodes_all_right"] == 0
    assert report["by_subtask"]["1"] == {"frames": 5, "accuracy": 0.8, "meant_accuracy": 0.8}
    assert report["away_from_change"]["accuracy"] == 1.0 and report["away_from_change"]["frames"] == 7
    assert report["within_1s_of_change"]["accuracy"] == round(2 / 3, 4)   # frames 4, 5 and 6 are within 1 s
    assert report["top_confusions"] == [{"annotation": "a", "predicted": "b", "frames": 1}]
    assert report["confidence_wrong"] == 0.9


def test_a_subtask_in_other_words_is_still_the_one_meant():
    labels = ["put the red cube in the bowl"] * 2 + ["put the blue cube in the bowl"] * 2
    predicted = ["put the red block in the bowl", "put the blue block in the bowl", "put the blue cube in the bowl",
                 "put the red cube in the bowl"]
    report = score(labels, predicted, [1.0] * 4, np.zeros(4, int), np.arange(4), fps=1.0)
    assert report["accuracy"] == 0.25 and report["meant_accuracy"] == 0.5


@pytest.fixture(scope="module")
def hier(tmp_path_factory):
    root = tmp_path_factory.mktemp("subtask")
    data, ckpt = root / "data", root / "hier"
    write_dataset(data, subtasks=SUBTASKS, tasks=(" and then ".join(SUBTASKS),))
    train(TrainConfig(policy="pi05_hier_tiny", dataset=str(data), out=str(ckpt), steps=2, batch_size=4,
                      warmup_steps=1, progress=False, threads=1, precision="fp32", freeze_vlm=False),
          log_fn=lambda *_: None)
    return data, ckpt


def test_subtask_fit_decodes_every_nth_frame_and_scores_it(hier, monkeypatch):
    data, ckpt = hier
    report = subtask_fit(str(ckpt), str(data), every=5)
    assert report["frames"] == 2 * 6 and report["episodes"] == 2      # 30 frames an episode, every 5th
    assert report["decoding"] == "among the task's steps" and report["accuracy"] == report["meant_accuracy"]
    assert all(c["predicted"] in SUBTASKS for c in report["top_confusions"])       # only ever one of the steps
    free = subtask_fit(str(ckpt), str(data), every=5, from_steps=False)
    assert free["decoding"] == "free text" and 0.0 <= free["accuracy"] <= free["meant_accuracy"] <= 1.0
    # a model that always says the first subtask is right on exactly the first half of every episode
    monkeypatch.setattr(Pi0Policy, "predict_subtask", lambda self, batch, choices=(): (SUBTASKS[0], 1.0))
    always_first = subtask_fit(str(ckpt), str(data), every=5)
    assert always_first["accuracy"] == 0.5
    assert always_first["by_subtask"]["1"]["accuracy"] == 1.0 and always_first["by_subtask"]["2"]["accuracy"] == 0.0


def test_subtask_fit_names_what_it_cannot_score(hier, tmp_path):
    data, ckpt = hier
    flow_only = tmp_path / "pi0"
    train(TrainConfig(policy="pi0_tiny", dataset=str(data), out=str(flow_only), steps=1, batch_size=4,
                      warmup_steps=1, progress=False, threads=1, precision="fp32"), log_fn=lambda *_: None)
    with pytest.raises(ValueError, match="does not predict subtasks"):
        subtask_fit(str(flow_only), str(data))
    with pytest.raises(ValueError, match="not a LeRobot dataset"):
        subtask_fit(str(ckpt), str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="every must be"):
        subtask_fit(str(ckpt), str(data), every=0)
