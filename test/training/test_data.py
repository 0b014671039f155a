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

"""Training data from a LeRobot dataset: success is read from the standard per-frame next.success."""

import numpy as np
import pytest

from pi_vla_ros.data.lerobot_dataset import IMAGE_PREFIX, LeRobotDatasetWriter
from pi_vla_ros.policies.registry import get_config
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.training.data import corrected_before_takeover, load_frames, superseded_attempts


def _write(root, outcomes):
    """One episode per outcome; success only as LeRobot writes it: next.success on frames (never a private column)."""
    profile = load_profile("bimanual")
    with LeRobotDatasetWriter(root, profile=profile) as w:
        for ok in outcomes:
            for k in range(10):
                frame = {"observation.state": np.zeros(profile.state_dim, np.float32),
                         "action": np.zeros(profile.action_dim, np.float32), "next.success": bool(ok and k == 9)}
                for cam in profile.cameras:
                    frame[IMAGE_PREFIX + cam.name] = np.zeros((cam.height, cam.width, 3), np.uint8)
                w.add_frame(frame)
            w.save_episode(task="put the red cube in the bowl")
    return profile


def test_failed_episode_is_left_out_of_bc_and_failed_for_recap(tmp_path):
    profile = _write(tmp_path / "d", [True, False, True])
    config = get_config("pi06_tiny")
    bc = load_frames(tmp_path / "d", profile, config)
    assert bc.episodes == [0, 2] and bc.success.all()
    everything = load_frames(tmp_path / "d", profile, config, only_success=False)
    assert everything.episodes == [0, 1, 2]
    assert everything.success.tolist() == [True] * 10 + [False] * 10 + [True] * 10


def test_an_attempt_at_a_subtask_started_again_is_superseded():
    """reach, grasp, carry (the cube not lifted), then reach again: the first three are the miss, the retry's grasp
    and carry are not restarts. Another episode starting with the same subtask, and a subtask carried on over
    several frames, are not restarts either.
    """
    labels = (["reach"] * 3 + ["grasp"] * 2 + ["carry"] * 2 + ["reach"] * 2 + ["grasp", "carry", "release"]
              + ["reach"] * 2 + ["", "grasp", "reach", "grasp"])
    first, second = 12, 6
    ends = np.repeat([first, first + second], [first, second])
    got = superseded_attempts(labels, ends)
    assert got.tolist() == [True] * 7 + [False] * 5 + [True] * 4 + [False] * 2
    assert not superseded_attempts(["reach", "grasp", "carry"], np.full(3, 3)).any()


def test_frames_of_a_retried_subtask_are_marked_when_loaded(tmp_path):
    from test.training.conftest import write_dataset

    write_dataset(tmp_path / "d", episodes=2, frames=20, subtasks=("reach for the cube", "grasp the cube",
                                                                   "reach for the cube", "grasp the cube"))
    frames = load_frames(tmp_path / "d", load_profile("bimanual"), get_config("pi0_tiny"))
    assert frames.superseded.tolist() == ([True] * 10 + [False] * 10) * 2


def test_what_a_correction_took_over_from_is_marked():
    """Only in an episode with a correction: its frames before the takeover (the policy's own driving)."""
    flags = np.array([0, 0, 0, 0] + [0, 0, 1, 1, 1] + [0, 0, 0], bool)   # demo | corrected rollout | rollout
    ends = np.repeat([4, 9, 12], [4, 5, 3])
    assert corrected_before_takeover(flags, ends).tolist() == [False] * 4 + [True, True, False, False, False] + \
        [False] * 3


def test_a_corrected_rollout_is_marked_when_loaded(tmp_path):
    from test.training.conftest import write_dataset

    write_dataset(tmp_path / "d", episodes=2, frames=20, corrected_from=12)
    frames = load_frames(tmp_path / "d", load_profile("bimanual"), get_config("pi0_tiny"))
    assert frames.intervention.tolist() == [False] * 20 + [False] * 12 + [True] * 8
    assert frames.corrected.tolist() == [False] * 20 + [True] * 12 + [False] * 8


# ------------------------------------------------------------------ a dataset laid out the way LeRobot writes it

BIMANUAL = load_profile("bimanual")
COLORS = {0: (200, 30, 60), 1: (20, 180, 90), 2: (40, 70, 220)}  # RGB per profile camera, R != B


