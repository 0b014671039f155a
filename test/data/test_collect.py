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

"""`pi-vla collect`: demonstrations recorded through the node graph become a readable LeRobot dataset."""

import pytest

pytest.importorskip("mujoco")

from pi_vla_ros.data.collect import collect  # noqa: E402
from pi_vla_ros.data.lerobot_dataset import LeRobotDataset  # noqa: E402
from pi_vla_ros.data.rosbag import bag_topics  # noqa: E402


def test_collect_two_short_episodes(tmp_path):
    out = tmp_path / "demos"
    summary = collect("bimanual", out, 2, seed=7, time_limit_s=0.6, progress=False, log=lambda *_: None)
    assert summary["episodes"] == 2 and summary["successes"] == 0          # cut short: not done yet
    with LeRobotDataset(out) as ds:
        assert ds.num_episodes == 2
        assert 25 <= len(ds.episode_range(0)) <= 31                         # 0.6 s at 50 Hz
        first, last = ds[0], ds[ds.episode_range(1)[-1]]
        assert first["task"] == summary["episodes_detail"][0]["instruction"]
        assert first["subtask"].startswith("reach for the ")                # the expert's verbal instruction
        assert not last["next.success"]
        assert first["observation.images.cam_high"].shape == (120, 160, 3)
        # actions are the expert's commands (/pi_vla/commanded_action), which lead the measured state
        rows = ds.episode_range(0)
        act, state = ds.columns["action"][rows.start:rows.stop], ds.columns["observation.state"][rows.start:rows.stop]
        assert abs(act[10] - state[10]).max() > 1e-4
    topics = bag_topics(out / "bags" / "episode_000001")
    for t in ("/joint_states", "/cam_high/image_raw", "/pi_vla/commanded_action", "/pi_vla/language",
              "/left_arm_position_controller/commands", "/sim/status"):
        assert t in topics


def test_fumbled_demos_record_the_miss_and_the_retry(tmp_path):
    out = tmp_path / "demos"
    summary = collect("bimanual", out, 1, seed=3, progress=False, log=lambda *_: None, fumble_p=1.0)
    assert summary["successes"] == 1 and summary["grasp_retries"] == 1
    with LeRobotDataset(out, decode_images=False) as ds:
        said = [ds[i]["subtask"] for i in range(len(ds))]
    phases = [t for i, t in enumerate(said) if i == 0 or said[i - 1] != t]
    assert [t.split()[0] for t in phases[:5]] == ["reach", "grasp", "carry", "reach", "grasp"], phases


def test_collect_appends(tmp_path):
    out = tmp_path / "demos"
    collect("bimanual", out, 1, seed=1, time_limit_s=0.2, progress=False, log=lambda *_: None)
    summary = collect("bimanual", out, 1, seed=2, time_limit_s=0.2, progress=False, log=lambda *_: None,
                      keep_bags=False)
    assert summary["episodes_detail"][0]["episode"] == 1
    with LeRobotDataset(out, decode_images=False) as ds:
        assert ds.num_episodes == 2
    assert (out / "bags" / "episode_000000").exists() and not (out / "bags" / "episode_000001").exists()


def test_collect_policy_rollouts_records_what_the_executor_commanded(tmp_path):
    """Recap's experience: the policy's own episodes, failures included, with the executor's commands as actions."""
    import numpy as np

    from pi_vla_ros.policies.factory import make_policy
    from pi_vla_ros.profiles import load_profile

    ckpt = tmp_path / "policy"
    policy = make_policy("pi06_tiny", load_profile("ur5e"), allow_untrained=True)
    policy.untrained = False            # a checkpoint as `pi-vla train` writes it
    policy.save_pretrained(ckpt)
    out = tmp_path / "rollouts"
    summary = collect("ur5e", out, 1, seed=3, time_limit_s=1.0, progress=False, log=lambda *_: None,
                      policy=str(ckpt), params={"pi_vla_policy": {"execute_steps": 10}}, keep_bags=True)
    assert summary["source"] == str(ckpt) and summary["successes"] == 0
    assert summary["episodes_detail"][0]["commands"] >= 45           # the executor at 50 Hz for about a second
    with LeRobotDataset(out) as ds:
        assert ds.num_episodes == 1 and ds.episodes[0]["success"] is False
        rows = ds.episode_range(0)
        actions = ds.columns["action"][rows.start:rows.stop]
        assert len(actions) >= 15 and np.all(np.isfinite(actions))  # 20 Hz frames
    from pi_vla_ros.data.rosbag import read_bag

    counts = {}
    for topic, _, _ in read_bag(out / "bags" / "episode_000000"):
        counts[topic] = counts.get(topic, 0) + 1
    assert counts.get("/pi_vla/action_chunk", 0) >= 1 and "/pi_vla/commanded_action" not in counts


