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

"""``pi-vla collect``: demonstrations (or a policy's own rollouts) recorded through the node graph into a dataset.

The dataset is LeRobot's format. One :class:`~pi_vla_ros.runner.GraphRunner` (lockstep: simulated time on real
rclpy, deterministic) runs the simulator, the
observation and instruction nodes, a teleoperator -- the scripted expert node, publishing on the profile's real
controller topics and on ``/pi_vla/commanded_action`` -- and a recorder node; the policy and executor nodes are
not started. Per episode: the graph is reset in place (:meth:`GraphRunner.reset_episode`, seed ``seed + i``), the
recorder writes an MCAP bag until the task succeeds (or its time limit), a final ``/sim/status`` carries the
outcome, and :func:`~pi_vla_ros.data.rosbag.bag_to_lerobot` appends the bag to the dataset (per-frame task,
subtask annotations from the expert's verbal instructions, ``next.success``). Bags are kept under
``<out>/bags/`` unless ``keep_bags=False``. With ``fumble_p`` (``--fumble``) that share of the expert's first grasps
per subtask are off across the fingers, so the episode records the miss and the expert's retry (recovery data,
which clean scripted demos never contain); the summary counts ``grasp_retries``.

With ``policy`` (a checkpoint directory) the policy and executor nodes run instead of the expert: the episodes are the
policy's own autonomous rollouts, successes and failures alike, with the executor's commands to the controllers as
the actions -- the experience Recap learns from (``pi_vla_ros/training/recap.py``).

Verbal-instruction (VI) collection (``vi=True``, ``pi-vla collect --vi``): the simulator runs the multi-step task
(``pick_place_sequence``: every cube into the bowl in the order the instruction gives) and a scripted instructor
node (:mod:`pi_vla_ros.sim.instructor`) is the person: it gives the subtasks one at a time (or the whole task, then
"next") and a final "success" / "fail" through the instruction node's queue, as typed lines. The expert node
follows the language (a subtask starts only once the language names it) and announces each subtask's plan; with
``policy`` the policy, conditioned on the same language, drives instead. An episode ends 0.5 s after the
instructor's last line (or at the time limit). The dataset gets, per frame, the subtask active (the language the
robot was conditioned on), every line given as a language event on its frame, ``next.subtask_success`` (the
simulator's per-subtask success detection) and ``intervention``; the whole task is the episode's task. The summary
adds per episode the lines (episode time: seconds from frame 0), when each subtask was done, and how far each
subtask label and event in the dataset lies from when its line was given (``label_alignment``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

EXPERTS = ("scripted",)


def collect(profile: str, out, episodes: int, *, seed: int = 0, expert: str = "scripted", keep_bags: bool = True,
            time_limit_s: float | None = None, progress: bool = True, log=print, policy: str | None = None,
            params: dict | None = None, takeover_after_s: float | None = None,
            takeover_on_miss_s: float | None = None, correction_budget_s: float = 9.0, video_codec: str | None = None,
            subtask_format: str = "language", vi: bool = False, vi_style: str = "", voice: str = "typed",
            fumble_p: float = 0.0) -> dict:
    """Record ``episodes`` demonstrations (seeds ``seed .. seed + episodes - 1``) into the dataset at ``out``
    (created, or appended to); with ``policy``, that policy's rollouts instead (``params``: node parameter
    overrides, e.g. ``{"pi_vla_policy": {"execute_steps": 16}}``). With ``takeover_after_s`` a supervisor corrects
    the policy: an episode not finished by then is taken over by the scripted expert from wherever the robot is
    (frames flagged ``intervention``), with ``correction_budget_s`` more to finish; with ``takeover_on_miss_s``, also
    as soon as a gripper has been closed on nothing that long (a missed grasp: the correction shows the recovery
    from the policy's own miss, HG-DAgger style). ``video_codec``: "av1" (the
    default when PyAV has SVT-AV1, as LeRobot records) or "h264"; appending follows the dataset's.
    ``subtask_format``: "language" (LeRobot's language columns) or "index" (subtask_index: what released LeRobot
    0.4 opens). ``vi``: verbal-instruction collection (see the module docstring; ``vi_style``: the instructor's
    style, '' drawn per episode; ``voice``: how its lines reach the robot, see ``nodes/instructor_node.py``).
    Returns a summary: episodes, successes, corrections, frames, seconds of wall time (and for ``vi`` the language
    figures).
    """
    if policy is None and expert not in EXPERTS:
        raise ValueError(f"unknown expert {expert!r}; known: {EXPERTS}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.data.lerobot_dataset import LeRobotDataset
    from pi_vla_ros.data.rosbag import bag_to_lerobot
    from pi_vla_ros.episodes import Progress, resolve_policy
    from pi_vla_ros.nodes.expert_node import ExpertNode
    from pi_vla_ros.nodes.instructor_node import InstructorNode
    from pi_vla_ros.nodes.recorder_node import RecorderNode
    from pi_vla_ros.ros import Parameter
    from pi_vla_ros.runner import GraphRunner

    out = Path(out)
    bags = out / "bags"
    first = LeRobotDataset(out, decode_images=False).num_episodes if (out / "meta/info.json").exists() else 0
    wall0 = time.perf_counter()
    results = []
    sim_params = [Parameter("use_sim_time", value=True)]
    overrides = {k: dict(v) for k, v in (params or {}).items()}
    if vi:   # the multi-step task; the instructor, not the simulator, says what to do
        overrides.setdefault("pi_vla_sim", {}).update(task="pick_place_sequence", publish_instruction=False)
    if vi and voice == "spoken":   # the instruction node hears the room's audio (the instructor node publishes it)
        overrides.setdefault("pi_vla_instruction", {}).update(speech_backend="pocketsphinx", speech_input="topic",
                                                              profile=profile)
    if policy is None:
        graph = {"skip": ("pi_vla_policy", "pi_vla_executor"), "overrides": overrides}
    else:
        name, ckpt = resolve_policy(policy)
        graph = {"policy": name, "checkpoint": ckpt, "overrides": overrides}
    with GraphRunner(profile, realtime=False, seed=seed, **graph) as run:
        sim = run.sim.sim
        if policy is None:
            vi_params = [Parameter("follow_language", value=True), Parameter("announce_subtasks", value=False)]
            expert_node = run.add_node(ExpertNode(sim=sim, **run.node_options("expert"), parameter_overrides=[
                *sim_params, *(vi_params if vi else []), Parameter("fumble_p", value=float(fumble_p))]))
            commands = lambda: expert_node.commands  # noqa: E731
        else:
            commands = lambda: run.nodes["pi_vla_executor"].core.stats.commands  # noqa: E731
        supervisor = None
        if policy is not None and (takeover_after_s is not None or takeover_on_miss_s is not None):
            supervisor = run.add_node(ExpertNode(sim=sim, **run.node_options("expert"), parameter_overrides=[
                *sim_params, Parameter("wait_for_takeover", value=True), Parameter("announce_subtasks", value=False),
                Parameter("follow_language", value=vi)]))
        instructor = None
        if vi:
            instructor = run.add_node(InstructorNode(sim=sim, **run.node_options("instructor"), parameter_overrides=[
                *sim_params, Parameter("style", value=vi_style), Parameter("voice", value=voice)]))
        recorder = run.add_node(RecorderNode(**run.node_options("recorder"),
                                             parameter_overrides=sim_params + [Parameter("profile", value=profile)]))
        if progress:
            run.set_log_level(30)   # the bar says what happens; warnings still show
        limit = sim.task.time_limit_s if time_limit_s is None else time_limit_s
        dt = 1.0 / sim.profile.policy_rate_hz
        bar = Progress(episodes, f"collect {profile}" + (f" rollouts of {name}" if policy else ""), progress)
        for i in range(episodes):
            index = first + i
            run.reset_episode(seed + i)
            bag = bags / f"episode_{index:06d}"
            if bag.exists():
                shutil.rmtree(bag)
            bag.parent.mkdir(parents=True, exist_ok=True)
            recorder.start(bag)
            t0, commands0 = run.sim_time(), commands()
            deadline, takeover_at, takeover_on = limit, None, None
            while not _episode_over(sim, instructor, run.sim_time()) and run.sim_time() - t0 < deadline - 1e-9:
                if supervisor is not None and takeover_at is None:
                    late = takeover_after_s is not None and run.sim_time() - t0 >= takeover_after_s - 1e-9
                    missed = takeover_on_miss_s is not None and sim.grasp.missed(takeover_on_miss_s)
                    if missed or late:
                        takeover_at, takeover_on = run.sim_time() - t0, "miss" if missed else "time"
                        supervisor.take_over()
                        deadline = takeover_at + correction_budget_s
                run.spin_for(dt)
            run.sim.publish_status()              # the outcome, as the last status in the bag
            run.spin_for(run.sim.p.step_period_s)
            recorder.stop()
            ok = bool(sim.success())
            timing = {}
            episode = bag_to_lerobot(bag, sim.profile, out, actions="auto" if policy is None else "controllers",
                                     vcodec=video_codec, subtask_format=subtask_format, timing=timing,
                                     **({"subtask_success": True} if vi else {}))
            if not keep_bags:
                shutil.rmtree(bag)
            expert_now = expert_node.expert if policy is None else None
            results.append({"episode": episode, "seed": seed + i, "success": ok,
                            "time_s": round(run.sim_time() - t0, 3), "instruction": sim.instruction,
                            "commands": commands() - commands0,
                            "grasp_retries": 0 if expert_now is None else expert_now.retried,
                            "takeover_s": None if takeover_at is None else round(takeover_at, 3),
                            "takeover_on": takeover_on})
            if vi:
                start = timing["start_s"]
                results[-1].update(
                    subtasks=[s.text for s in sim.task.subtasks],
                    subtask_done_s=[None if t is None else round(t - start, 3) for t in sim.task.subtask_done_at],
                    lines=[_episode_line(line, start) for line in instructor.lines])
            bar.update(ok)
        bar.close()
    with LeRobotDataset(out, decode_images=False) as ds:
        frames = len(ds)
        if vi:
            for r in results:
                r["label_alignment"] = label_alignment(ds.episode_language(r["episode"]), r["lines"])
    summary = {"profile": profile, "dataset": str(out), "source": policy or f"expert:{expert}",
               "episodes": len(results),
               "successes": sum(r["success"] for r in results),
               "corrections": sum(r["takeover_s"] is not None for r in results),
               "grasp_retries": sum(r["grasp_retries"] for r in results), "frames_total": frames,
               "wall_s": round(time.perf_counter() - wall0, 1), "episodes_detail": results}
    if vi:
        summary["vi"] = vi_summary(results)
    log(f"collected {summary['episodes']} episodes ({summary['successes']} successful) into {out} "
        f"in {summary['wall_s']} s; dataset has {frames} frames")
    return summary


TAIL_S = 0.5  # recorded after the instructor's last line, so that it is on a frame


HEARING_S = 3.0  # the longest a spoken last line is waited for (the recognizer decides ~0.3 s after the words)


def _episode_over(sim, instructor, now: float) -> bool:
    """Demonstrations and rollouts end at success; a VI episode once the instructor's last line has been given (a
    spoken one: recognized or rejected) and TAIL_S more.
    """
    if instructor is None:
        return sim.success()
    if not instructor.finished:
        return False
    last = instructor.lines[-1]
    if instructor.pending:
        return now >= last["end"] + HEARING_S - 1e-9
    return now >= max(last["end"], last["heard_at"] or 0.0) + TAIL_S - 1e-9


def _episode_line(line: dict, start: float) -> dict:
    rel = lambda t: None if t is None else round(t - start, 3)  # noqa: E731
    out = {k: v for k, v in line.items() if k not in ("pending", "line")}
    return out | {"t": rel(line["t"]), "end": rel(line["end"]), "heard_at": rel(line["heard_at"]),
                  "spoken_end": rel(line.get("spoken_end"))}


def _said_words(text: str) -> list[str]:
    """A line's words as spoken: written joiners (", then", "; and then", ";") are one pause."""
    return re.findall(r"[a-z]+", re.sub(r"[,;]?\s*(?:\band\s+)?\bthen\b|;", " ; ", text.lower()))


