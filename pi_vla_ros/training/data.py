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

"""Training data from a LeRobot dataset, held in memory, and the batches the training loop draws from it.

:class:`TrainingData` reads every frame once (numeric columns, and the camera videos decoded in order), keeps
the frames of the chosen episodes, and stores each camera image already resized with padding to the model's
resolution as uint8 -- the same ``resize_with_pad`` the processor applies at inference, done once. Consecutive
frames whose decoded images are identical (cameras run slower than the frame rate) share one stored image.

A sample is a frame: its images, state and task, and the action chunk of the next H frames (padded past the
episode's end, the padding masked out of the loss). Frames of a superseded attempt -- a subtask that was started
again later in the episode, e.g. a missed grasp before its retry -- are marked, so a trainer can imitate the
recovery without imitating the miss (:func:`superseded_attempts`); so are a corrected rollout's frames before the
correction took over (:func:`corrected_before_takeover`). Norm stats come from the same samples: the
state over all frames, the actions over every model-space (delta) chunk element.

Batch sources:

* :class:`ProcessorBatches` -- any policy: builds sample dicts and runs the policy's processor (what serving does).
* :class:`CachedPrefixBatches` -- π0.6 with a frozen VLM: the VLM's output for a frame never changes, so it is
  computed once per distinct (images, prompt) and stored (bf16); the expert (and an observation encoder, if any)
  train on the cache. Exactly the same numbers as running the frozen VLM in every step, at a fraction of the cost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)
IMAGE_PREFIX = "observation.images."


@dataclass
class Frames:
    """All kept frames, concatenated in episode order."""

    states: np.ndarray          # [N, S] float32
    actions: np.ndarray         # [N, A] float32 (absolute, the dataset's action layout)
    episode_end: np.ndarray     # [N] index one past the last frame of the frame's episode
    task_index: np.ndarray      # [N] into tasks
    image_index: np.ndarray     # [N] into images (one stored image set per distinct frame)
    tasks: list[str]
    images: dict[int, np.ndarray]   # image size -> uint8 [U, n_slots, 3, size, size]
    slot_present: np.ndarray    # [n_slots] bool: the dataset has a camera for the slot
    episodes: list[int]         # dataset episode indices kept
    rows: np.ndarray            # [N] the frame's global dataset index (the "index" column)
    episode_index: np.ndarray   # [N] the frame's dataset episode index
    success: np.ndarray         # [N] bool: the frame's episode ended in success (unknown counts as success)
    intervention: np.ndarray    # [N] bool: a human (or the expert) had taken over at this frame
    subtask: list[str] | None = None   # [N] the subtask annotation active at the frame ("" where none)
    superseded: np.ndarray | None = None   # [N] bool: the frame is in an attempt at a subtask started again later
    corrected: np.ndarray | None = None    # [N] bool: the policy drove this frame of an episode it was corrected in


def policy_image_size(config) -> int:
    return int(getattr(config, "image_size", 0) or config.model.image_size)


def episode_success(ds, e: int) -> bool | None:
    """Whether episode ``e`` (its row in ``ds.episodes``) succeeded, from the standard per-frame ``next.success``:
    True if any frame says so, False if none does; None (unknown) when the dataset has no such column, as many
    LeRobot demonstration datasets do, which training treats as demonstrations (successful).
    """
    if "next.success" not in ds.columns:
        return None
    return bool(np.any(ds.columns["next.success"][slice(*_bounds(ds, e))]))


def feature_names(ft: dict | None) -> list[str] | None:
    """A feature's ``names`` as one flat list, in any form LeRobot writes: a list, ``{"motors": [...]}`` (groups
    concatenated in order), or nested lists. None when the dataset gives none.
    """
    names = (ft or {}).get("names")
    if not names:
        return None
    if isinstance(names, dict):
        names = [n for group in names.values() for n in (group if isinstance(group, (list, tuple)) else [group])]
    flat: list[str] = []
    for n in names:
        if isinstance(n, (list, tuple)):
            flat.extend(str(x) for x in n)
        else:
            flat.append(str(n))
    return flat


def _bare(name: str) -> str:
    return name[:-len(".pos")] if name.endswith(".pos") else name


def column_order(ds, key: str, wanted: list[str], profile_name: str,
                 joint_map: dict[str, str] | None = None) -> np.ndarray | None:
    """Column indices that put the dataset's ``key`` vector into the profile's layout ``wanted`` (None: it is).

    Names match exactly up to LeRobot's ``.pos`` suffix (``shoulder_pan.pos`` is ``shoulder_pan``), in any order,
    after ``joint_map`` (dataset name, with or without ``.pos`` -> profile name); a dataset without names must have
    the profile's width. Anything else is an error naming both lists.
    """
    width = int(np.prod(ds.features[key]["shape"]))
    names = feature_names(ds.features[key])
    if names is None:
        if width != len(wanted):
            raise ValueError(f"dataset {key!r} has {width} unnamed values, profile {profile_name!r} has "
                             f"{len(wanted)}: {wanted}")
        log.warning("dataset %r has no names: taking its %d columns as profile %r's %s", key, width, profile_name,
                    wanted)
        return None
    joint_map = joint_map or {}
    bare = [joint_map.get(n, joint_map.get(_bare(n), _bare(n))) for n in names]
    if bare == list(wanted):
        return None
    if len(names) == width and sorted(bare) == sorted(wanted) and len(set(bare)) == len(bare):
        return np.array([bare.index(n) for n in wanted])
    raise ValueError(f"dataset {key!r} names {names} do not match profile {profile_name!r}'s {list(wanted)} "
                     f"(missing {[n for n in wanted if n not in bare]}, unexpected "
                     f"{[n for n, b in zip(names, bare) if b not in wanted]}); names are matched exactly, in any "
                     "order, ignoring a '.pos' suffix; map others with --joint-map DATASET_NAME=PROFILE_JOINT")


def camera_sources(ds, profile, camera_map: dict[str, str] | None = None) -> dict[str, str]:
    """Profile camera name -> the dataset's camera feature key (video or image).

    ``camera_map`` maps dataset cameras (``front`` or ``observation.images.front``) to profile cameras; an empty
    target leaves a dataset camera out on purpose. Unmapped dataset cameras are taken by the profile camera of the
    same name. Every profile camera must get exactly one dataset camera and every dataset camera must be used (or
    left out explicitly): otherwise one ValueError naming both lists -- never a silently blank camera.
    """
    def short(k):
        return k[len(IMAGE_PREFIX):] if k.startswith(IMAGE_PREFIX) else k

    dataset = {short(k): k for k in ds.camera_keys}
    wanted = [c.name for c in profile.cameras]
    mapping = {short(k): v for k, v in (camera_map or {}).items()}
    for src, dst in mapping.items():
        if src not in dataset:
            raise ValueError(f"camera map {src}={dst}: the dataset has no camera {src!r}; its cameras: {list(dataset)}")
        if dst and dst not in wanted:
            raise ValueError(f"camera map {src}={dst}: profile {profile.name!r} has no camera {dst!r}; "
                             f"its cameras: {wanted}")
    targets: dict[str, str] = {}
    unused = []
    for name, key in dataset.items():
        dst = mapping.get(name, name if name in wanted else None)
        if dst is None:
            unused.append(name)
        elif dst:
            if dst in targets:
                raise ValueError(f"dataset cameras {short(targets[dst])!r} and {name!r} both map to profile camera "
                                 f"{dst!r}")
            targets[dst] = key
    missing = [n for n in wanted if n not in targets]
    if missing or unused:
        problems = ([f"profile cameras {missing} have no dataset camera"] if missing else []) + (
            [f"dataset cameras {unused} are not used"] if unused else [])
        example = (" ".join(f"--camera-map {d}={w}" for d, w in zip(unused, missing)) if unused and missing
                   else f"--camera-map {unused[0]}=" if unused else f"--camera-map DATASET_CAMERA={missing[0]}")
        raise ValueError(f"dataset cameras {list(dataset)} do not match profile {profile.name!r}'s cameras {wanted}: "
                         f"{'; '.join(problems)}. Map them with --camera-map DATASET_CAMERA=PROFILE_CAMERA (e.g. "
                         f"{example}; in TrainConfig: camera_map), or leave a dataset camera out with "
                         "--camera-map DATASET_CAMERA=")
    return targets


def check_fps(ds, profile) -> None:
    """The dataset's frame spacing must be the profile's action spacing: a chunk of H frames is H policy steps."""
    if abs(ds.fps - profile.policy_rate_hz) > 1e-6:
        raise ValueError(f"{ds.root}: recorded at {ds.fps:g} fps, but profile {profile.name!r} runs its policy at "
                         f"{profile.policy_rate_hz:g} Hz, so every action chunk would span the wrong time. Resample "
                         f"the dataset to {profile.policy_rate_hz:g} fps, or train with a profile whose "
                         f"policy_rate_hz is {ds.fps:g}")


def load_frames(root, profile, config, *, episodes: list[int] | None = None, only_success: bool = True,
                sizes: tuple[int, ...] | None = None, progress: bool = False,
                camera_map: dict[str, str] | None = None, joint_map: dict[str, str] | None = None) -> Frames:
    """Read the dataset at ``root`` for a policy ``config`` (its image slots and sizes) bound to ``profile``.

    The dataset must fit the profile: its fps is the policy rate, its state / action names are the profile's
    (up to order, LeRobot's naming conventions and ``joint_map``, see :func:`column_order`), its cameras are the
    profile's or mapped onto them with ``camera_map`` (:func:`camera_sources`). Otherwise a ValueError says what
    differs.
    """
    from pi_vla_ros.data.lerobot_dataset import LeRobotDataset
    from pi_vla_ros.policies.pi06.processing import resize_with_pad

    keys = list(config.image_keys)
    if sizes is None:
        sizes = tuple(sorted({policy_image_size(config), getattr(config, "obs_image_size", 0) or 0} - {0}))
    with LeRobotDataset(root) as ds:
        check_fps(ds, profile)
        state_order = column_order(ds, "observation.state", list(profile.joints), profile.name, joint_map)
        action_order = column_order(ds, "action", list(profile.action_names), profile.name, joint_map)
        sources = camera_sources(ds, profile, camera_map)
        slots = {c.policy_key: sources[c.name] for c in profile.cameras}
        chosen = []
        for e, row in enumerate(ds.episodes):
            if episodes is not None and row["episode_index"] not in episodes:
                continue
            if only_success and episode_success(ds, e) is False:
                continue
            chosen.append(e)
        if not chosen:
            raise ValueError(f"{root}: no episodes to train on (only_success={only_success})")
        present = np.array([k in slots for k in keys], bool)
        frame_rows = np.concatenate([np.arange(*_bounds(ds, e)) for e in chosen])
        states = ds.columns["observation.state"][frame_rows].astype(np.float32)
        actions = ds.columns["action"][frame_rows].astype(np.float32)
        if state_order is not None:
            states = states[:, state_order]
        if action_order is not None:
            actions = actions[:, action_order]
        task_col = ds.columns["task_index"][frame_rows].astype(np.int64)
        index_col = ds.columns["index"][frame_rows].astype(np.int64)
        episode_col = ds.columns["episode_index"][frame_rows].astype(np.int64)
        intervention = (ds.columns["intervention"][frame_rows].astype(bool) if "intervention" in ds.columns
                        else np.zeros(len(frame_rows), bool))
        lengths = [len(ds.episode_range(e)) for e in chosen]
        ends = np.repeat(np.cumsum(lengths), lengths)
        success = np.repeat([episode_success(ds, e) is not False for e in chosen], lengths)
        stored = {s: [] for s in sizes}
        subtasks = []
        image_index = np.zeros(len(frame_rows), np.int64)
        prev = None
        bar = _bar(len(frame_rows), "decode frames", progress)
        for n, i in enumerate(frame_rows):
            item = ds[int(i)]
            subtasks.append(str(item.get("subtask", "") or ""))
            raw = [item[slots[k]] if present[j] else None for j, k in enumerate(keys)]
            new_episode = n == 0 or ends[n - 1] != ends[n]
            if new_episode or any(r is not None and not np.array_equal(r, p) for r, p in zip(raw, prev)):
                for s in sizes:
                    stored[s].append(np.stack([
                        _to_uint8(resize_with_pad(r, s)) if r is not None else np.zeros((3, s, s), np.uint8)
                        for r in raw]))
                prev = raw
            image_index[n] = len(stored[sizes[0]]) - 1
            bar.update(1)
        bar.close()
        tasks = list(ds.tasks)
        kept = [int(ds.episodes[e]["episode_index"]) for e in chosen]
    return Frames(states=states, actions=actions, episode_end=ends.astype(np.int64), task_index=task_col,
                  image_index=image_index, tasks=tasks, images={s: np.stack(v) for s, v in stored.items()},
                  slot_present=present, episodes=kept, rows=index_col, episode_index=episode_col, success=success,
                  intervention=intervention, subtask=subtasks, superseded=superseded_attempts(subtasks, ends),
                  corrected=corrected_before_takeover(intervention, ends))


def corrected_before_takeover(intervention: np.ndarray, episode_end: np.ndarray) -> np.ndarray:
    """[N] bool: in each episode with a correction (any ``intervention`` frame), the frames not intervened in.

    Those are what the policy did that needed correcting (HG-DAgger trains on the corrections only); an
    episode without an intervention, a demonstration or a rollout left alone, has none.
    """
    out = np.zeros(len(intervention), bool)
    ends = np.unique(episode_end)
    for start, end in zip(np.r_[0, ends[:-1]], ends):
        if intervention[start:end].any():
            out[start:end] = ~intervention[start:end]
    return out


def superseded_attempts(subtask: list[str], episode_end: np.ndarray) -> np.ndarray:
    """[N] bool: frames from the start of a subtask to the start of the same subtask again in that episode.

    A subtask that begins again (the scripted expert's retry after a missed grasp, or a person repeating an
    instruction after a failed try) means what was done since its previous start did not achieve it: those
    frames show the mistake, the frames after the restart show the recovery. The subtasks that follow the restart
    (the retry's own grasp and carry) are new starts, not restarts.
    """
    out = np.zeros(len(subtask), bool)
    started: dict[str, int] = {}
    for n, label in enumerate(subtask):
        if n > 0 and episode_end[n - 1] != episode_end[n]:
            started = {}
        if not label or (n > 0 and subtask[n - 1] == label and episode_end[n - 1] == episode_end[n]):
            continue
        if label in started:
            since = started[label]
            out[since:n] = True
            # what began within the superseded attempt (its grasp, its carry) is not a start to restart from
            started = {k: v for k, v in started.items() if v < since}
        started[label] = n
    return out


def _bounds(ds, e: int) -> tuple[int, int]:
    r = ds.episode_range(e)
    return r.start, r.stop


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float image (the processor's format) -> uint8 [3, s, s]; exact inverse up to rounding."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _from_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


class _bar:

    def __init__(self, total, desc, enabled):
        self.b = None
        if enabled:
            try:
                from tqdm import tqdm
                self.b = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, mininterval=1.0)
            except ImportError:
                pass

    def update(self, n):
        if self.b is not None:
            self.b.update(n)

    def close(self):
        if self.b is not None:
            self.b.close()


# ------------------------------------------------------------------------------------------------ samples


def chunk_indices(frames: Frames, idx: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices of each sample's action chunk [B, H] (clamped at the episode end) and its padding mask."""
    steps = idx[:, None] + np.arange(horizon)[None]
    end = frames.episode_end[idx][:, None]
    return np.minimum(steps, end - 1), steps >= end


def norm_stats(frames: Frames, config, horizon: int, max_samples: int = 20000, seed: int = 0) -> dict:
    """State stats over all frames; action stats over model-space chunk elements (delta dims relative to the
    sample's state) of up to ``max_samples`` samples, padding excluded. Returns {"state": NormStats, "actions": ...}.
    """
    from pi_vla_ros.policies.pi06.processing import NormStats, to_delta

    n = len(frames.states)
    idx = np.arange(n) if n <= max_samples else np.sort(np.random.default_rng(seed).choice(n, max_samples, False))
    rows, pad = chunk_indices(frames, idx, horizon)
    chunks = to_delta(frames.actions[rows], frames.states[idx], config.delta_mask)
    return {"state": NormStats.from_data(frames.states), "actions": NormStats.from_data(chunks[~pad])}


def training_words(frames: Frames, profile) -> list[str]:
    """Words for a fresh word-level tokenizer: the dataset's task and subtask strings and the profile's task
    description.
    """
    import json

    text = " ".join([*frames.tasks, *sorted(set(frames.subtask or ()))]) + " " + json.dumps(
        getattr(profile, "task", {}) or {})
    return sorted(set(re.findall(r"[a-z]+", text.lower())))


def advantage_prompts(advantage: np.ndarray | None, idx: np.ndarray, dropout: float,
                      rng: np.random.Generator | None) -> list[bool | None]:
    """Recap's indicator per sample: the frame's label, or None (no indicator) with probability `dropout`."""
    if advantage is None:
        return [None] * len(idx)
    drop = rng.random(len(idx)) < dropout if rng is not None else np.zeros(len(idx), bool)
    return [None if d else bool(advantage[i]) for i, d in zip(idx, drop)]


class ProcessorBatches:
    """Any policy: raw sample dicts through the policy's own processor, exactly as at inference.

    advantage: optional per-frame Recap labels (bool [N]); the prompt then carries "Advantage: positive/negative",
    left out with probability advantage_dropout (drawn from the rng passed to batch()).
    """

    def __init__(self, frames: Frames, policy, advantage: np.ndarray | None = None, advantage_dropout: float = 0.3):
        self.frames, self.policy = frames, policy
        self.advantage, self.advantage_dropout = advantage, advantage_dropout
        cfg = policy.config
        self.size = policy_image_size(cfg)
        self.keys = list(cfg.image_keys)
        self.horizon = policy.metadata.horizon
        policy.processor.strict_prompts = True
        # every task's first frame through the processor now: a prompt or target over the config's token budget
        # fails here, before any training, not at the step that first draws it
        first = np.unique(frames.task_index, return_index=True)[1]
        for start in range(0, len(first), 64):
            self.batch(first[start:start + 64])

    def __len__(self) -> int:
        return len(self.frames.states)

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        f = self.frames
        rows, pad = chunk_indices(f, idx, self.horizon)
        images = f.images[self.size]
        samples = []
        advantage = advantage_prompts(self.advantage, idx, self.advantage_dropout, rng)
        for b, i in enumerate(idx):
            imgs = {k: images[f.image_index[i], j].transpose(1, 2, 0) for j, k in enumerate(self.keys)
                    if f.slot_present[j]}
            samples.append({"images": imgs, "state": f.states[i], "prompt": f.tasks[f.task_index[i]],
                            "actions": f.actions[rows[b]], "advantage": advantage[b],
                            "subtask": f.subtask[i] if f.subtask else None})
        batch = self.policy.processor(samples)
        batch["action_mask"] = torch.from_numpy(~pad)
        return batch


class CachedPrefixBatches:
    """π0.6 with its frozen VLM: the VLM's hidden states computed once per distinct (images, prompt)."""

    def __init__(self, frames: Frames, policy, *, batch_size: int = 64, progress: bool = False,
                 dtype: torch.dtype = torch.bfloat16, advantage: np.ndarray | None = None,
                 advantage_dropout: float = 0.3):
        from pi_vla_ros.policies.pi06.processing import build_prompt, discretize

        self.frames, self.policy = frames, policy
        self.advantage, self.advantage_dropout = advantage, advantage_dropout
        cfg, proc = policy.config, policy.processor
        proc.strict_prompts = True   # every prompt is tokenized below: an over-long one fails before training
        self.cfg, self.horizon = cfg, policy.metadata.horizon
        n = len(frames.states)
        self.state_norm = proc.normalizer.normalize(frames.states, "state")          # [N, S]
        # what the VLM sees per frame: (image set or none, prompt); with Recap labels also the prompt with the
        # frame's advantage indicator (variant 1; variant 0 is the plain prompt)
        bins = [discretize(s) if cfg.state_in_prompt else None for s in self.state_norm]
        variants = [None] if advantage is None else [None, advantage]
        image_key = frames.image_index if cfg.vlm_images else np.zeros(n, np.int64)
        uniq: dict[tuple, int] = {}
        self.prefix_index = np.empty((len(variants), n), np.int64)
        for v, labels in enumerate(variants):
            for i in range(n):
                prompt = build_prompt(frames.tasks[frames.task_index[i]], bins[i],
                                      None if labels is None else bool(labels[i]))
                self.prefix_index[v, i] = uniq.setdefault((int(image_key[i]), prompt), len(uniq))
        keys = list(uniq)
        vlm_images = frames.images[policy_image_size(cfg)]
        model = policy.model
        hidden, masks = [], []
        bar = _bar(len(keys), "frozen VLM prefix cache", progress)
        with torch.no_grad():
            for start in range(0, len(keys), batch_size):
                part = keys[start:start + batch_size]
                tokens, token_mask = proc.tokenize([p for _, p in part])
                img = _from_uint8(torch.from_numpy(vlm_images[[k for k, _ in part]]))
                present = np.broadcast_to(frames.slot_present, (len(part), len(frames.slot_present)))
                present = torch.from_numpy(present.copy())
                h, m = model.prefix({"images": img.to(model.device), "image_mask": present.to(model.device),
                                     "tokens": tokens.to(model.device), "token_mask": token_mask.to(model.device)})
                hidden.append(h.to("cpu", dtype))
                masks.append(m.cpu())
                bar.update(len(part))
        bar.close()
        self.prefix = torch.cat(hidden)
        self.prefix_mask = torch.cat(masks)
        self.obs_images = (torch.from_numpy(frames.images[cfg.obs_image_size]) if cfg.obs_encoder else None)
        self.slot_present = torch.from_numpy(frames.slot_present.copy())
        log.info("frozen VLM prefix cached: %d distinct of %d frames, %.1f MB", len(keys), n,
                 self.prefix.numel() * self.prefix.element_size() / 2**20)

    def __len__(self) -> int:
        return len(self.frames.states)

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        from pi_vla_ros.policies.pi06.processing import to_delta

        f, proc = self.frames, self.policy.processor
        rows, pad = chunk_indices(f, idx, self.horizon)
        actions = proc.normalizer.normalize(to_delta(f.actions[rows], f.states[idx], self.cfg.delta_mask), "actions")
        with_indicator = [a is not None for a in advantage_prompts(self.advantage, idx, self.advantage_dropout, rng)]
        p = torch.from_numpy(self.prefix_index[np.asarray(with_indicator, np.int64), idx])
        batch = {"prefix": self.prefix[p], "prefix_mask": self.prefix_mask[p],
                 "state": torch.from_numpy(self.state_norm[idx]), "actions": torch.from_numpy(actions),
                 "action_mask": torch.from_numpy(~pad),
                 "image_mask": self.slot_present[None].expand(len(idx), -1)}
        if self.obs_images is not None:
            batch["obs_images"] = self.obs_images[torch.from_numpy(f.image_index[idx])]
        return batch


def make_batches(frames: Frames, policy, *, cache_prefix: bool = True, progress: bool = False,
                 advantage: np.ndarray | None = None, advantage_dropout: float = 0.3):
    """The cached path where it applies (π0.6 with its frozen VLM), the generic processor path otherwise."""
    from pi_vla_ros.policies.pi06 import Pi06Policy

    if cache_prefix and type(policy) is Pi06Policy:
        return CachedPrefixBatches(frames, policy, progress=progress, advantage=advantage,
                                   advantage_dropout=advantage_dropout)
    return ProcessorBatches(frames, policy, advantage, advantage_dropout)


def dataset_profile(root) -> str:
    """The robot profile a dataset was recorded with (its ``robot_type``)."""
    import json

    info = json.loads((Path(root) / "meta/info.json").read_text())
    return info.get("robot_type") or ""