def test_collect_corrections_hand_the_robot_to_the_expert(tmp_path):
    """--takeover-after: the supervisor's correction is flagged `intervention` from the takeover on, and the
    executor stays silent while the expert drives.
    """
    import numpy as np

    from pi_vla_ros.policies.factory import make_policy
    from pi_vla_ros.profiles import load_profile

    ckpt = tmp_path / "policy"
    policy = make_policy("pi06_tiny", load_profile("ur5e"), allow_untrained=True)
    policy.untrained = False
    policy.save_pretrained(ckpt)
    out = tmp_path / "corrected"
    summary = collect("ur5e", out, 1, seed=3, time_limit_s=3.0, progress=False, log=lambda *_: None,
                      policy=str(ckpt), takeover_after_s=0.5, correction_budget_s=1.0)
    detail = summary["episodes_detail"][0]
    assert summary["corrections"] == 1 and detail["takeover_s"] == 0.5
    assert detail["time_s"] == pytest.approx(1.5, abs=0.06)              # takeover + the correction budget
    assert 20 <= detail["commands"] <= 27                                  # the executor: 0.5 s at 50 Hz, then quiet
    with LeRobotDataset(out, decode_images=False) as ds:
        flags = ds.columns["intervention"][ds.episode_range(0).start:ds.episode_range(0).stop]
    first = int(np.argmax(flags))
    assert 9 <= first <= 11 and flags[first:].all() and not flags[:first].any()   # 20 Hz frames from 0.5 s on


def test_collect_corrections_start_at_a_missed_grasp(tmp_path, monkeypatch):
    """--takeover-on-miss: the expert takes over at the tick the simulator reports a gripper closed on nothing
    (here: from 0.5 s of sim time on), without waiting for --takeover-after.
    """
    from pi_vla_ros.policies.factory import make_policy
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.sim.scene import Grasp

    ckpt = tmp_path / "policy"
    policy = make_policy("pi06_tiny", load_profile("ur5e"), allow_untrained=True)
    policy.untrained = False
    policy.save_pretrained(ckpt)
    monkeypatch.setattr(Grasp, "missed", lambda self, after_s: "gripper" if self.data.time >= 0.5 + after_s else None)
    summary = collect("ur5e", tmp_path / "corrected", 1, seed=3, time_limit_s=3.0, progress=False,
                      log=lambda *_: None, policy=str(ckpt), takeover_after_s=2.5, takeover_on_miss_s=0.2,
                      correction_budget_s=1.0, keep_bags=False)
    detail = summary["episodes_detail"][0]
    assert summary["corrections"] == 1 and detail["takeover_on"] == "miss"
    assert detail["takeover_s"] == pytest.approx(0.7, abs=0.03) and detail["time_s"] == pytest.approx(1.7, abs=0.06)


def test_vi_collection_stores_each_subtask_at_the_frame_it_was_given(tmp_path):
    """--vi: the instructor gives the subtasks (typed here), the expert follows the language; the dataset holds
    each subtask label and language event at the frame of the line, per-subtask success and the whole task.
    """
    import numpy as np

    out = tmp_path / "vi"
    summary = collect("ur5e", out, 2, seed=0, vi=True, progress=False, log=lambda *_: None)
    assert summary["successes"] == 2 and summary["vi"]["subtasks_done"] == 4
    assert summary["vi"]["labels_within_share"] == 1.0 and summary["vi"]["events_within_share"] == 1.0
    styles = set()
    with LeRobotDataset(out, decode_images=False) as ds:
        for r in summary["episodes_detail"]:
            ep, fps = r["episode"], ds.fps
            lang = ds.episode_language(ep)
            rows = ds.episode_range(ep)
            first, second = r["subtasks"]
            assert ds[rows.start]["task"] == r["instruction"] and r["instruction"].index(first) == 0
            kinds = [line["kind"] for line in r["lines"]]
            styles.add(kinds[0])
            assert kinds in (["subtask", "subtask", "success"], ["task", "next", "success"])
            given = [line["end"] for line in r["lines"]]
            # each subtask label starts on the first frame at or after its line (sample and hold)
            starts = {text: t for t, text in lang["subtasks"]}
            for text, t in ((first, given[0]), (second, given[1])):
                assert t <= starts[text] < t + 1.0 / fps + 1e-6, (text, t, starts)
            # every line is an event on the latest frame at or before it, in order
            assert [text for _, text in lang["events"]] == [line["text"] for line in r["lines"]]
            for (t_event, _), t in zip(lang["events"], given):
                assert t - 1.0 / fps - 1e-6 < t_event <= t + 1e-6
            # the robot did nothing before it was told: the first subtask was done after its line
            assert given[0] < r["subtask_done_s"][0] < given[1] < r["subtask_done_s"][1] < given[2]
            flags = np.flatnonzero(ds.columns["next.subtask_success"][rows.start:rows.stop]) / fps
            assert len(flags) == 2 and np.allclose(flags, r["subtask_done_s"], atol=1.0 / fps + 1e-6)
            assert ds[rows.stop - 1]["next.success"]
    assert styles == {"subtask", "task"}      # seeds 0 and 1 draw both styles
    from pi_vla_ros.data.collect import plot_vi_episode

    plot_vi_episode(out, 1, tmp_path / "episode.png", shots=4)
    assert (tmp_path / "episode.png").stat().st_size > 10_000