def label_alignment(language: dict, lines: list[dict], cause_window_s: float = 1.0) -> dict:
    """Where the language of one episode landed in the dataset, against when each line was given (the end of its
    words; seconds from frame 0). ``language``: :meth:`LeRobotDataset.episode_language`; ``lines``: the
    instructor's, in episode time.

    ``lines``: per line, the event of the text the robot got (``heard``) and its offset (None: no event, e.g. the
    recognizer rejected the line), and whether it was heard right (the same words, written joiners aside).
    ``labels``: per subtask label in the dataset, its offset from the line that caused it: the last line heard
    that starts a subtask (the task, a subtask, "next") given at most ``cause_window_s`` after the label starts
    (None: no such line).
    """
    events = list(language["events"])
    out_lines = []
    for line in lines:
        heard = line.get("heard", line["text"])
        item = {"text": line["text"], "kind": line["kind"], "given_s": line["end"], "heard": heard,
                "heard_right": heard is not None and _said_words(heard) == _said_words(line["text"]),
                "event_delay_s": None}
        match = next((e for e in events if e[1] == heard), None) if heard is not None else None
        if match is not None:
            events.remove(match)   # each event answers one line
            item["event_delay_s"] = round(match[0] - line["end"], 3)
        out_lines.append(item)
    causes = [line for line in lines if line.get("heard", line["text"]) and line["kind"] in ("task", "subtask", "next")]
    labels = []
    for t, text in language["subtasks"]:
        cause = [line for line in causes if line["end"] <= t + cause_window_s]
        labels.append({"label": text, "t": t,
                       "delay_s": round(t - cause[-1]["end"], 3) if cause else None,
                       "line": cause[-1]["text"] if cause else None})
    return {"lines": out_lines, "labels": labels}