def _lerobot(root, cameras, *, fps=50, action_names=None, state_names=None, episodes=2, length=5):
    """A LeRobot v3.0 dataset written with pyarrow alone: cameras as ``dtype: "image"`` (PNG bytes in the data
    parquet); ``cameras`` maps each dataset camera name to the profile camera index whose color it shows.
    State/action column c holds profile joint ``order[c]``'s value (profile index + 0.01 * frame).
    """
    import json

    import cv2
    import pyarrow as pa
    import pyarrow.parquet as pq

    joints = list(BIMANUAL.joints)
    action_names = action_names if action_names is not None else joints
    state_names = state_names if state_names is not None else joints

    def flat(names):
        return names["motors"] if isinstance(names, dict) else names

    def layout(names):
        return np.array([joints.index(n.removesuffix(".pos")) if n.removesuffix(".pos") in joints else 99
                         for n in flat(names)], np.float32)

    h, w = 30, 40
    feats = {"observation.state": {"dtype": "float32", "shape": [len(flat(state_names))], "names": state_names},
             "action": {"dtype": "float32", "shape": [len(flat(action_names))], "names": action_names}}
    for cam in cameras:
        feats[IMAGE_PREFIX + cam] = {"dtype": "image", "shape": [h, w, 3], "names": ["height", "width", "channels"]}
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        feats[k] = {"dtype": "float32" if k == "timestamp" else "int64", "shape": [1], "names": None}
    info = {"codebase_version": "v3.0", "robot_type": "bimanual", "total_episodes": episodes,
            "total_frames": episodes * length, "total_tasks": 1, "chunks_size": 1000, "fps": fps,
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4", "features": feats}
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    (root / "data/chunk-000").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    pq.write_table(pa.table({"task_index": [0], "task": ["put the red cube in the bowl"]}), root / "meta/tasks.parquet")
    n = episodes * length
    t = np.tile(np.arange(length), episodes)
    cols = {"observation.state": layout(state_names)[None] + 0.01 * t[:, None],
            "action": layout(action_names)[None] + 0.01 * t[:, None]}
    table = {k: pa.FixedSizeListArray.from_arrays(pa.array(v.astype(np.float32).ravel()), v.shape[1])
             for k, v in cols.items()}
    for cam, slot in cameras.items():
        png = cv2.imencode(".png", np.full((h, w, 3), COLORS[slot][::-1], np.uint8))[1].tobytes()  # BGR for cv2
        table[IMAGE_PREFIX + cam] = pa.array([{"bytes": png, "path": f"frame_{i:06d}.png"} for i in range(n)],
                                             pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    table |= {"timestamp": pa.array(t / fps, pa.float32()), "frame_index": pa.array(t, pa.int64()),
              "episode_index": pa.array(np.repeat(np.arange(episodes), length), pa.int64()),
              "index": pa.array(np.arange(n), pa.int64()), "task_index": pa.array(np.zeros(n, np.int64))}
    pq.write_table(pa.table(table), root / "data/chunk-000/file-000.parquet")
    pq.write_table(pa.table({"episode_index": np.arange(episodes), "length": [length] * episodes,
                             "tasks": [["put the red cube in the bowl"]] * episodes,
                             "data/chunk_index": [0] * episodes, "data/file_index": [0] * episodes,
                             "dataset_from_index": np.arange(episodes) * length,
                             "dataset_to_index": np.arange(1, episodes + 1) * length}),
                   root / "meta/episodes/chunk-000/file-000.parquet")
    return root


PROFILE_CAMERAS = {"cam_high": 0, "cam_left_wrist": 1, "cam_right_wrist": 2}


def test_png_images_lerobot_names_and_camera_map_reach_the_frames(tmp_path):
    joints = list(BIMANUAL.joints)
    shuffled = [j + ".pos" for j in joints[7:] + joints[:7]]
    root = _lerobot(tmp_path / "d", {"front": 0, "left": 1, "right": 2},
                    action_names={"motors": shuffled}, state_names=shuffled)
    camera_map = {"front": "cam_high", "observation.images.left": "cam_left_wrist", "right": "cam_right_wrist"}
    frames = load_frames(root, BIMANUAL, get_config("pi06_tiny"), camera_map=camera_map)
    assert frames.slot_present.all() and frames.episodes == [0, 1]
    images = frames.images[64]
    for slot, rgb in COLORS.items():  # each slot shows its camera, RGB order kept, nothing blank
        assert np.abs(images[:, slot, :, 32, 32].astype(int) - np.array(rgb)).max() <= 1
    expected = np.arange(len(joints))[None] + 0.01 * np.tile(np.arange(5), 2)[:, None]
    np.testing.assert_allclose(frames.actions, expected, atol=1e-6)  # columns put in the profile's layout
    np.testing.assert_allclose(frames.states, expected, atol=1e-6)


def test_camera_names_differing_from_the_profile_are_an_error_not_blank(tmp_path):
    root = _lerobot(tmp_path / "d", {"front": 0, "left": 1, "right": 2})
    with pytest.raises(ValueError, match=r"\['front', 'left', 'right'\].*cam_high.*--camera-map"):
        load_frames(root, BIMANUAL, get_config("pi06_tiny"))


def test_extra_and_missing_cameras_are_errors_or_explicit(tmp_path):
    extra = _lerobot(tmp_path / "extra", PROFILE_CAMERAS | {"top_down": 0})
    with pytest.raises(ValueError, match=r"dataset cameras \['top_down'\] are not used.*--camera-map top_down="):
        load_frames(extra, BIMANUAL, get_config("pi06_tiny"))
    frames = load_frames(extra, BIMANUAL, get_config("pi06_tiny"), camera_map={"top_down": ""})  # left out on purpose
    assert frames.slot_present.all()
    missing = _lerobot(tmp_path / "missing", {"cam_high": 0, "cam_left_wrist": 1})
    with pytest.raises(ValueError, match=r"profile cameras \['cam_right_wrist'\] have no dataset camera"):
        load_frames(missing, BIMANUAL, get_config("pi06_tiny"))
    with pytest.raises(ValueError, match="profile 'bimanual' has no camera 'cam_top'"):
        load_frames(extra, BIMANUAL, get_config("pi06_tiny"), camera_map={"top_down": "cam_top"})
    with pytest.raises(ValueError, match="the dataset has no camera 'nope'"):
        load_frames(extra, BIMANUAL, get_config("pi06_tiny"), camera_map={"nope": "cam_high"})
    with pytest.raises(ValueError, match="both map to profile camera 'cam_high'"):
        load_frames(extra, BIMANUAL, get_config("pi06_tiny"), camera_map={"top_down": "cam_high"})


def test_fps_different_from_the_policy_rate_is_an_error(tmp_path):
    root = _lerobot(tmp_path / "d", PROFILE_CAMERAS, fps=30)
    with pytest.raises(ValueError, match="recorded at 30 fps, but profile 'bimanual' runs its policy at 50 Hz"):
        load_frames(root, BIMANUAL, get_config("pi06_tiny"))


def test_action_names_that_do_not_match_are_an_error(tmp_path):
    names = list(BIMANUAL.joints[:-1]) + ["right_gripper_force"]
    root = _lerobot(tmp_path / "d", PROFILE_CAMERAS, action_names={"motors": names})
    with pytest.raises(ValueError, match=r"missing \['right_gripper'\], unexpected \['right_gripper_force'\]"):
        load_frames(root, BIMANUAL, get_config("pi06_tiny"))
    short = _lerobot(tmp_path / "short", PROFILE_CAMERAS, state_names=list(BIMANUAL.joints[:6]))
    with pytest.raises(ValueError, match="observation.state"):
        load_frames(short, BIMANUAL, get_config("pi06_tiny"))


def test_joint_map_renames_dataset_names(tmp_path):
    names = ["r_waist.pos" if j == "right_waist" else j for j in BIMANUAL.joints]  # more than a ".pos" apart
    root = _lerobot(tmp_path / "d", PROFILE_CAMERAS, action_names={"motors": names}, state_names=names)
    with pytest.raises(ValueError, match=r"missing \['right_waist'\], unexpected \['r_waist.pos'\].*--joint-map"):
        load_frames(root, BIMANUAL, get_config("pi06_tiny"))
    frames = load_frames(root, BIMANUAL, get_config("pi06_tiny"), joint_map={"r_waist": "right_waist"})
    column = BIMANUAL.joints.index("right_waist")  # _lerobot wrote 99 (+ 0.01 * frame) for the unknown name
    np.testing.assert_allclose(frames.actions[:5, column], 99 + 0.01 * np.arange(5), atol=1e-5)
    np.testing.assert_allclose(frames.states[:5, column - 1], column - 1 + 0.01 * np.arange(5), atol=1e-5)


def test_train_cli_name_maps():
    from pi_vla_ros.cli import _name_map

    assert _name_map(["front=cam_high", "extra="]) == {"front": "cam_high", "extra": ""}
    assert _name_map([]) is None
    for bad in (["front"], ["=cam_high"], ["a=b", "a=c"]):
        with pytest.raises(SystemExit):
            _name_map(bad)


def test_a_prompt_over_the_token_budget_fails_before_training_not_truncated(tmp_path):
    import dataclasses

    from pi_vla_ros.policies.pi0 import Pi0Policy
    from pi_vla_ros.training.data import make_batches

    profile = _write(tmp_path / "d", [True])
    frames = load_frames(tmp_path / "d", profile, get_config("pi0_tiny"))
    fits = Pi0Policy.build(get_config("pi0_tiny"), profile, seed=0)
    assert len(make_batches(frames, fits)) == 10 and fits.processor.strict_prompts
    short = Pi0Policy.build(dataclasses.replace(get_config("pi0_tiny"), max_tokens=4), profile, seed=0)
    ids, mask = short.processor.tokenize(["put the red cube in the bowl"])   # inference: cut, as openpi does
    assert mask.all() and short.processor.truncated_prompts == 1
    with pytest.raises(ValueError, match="exceeds max_tokens=4"):
        make_batches(frames, short)