def test_vi_collection_with_a_policy_and_a_correction(tmp_path):
    """--vi --policy --takeover-after: the policy is conditioned on the instructor's subtask; the correction follows
    the same language; interventions, labels and per-subtask success are all stored.
    """
    import numpy as np

    from pi_vla_ros.policies.factory import make_policy
    from pi_vla_ros.profiles import load_profile

    ckpt = tmp_path / "policy"
    policy = make_policy("pi06_tiny", load_profile("ur5e"), allow_untrained=True)
    policy.untrained = False
    policy.save_pretrained(ckpt)
    out = tmp_path / "vi_corrected"
    summary = collect("ur5e", out, 1, seed=0, vi=True, vi_style="steps", progress=False, log=lambda *_: None,
                      policy=str(ckpt), takeover_after_s=0.5, correction_budget_s=7.5, keep_bags=False)
    r = summary["episodes_detail"][0]
    assert r["takeover_s"] == 0.5 and r["subtask_done_s"][0] is not None and r["subtask_done_s"][1] is None
    assert [line["kind"] for line in r["lines"]] == ["subtask", "subtask"]      # cut at the budget, no mark yet
    assert summary["vi"]["labels_within_share"] == 1.0
    with LeRobotDataset(out, decode_images=False) as ds:
        rows = ds.episode_range(0)
        flags = ds.columns["intervention"][rows.start:rows.stop]
        done = ds.columns["next.subtask_success"][rows.start:rows.stop]
        lang = ds.episode_language(0)
    assert 9 <= int(np.argmax(flags)) <= 11 and flags[11:].all()
    assert done.sum() == 1 and [text for _, text in lang["subtasks"]] == r["subtasks"]


def test_vi_collection_through_the_spoken_path(tmp_path):
    """--vi --voice spoken: espeak-ng says each line into the room, the instruction node's speech backend hears the
    room's audio and feeds the queue; the dataset holds each subtask label where the words of its line ended (not
    where the recognizer decided, about 0.3 s later), and each line heard as an event there.
    """
    from pi_vla_ros.speech import synth

    if not synth.available():
        pytest.skip("espeak-ng is not installed (scripts/ci_deps.sh installs it)")
    pytest.importorskip("pocketsphinx")
    out = tmp_path / "spoken"
    summary = collect("ur5e", out, 1, seed=0, vi=True, voice="spoken", vi_style="steps", progress=False,
                      log=lambda *_: None, keep_bags=False)
    r = summary["episodes_detail"][0]
    steps = [line for line in r["lines"] if line["kind"] == "subtask"]
    assert r["success"] and r["subtask_done_s"][0] is not None and r["subtask_done_s"][1] is not None
    assert [line["heard"] for line in steps] == [line["text"] for line in steps] == r["subtasks"]
    with LeRobotDataset(out, decode_images=False) as ds:
        lang = ds.episode_language(0)
        fps = ds.fps
    starts = {text: t for t, text in lang["subtasks"]}
    events = {text: t for t, text in lang["events"]}
    for line in steps:
        assert line["heard_at"] > line["end"] + 0.2                  # the recognizer decided a while after the words
        assert abs(starts[line["heard"]] - line["end"]) <= 0.2       # the label starts where the words ended
        assert line["end"] - 0.2 <= events[line["heard"]] <= line["end"] + 1.0 / fps
        assert r["subtask_done_s"][steps.index(line)] > line["end"]  # and the robot acted on them only then
    assert summary["vi"]["labels_within_share"] == 1.0