def vi_summary(results: list[dict], tolerance_s: float = 0.2) -> dict:
    """The VI figures over episodes: subtask labels and events within ``tolerance_s`` of when their line was given,
    lines heard right, subtasks done, marks given.
    """
    items = [a for r in results for a in r["label_alignment"]["lines"]]
    labels = [a["delay_s"] for r in results for a in r["label_alignment"]["labels"]]
    events = [a["event_delay_s"] for a in items if a["heard"] is not None]
    within = lambda v: sum(d is not None and abs(d) <= tolerance_s + 1e-9 for d in v)  # noqa: E731
    subtasks = [t is not None for r in results for t in r["subtask_done_s"]]
    return {"tolerance_s": tolerance_s, "subtask_labels": len(labels), "labels_within": within(labels),
            "labels_within_share": within(labels) / max(len(labels), 1),
            "labels_without_line": sum(d is None for d in labels),
            "label_delay_s_max": max((abs(d) for d in labels if d is not None), default=None),
            "events": len(events), "events_within": within(events),
            "events_within_share": within(events) / max(len(events), 1),
            "subtasks": len(subtasks), "subtasks_done": sum(subtasks),
            "lines": len(items), "lines_heard_right": sum(a["heard_right"] for a in items),
            "lines_heard_other": sum(a["heard"] is not None and not a["heard_right"] for a in items),
            "lines_not_heard": sum(a["heard"] is None for a in items),
            "marks": {m: sum(line["kind"] == m for r in results for line in r["lines"]) for m in ("success", "fail")}}


