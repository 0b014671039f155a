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

"""How well a hierarchical checkpoint names the subtask on recorded frames: `pi-vla bench subtask`.

The closed-loop figure (`pi-vla eval --hierarchical`) mixes two things: whether the subtask is read right from the
scene, and whether the policy's own actions put the scene where the demonstrations never went. This one scores
the first alone: on a dataset's frames (held-out VI episodes, the person's annotation at each frame) the policy
decodes the subtask from the task prompt and the observation exactly as at inference, and the text is compared
with the annotation. Frames near a change of annotation are reported apart: the person's "next" comes a little
after the scene changed, so there the annotation itself is late.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from pi_vla_ros.core.instructions import nearest_subtask, split_subtasks


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def score(labels: list[str], predicted: list[str], confidence: list[float], episode: np.ndarray, frame: np.ndarray,
          fps: float, boundary_s: float = 0.5) -> dict:
    """Per-frame accuracy of `predicted` against `labels`.

    Overall, by the label's place in its episode (first, second, ... subtask) and away from / near (within
    boundary_s of) a change of label. ``meant_accuracy``: the prediction is nearer in words to the frame's label
    than to the episode's other labels (it names the right subtask, perhaps in other words: "block" for "cube").
    """
    episode, frame = np.asarray(episode), np.asarray(frame)
    right = np.array([_same(p, t) for p, t in zip(predicted, labels)], bool)
    meant, order, near = (np.zeros(len(labels), t) for t in (bool, int, bool))
    for e in np.unique(episode):
        idx = np.flatnonzero(episode == e)
        candidates = sorted({labels[i] for i in idx})
        meant[idx] = [nearest_subtask(predicted[i], candidates) == labels[i] for i in idx]
        idx = idx[np.argsort(frame[idx])]
        changes = [frame[i] for k, i in enumerate(idx[1:], 1) if labels[i] != labels[idx[k - 1]]]
        place = 0
        for k, i in enumerate(idx):
            place += k > 0 and labels[i] != labels[idx[k - 1]]
            order[i] = place
            near[i] = any(abs(frame[i] - c) <= boundary_s * fps for c in changes)
    conf = np.asarray(confidence, float)
    wrong = Counter((t, p) for t, p, r in zip(labels, predicted, right) if not r)

    def share(mask):
        if not mask.any():
            return {"frames": 0, "accuracy": None, "meant_accuracy": None}
        return {"frames": int(mask.sum()), "accuracy": round(float(right[mask].mean()), 4),
                "meant_accuracy": round(float(meant[mask].mean()), 4)}

    return {"frames": len(labels), "accuracy": round(float(right.mean()), 4) if len(labels) else None,
            "meant_accuracy": round(float(meant.mean()), 4) if len(labels) else None,
            "by_subtask": {str(k + 1): share(order == k) for k in range(int(order.max()) + 1 if len(labels) else 0)},
            "away_from_change": share(~near), f"within_{boundary_s:g}s_of_change": share(near),
            "confidence_right": round(float(conf[right].mean()), 4) if right.any() else None,
            "confidence_wrong": round(float(conf[~right].mean()), 4) if (~right).any() else None,
            "episodes_all_right": int(sum(right[episode == e].all() for e in np.unique(episode))),
            "episodes": int(len(np.unique(episode))),
            "top_confusions": [{"annotation": t, "predicted": p, "frames": n} for (t, p), n in wrong.most_common(5)]}


def subtask_fit(checkpoint: str, dataset: str, *, profile: str | None = None, episodes: int | None = None,
                every: int = 10, boundary_s: float = 0.5, from_steps: bool = True) -> dict:
    """Decode the subtask on every `every`-th frame of the dataset's first `episodes` episodes (all by default);
    from_steps: chosen among the task's steps where it has several, as the policy node does by default.
    """
    import torch

    from pi_vla_ros.benchmarks.flow_fit import load_for_dataset
    from pi_vla_ros.training.data import load_frames, policy_image_size

    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    name, prof, policy = load_for_dataset(checkpoint, dataset, profile)
    if not getattr(policy.config, "subtask", False):
        raise ValueError(f"{checkpoint}: {name} does not predict subtasks (its config has subtask=False)")
    frames = load_frames(dataset, prof, policy.config, only_success=False,
                         episodes=None if episodes is None else list(range(episodes)))
    if not any(frames.subtask):
        raise ValueError(f"{dataset}: no subtask annotations to score against")
    first = {e: int(np.flatnonzero(frames.episode_index == e)[0]) for e in frames.episodes}
    picked = [i for i in range(len(frames.states)) if frames.subtask[i]
              and (i - first[int(frames.episode_index[i])]) % every == 0]
    images, keys = frames.images[policy_image_size(policy.config)], list(policy.config.image_keys)
    predicted, confidence = [], []
    policy.model.eval()
    with torch.no_grad():
        for i in picked:
            sample = {"images": {k: images[frames.image_index[i], j].transpose(1, 2, 0) for j, k in enumerate(keys)
                                 if frames.slot_present[j]},
                      "state": frames.states[i], "prompt": frames.tasks[frames.task_index[i]], "advantage": None}
            steps = tuple(split_subtasks(sample["prompt"])) if from_steps else ()
            text, conf = policy.predict_subtask(policy.processor([sample]), steps)
            predicted.append(text)
            confidence.append(conf)
    frame_in_episode = np.array([i - first[int(frames.episode_index[i])] for i in picked])
    report = score([frames.subtask[i] for i in picked], predicted, confidence, frames.episode_index[picked],
                   frame_in_episode, prof.policy_rate_hz, boundary_s)  # frames are policy steps (check_fps)
    return {"checkpoint": str(checkpoint), "policy": name, "dataset": str(dataset), "every": every,
            "decoding": "among the task's steps" if from_steps else "free text"} | report


def run(checkpoint: str, dataset: str, out: str | None = None, **kw) -> dict:
    report = subtask_fit(checkpoint, dataset, **kw)
    near = next(k for k in report if k.startswith("within_"))
    print(f"{checkpoint} ({report['policy']}): subtask word for word on {report['accuracy']:.1%} of "
          f"{report['frames']} frames, the right one meant on {report['meant_accuracy']:.1%} "
          f"({report['away_from_change']['meant_accuracy']} away from a change, {report[near]['meant_accuracy']} "
          f"near one); {report['episodes_all_right']}/{report['episodes']} episodes word for word at every frame")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=1))
    return report