def plot_vi_episode(root, episode: int, path, camera: str | None = None, shots: int = 8,
                    lines: list[dict] | None = None) -> None:
    """A figure of one recorded VI episode, read back from the dataset: ``shots`` frames of ``camera`` (default: the
    first) above a timeline of its subtask labels (bands), the lines given (events) and the frames flagged
    ``next.subtask_success``. ``lines`` (the collection summary's, episode times): when each line was being said
    (grey bars; spoken lines take a while), for comparison with where the dataset put it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pi_vla_ros.data.lerobot_dataset import LeRobotDataset

    with LeRobotDataset(root) as ds:
        rows = ds.episode_range(episode)
        camera = camera or ds.camera_keys[0]
        lang = ds.episode_language(episode)
        task = ds[rows.start]["task"]
        picks = [rows.start + round(k * (len(rows) - 1) / (shots - 1)) for k in range(shots)]
        frames = [(float(ds[i]["timestamp"]), ds[i][camera]) for i in picks]
        flags = ds.columns.get("next.subtask_success")
        done = [] if flags is None else [(i - rows.start) / ds.fps for i in rows if flags[i]]
        length = len(rows) / ds.fps
    fig = plt.figure(figsize=(2.0 * shots, 4.6))
    grid = fig.add_gridspec(2, shots, height_ratios=[1.4, 1.0])
    for k, (t, image) in enumerate(frames):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(image)
        ax.set_title(f"t={t:.1f}s", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    colours = plt.get_cmap("tab10")
    subtasks = lang["subtasks"]
    for j, (t, text) in enumerate(subtasks):
        end = subtasks[j + 1][0] if j + 1 < len(subtasks) else length
        ax.axvspan(t, end, ymin=0.55, ymax=0.95, color=colours(j % 10), alpha=0.35)
        ax.text((t + end) / 2, 0.75, text, ha="center", va="center", fontsize=8)
    for j, (t, text) in enumerate(lang["events"]):
        ax.axvline(t, ymin=0.05, ymax=0.5, color="k", lw=1)
        ax.text(t, 0.1 + 0.12 * (j % 3), f" said: {text!r} ", fontsize=7, va="bottom",
                ha="left" if t < 0.75 * length else "right")
    for t in done:
        ax.plot([t], [0.5], marker="v", color="green", ms=9)
    for line in lines or ():
        ax.plot([line["t"], line["end"]], [0.52, 0.52], color="0.45", lw=4, solid_capstyle="butt")
    ax.set_xlim(0, length)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("episode time (s)   bands: subtask label per frame;  lines: language events;  "
                  "green marks: subtask detected done (next.subtask_success)"
                  + (";  grey: the person speaking" if lines else ""), fontsize=8)
    fig.suptitle(f"VI episode {episode}: {task!r}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
