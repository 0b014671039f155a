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

"""``pi-vla eval``: closed-loop episodes of a policy through the whole node graph, in the simulator.

One :class:`~pi_vla_ros.runner.GraphRunner` in lockstep (simulated time on real rclpy; inference results arrive
after a fixed simulated latency) runs the simulator, observation, policy, executor and instruction nodes exactly as
``pi-vla launch`` does; between episodes the graph is reset in place. Episode i uses seed ``seed + i``; with
``swap_instruction`` the simulator names the *other* cube than the seed would (same scene, same phrasing), which
tests whether the policy follows the language rather than a habit.

Per episode: success (the named cube resting in the bowl, released), time to success, safety-filter clamps
(executor ticks where the filter changed a target), whether another cube was moved (wrong object). For the first
``media_episodes`` episodes: a camera image strip and a plot of commanded (what went to the controllers) vs executed
(``/joint_states``) joint trajectories. ``policy`` may also be ``"expert"``: the scripted expert drives the same
controller topics instead (the policy and executor nodes are not started) -- the reference success rate.

Multi-step (``multi_step``): the simulator's ``pick_place_sequence`` task (every cube into the bowl, in the order the
instruction names them); per episode also the subtasks and how many were done in order. A plain policy gets the
whole instruction through the instruction node as in the single-step task (which makes its first part the language).

Hierarchical (``hierarchical``, implies ``multi_step``; the policy's config must have ``subtask``): the simulator
does not type the instruction; after each reset the evaluator publishes it on ``/pi_vla/task`` (the policy node's
``task_topic``), so the prompt is the whole task and the policy predicts the subtask itself; nothing else publishes
on ``/pi_vla/language``. Subtask accuracy per frame: at every control tick (0.02 s) after the episode's first
``/pi_vla/subtask`` message, the subtask in force (the last one published) is compared with the expert's annotation,
``task.subtasks[task.current]`` (lower case, punctuation and spacing ignored); ticks after the last subtask is done
have no annotation and are not counted. ``subtask_accuracy`` counts the policy's own subtasks (sources ``predicted``
and ``reused``) word for word; ``subtask_meant_accuracy`` counts those that name the right subtask in any words
(the task's subtask nearest in words is the annotation: "block" for "cube" counts); ``subtask_by_source`` has each
source, ``instruction`` (a person's override) included.

Override (``override_next``, with ``hierarchical``): a person changes the order mid-episode. At ``override_at_s``
into the episode the *next* subtask (the one after the current, i.e. the second at first) is typed on
``/pi_vla/instruction`` as a person's line, so the instruction node publishes it on ``/pi_vla/language`` and the
policy node acts on it instead of its prediction; once that subtask's cube rests in the bowl (released) the
person says ``clear`` and the policy predicts again. The simulator's task now counts the order as broken, so in these
episodes ``success`` means every cube resting in the bowl, released, in whichever order (``success_in_order``
keeps the simulator's judgement) and the episode ends there. ``followed``: the person's cube was the first to rest
in the bowl. The report gives how often the policy followed and how often the task still got done.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np

from pi_vla_ros.core.instructions import nearest_subtask

STEP_S = 0.02   # one control tick: the loop's step, and the unit of per-frame subtask accuracy


class _Trace:
    """A tap node: what went to the controllers (by joint) and what the joints did, with sim time."""

    def __init__(self, run, profile):
        from pi_vla_ros.ros import Node, msgs

        self.node = Node("pi_vla_eval_trace", **run.node_options())
        self.commanded: dict[str, list] = {j: [] for j in profile.joints}
        self.executed: dict[str, list] = {j: [] for j in profile.joints}
        self.enabled = False
        self._run = run
        self.node.create_subscription(msgs.JointState, "/joint_states", self._on_js, 50)
        for ctrl in profile.controllers:
            if ctrl.trajectory_topic:
                self.node.create_subscription(msgs.JointTrajectory, ctrl.trajectory_topic, self._on_traj, 50)
            if ctrl.position_topic:
                self.node.create_subscription(msgs.Float64MultiArray, ctrl.position_topic,
                                              lambda m, c=ctrl: self._on_position(c, m), 50)
        run.add_node(self.node, "pi_vla_eval_trace")

    def clear(self) -> None:
        for d in (self.commanded, self.executed):
            for v in d.values():
                v.clear()

    def _on_js(self, msg) -> None:
        if self.enabled:
            t = self._run.sim_time()
            for name, pos in zip(msg.name, msg.position):
                if name in self.executed:
                    self.executed[name].append((t, pos))

    def _on_traj(self, msg) -> None:
        if self.enabled and msg.points:
            t = self._run.sim_time()
            for name, pos in zip(msg.joint_names, msg.points[0].positions):
                self.commanded[name].append((t, pos))

    def _on_position(self, ctrl, msg) -> None:
        if self.enabled:
            t = self._run.sim_time()
            for name, pos in zip(ctrl.joints, msg.data):
                self.commanded[name].append((t, pos))


class _Subtasks:
    """Hierarchical runs: hands each episode's task to the policy node, plays the person who overrides, and scores
    the subtask in force at every tick (see the module docstring).
    """

    def __init__(self, run):
        from pi_vla_ros.nodes.common import LATCHED_QOS
        from pi_vla_ros.ros import Node, msgs

        self.node = Node("pi_vla_eval_subtasks", **run.node_options())
        self._string = msgs.String
        self.task_pub = self.node.create_publisher(msgs.String, "/pi_vla/task", LATCHED_QOS)
        self.person_pub = self.node.create_publisher(msgs.String, "/pi_vla/instruction", 10)
        self.node.create_subscription(msgs.String, "/pi_vla/subtask", self._on_subtask, 50)
        self.last, self.messages, self.frames = None, 0, {}
        self._nearest: dict[tuple, str] = {}
        run.add_node(self.node, "pi_vla_eval_subtasks")

    def start(self, task: str) -> None:
        self.last, self.messages, self.frames = None, 0, {}   # frames: source -> [ticks, correct, meant]
        self.task_pub.publish(self._string(data=task))

    def say(self, line: str) -> None:
        self.person_pub.publish(self._string(data=line))

    def _on_subtask(self, msg) -> None:
        self.last = json.loads(msg.data)
        self.messages += 1

    def score(self, annotation: str | None, candidates: list[str]) -> None:
        """candidates: the task's subtasks; "meant" is right when the one nearest in words is the annotation."""
        if self.last is not None and annotation is not None:
            counts = self.frames.setdefault(self.last["source"], [0, 0, 0])
            counts[0] += 1
            counts[1] += _normalized(self.last["subtask"]) == _normalized(annotation)
            key = (self.last["subtask"], tuple(candidates))   # the same text for many ticks: match it once
            if key not in self._nearest:
                self._nearest[key] = nearest_subtask(self.last["subtask"], candidates)
            counts[2] += self._nearest[key] == annotation

    def summary(self) -> dict:
        return {"subtask_messages": self.messages, **_accuracy(self.frames)}


def _normalized(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _accuracy(frames: dict) -> dict:
    """frames: source -> [ticks, word for word, meant]. The headline counts the policy's own subtasks, not a
    person's.
    """
    own = [sum(frames.get(s, [0, 0, 0])[k] for s in ("predicted", "reused")) for k in (0, 1, 2)]
    return {"subtask_frames": own[0], "subtask_accuracy": round(own[1] / own[0], 4) if own[0] else None,
            "subtask_meant_accuracy": round(own[2] / own[0], 4) if own[0] else None,
            "subtask_by_source": {s: {"frames": n, "correct": c, "accuracy": round(c / n, 4), "meant": m,
                                      "meant_accuracy": round(m / n, 4)}
                                  for s, (n, c, m) in sorted(frames.items())}}


def evaluate(profile: str, policy: str, episodes: int, *, seed: int = 0, checkpoint: str | None = None,
             swap_instruction: bool = False, out_dir=None, media_episodes: int = 2, time_limit_s: float | None = None,
             progress: bool = True, policy_name: str | None = None, log=print, params: dict | None = None,
             multi_step: bool = False, hierarchical: bool = False, override_next: bool = False,
             override_at_s: float = 1.0) -> dict:
    """Run ``episodes`` closed-loop episodes. ``policy``: a registry name (with ``checkpoint``), a checkpoint
    directory (its config.json names the policy), or ``"expert"``. Returns the report (also written as JSON to
    ``out_dir/eval.json`` with the media, when ``out_dir`` is given). ``multi_step``, ``hierarchical``,
    ``override_next`` (a person's line at ``override_at_s``): see the module docstring.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.episodes import Progress, resolve_policy
    from pi_vla_ros.nodes.expert_node import ExpertNode
    from pi_vla_ros.policies.registry import get_config
    from pi_vla_ros.ros import Parameter
    from pi_vla_ros.runner import GraphRunner

    expert = policy == "expert"
    try:
        name, ckpt = (None, None) if expert else resolve_policy(policy, checkpoint, policy_name)
    except FileNotFoundError:
        if checkpoint:
            raise
        raise FileNotFoundError(f"{policy!r} is neither 'expert' nor a checkpoint directory (pass --checkpoint with "
                                f"a registry name)") from None
    if override_next and not hierarchical:
        raise ValueError("override_next needs hierarchical: the person overrides a predicted subtask")
    if hierarchical and (expert or not getattr(get_config(name), "subtask", False)):
        raise ValueError(f"hierarchical evaluation needs a policy that predicts subtasks (config subtask=True, e.g. "
                         f"pi05_hier_sim); {name or 'the scripted expert'} does not")
    multi_step = multi_step or hierarchical
    params = {k: dict(v) for k, v in (params or {}).items()}
    # the scripted expert is no graph node of the launch: its parameters (e.g. fumble_p) are given to it here
    expert_params = [Parameter(k, value=v) for k, v in params.pop("pi_vla_expert", {}).items()]
    if multi_step:
        params.setdefault("pi_vla_sim", {})["task"] = "pick_place_sequence"
    if hierarchical:   # the task goes to the policy node; /pi_vla/language is left to the person
        params["pi_vla_sim"]["publish_instruction"] = False
    launch = {"seed": seed}
    skip = ()
    if expert:
        skip = ("pi_vla_policy", "pi_vla_executor")
    else:
        launch |= {"policy": name, "checkpoint": ckpt}
    out_dir = Path(out_dir) if out_dir else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    wall0 = time.perf_counter()
    results = []
    with GraphRunner(profile, realtime=False, skip=skip, overrides=params, **launch) as run:
        sim = run.sim.sim
        prof = sim.profile
        if expert:
            run.add_node(ExpertNode(sim=sim, **run.node_options("expert"), parameter_overrides=[
                Parameter("use_sim_time", value=True), Parameter("announce_subtasks", value=False), *expert_params]))
        trace = _Trace(run, prof)
        subtasks = _Subtasks(run) if hierarchical else None
        if progress:
            run.set_log_level(30)   # the bar says what happens; warnings still show
        limit = sim.task.time_limit_s if time_limit_s is None else time_limit_s
        modes = (("swapped", swap_instruction), ("multi-step", multi_step), ("hierarchical", hierarchical),
                 ("override", override_next))
        mode = "".join(f" ({m})" for m, on in modes if on)
        bar = Progress(episodes, f"eval {name or 'expert'} on {profile}{mode}", progress)
        executor = run.nodes.get("pi_vla_executor")
        for i in range(episodes):
            s = seed + i
            target = None
            if swap_instruction:  # the same scene; the instruction names the other cube
                run.reset_episode(s)
                target = next(o for o in sim.task.object_names if o != sim.target_object)
            instruction = run.reset_episode(s, target)
            if subtasks is not None:
                subtasks.start(instruction)
            task = sim.task
            placed: list[str] = []     # cubes in the order they came to rest in the bowl, released
            override = {} if override_next else None
            t0 = run.sim_time()
            clamps0 = executor.core.stats.safety_clamps if executor else 0
            closings0, attached0 = dict(sim.grasp.closings), dict(sim.grasp.attached)
            kinds0 = dict(executor.core.stats.clamps_by_kind) if executor else {}
            media = out_dir is not None and i < media_episodes
            trace.clear()
            trace.enabled = media
            strip = []
            next_shot = 0.0
            success_at = None
            while run.sim_time() - t0 < limit - 1e-9:
                if media and run.sim_time() - t0 >= next_shot - 1e-9:
                    strip.append((run.sim_time() - t0, {c.name: sim.render(c.name).copy() for c in prof.cameras}))
                    next_shot += 1.0
                run.spin_for(STEP_S)
                if multi_step:
                    held = sim.grasp.held()
                    resting = [o for o in task.object_names if task.in_bowl(o) and o not in held]
                    placed += [o for o in resting if o not in placed]
                if subtasks is not None:
                    subtasks.score(task.subtasks[task.current].text if task.current < len(task.subtasks) else None,
                                   [t.text for t in task.subtasks])
                if override is not None:
                    _person(subtasks, task, placed, override, run.sim_time() - t0, override_at_s)
                done = len(resting) == len(task.object_names) if override is not None else sim.success()
                if done:
                    success_at = run.sim_time() - t0
                    break
            if media:
                strip.append((run.sim_time() - t0, {c.name: sim.render(c.name).copy() for c in prof.cameras}))
                tag = f"episode_{i:03d}_seed{s}"
                _image_strip(strip, out_dir / f"{tag}_cameras.png", f"{instruction!r} -> "
                             + (f"success at {success_at:.1f} s" if success_at is not None else "failure"))
                _trajectory_plot(trace, prof, t0, out_dir / f"{tag}_joints.png", instruction)
            results.append({"episode": i, "seed": s, "instruction": instruction, "target_object": sim.target_object,
                            "success": success_at is not None,
                            "time_to_success_s": None if success_at is None else round(success_at, 3),
                            "wrong_object_moved": bool(sim.wrong_object_moved()),
                            # per gripper that closed: how often, and how often it took hold of a cube
                            "grasps": {g: [n - closings0[g], sim.grasp.attached[g] - attached0[g]]
                                       for g, n in sim.grasp.closings.items() if n > closings0[g]},
                            "safety_clamps": (executor.core.stats.safety_clamps - clamps0) if executor else 0,
                            "clamps_by_kind": {k: v - kinds0.get(k, 0) for k, v in
                                               (executor.core.stats.clamps_by_kind if executor else {}).items()
                                               if v - kinds0.get(k, 0)}})
            if multi_step:
                results[-1].update(subtasks=[t.text for t in task.subtasks],
                                   subtasks_done=sum(t is not None for t in task.subtask_done_at),
                                   placed_order=placed, success_in_order=bool(sim.success()))
            if subtasks is not None:
                results[-1].update(subtasks.summary())
            if override is not None:
                results[-1]["override"] = override | {"followed": bool(placed) and placed[0] == override.get("obj")}
            bar.update(success_at is not None)
        bar.close()
        trace.enabled = False
    report = _report(results, profile, name or "expert", ckpt, seed, swap_instruction, time.perf_counter() - wall0)
    if multi_step:
        report |= _multi_step_report(results, hierarchical, override_next, override_at_s)
    if out_dir:
        (out_dir / "eval.json").write_text(json.dumps(report, indent=1))
    extra = ""
    if multi_step:
        extra = f", subtasks done {report['subtasks_done']}/{report['subtasks_total']}"
    if hierarchical:
        extra += (f", subtask accuracy per frame {report['subtask_accuracy']} word for word, "
                  f"{report['subtask_meant_accuracy']} meant")
    if override_next:
        o = report["override"]
        extra += f", followed the person {o['followed']}/{o['episodes']}, all cubes placed {o['all_placed']}"
    log(f"eval {report['policy']} on {profile}{mode}: "
        f"success {report['successes']}/{report['episodes']} = {report['success_rate']:.0%}, wrong object "
        f"{report['wrong_object_rate']:.0%}, mean time to success {report['time_to_success_s']['mean']} s, "
        f"clamps/episode {report['safety_clamps']['mean']}, missed grasps tried again in "
        f"{report['regrasps']['episodes']} episodes ({report['regrasps']['successes']} successful){extra}, "
        f"wall {report['wall_s']} s")
    return report


def _person(subtasks: _Subtasks, task, placed: list[str], override: dict, t: float, at_s: float) -> None:
    """The person of ``override_next``: at ``at_s`` names the subtask after the current one; clears it once its cube
    rests in the bowl. ``override`` collects what was said and when (episode time).
    """
    if "line" not in override and t >= at_s - 1e-9 and task.current + 1 < len(task.subtasks):
        nxt = task.subtasks[task.current + 1]
        override.update(line=nxt.text, obj=nxt.obj, at_s=round(t, 3), cleared_at_s=None)
        subtasks.say(nxt.text)
    elif "line" in override and override["cleared_at_s"] is None and override["obj"] in placed:
        override["cleared_at_s"] = round(t, 3)
        subtasks.say("clear")


def _multi_step_report(results, hierarchical: bool, override_next: bool, override_at_s: float) -> dict:
    out = {"multi_step": True, "hierarchical": hierarchical,
           "subtasks_done": sum(r["subtasks_done"] for r in results),
           "subtasks_total": sum(len(r["subtasks"]) for r in results)}
    if hierarchical:   # frames summed over the episodes: every tick weighs the same
        frames: dict = {}
        for r in results:
            for source, v in r["subtask_by_source"].items():
                counts = frames.setdefault(source, [0, 0, 0])
                counts[0] += v["frames"]
                counts[1] += v["correct"]
                counts[2] += v["meant"]
        out |= _accuracy(frames) | {"subtask_messages": sum(r["subtask_messages"] for r in results)}
    if override_next:
        said = [r for r in results if "line" in r["override"]]
        out["override"] = {"at_s": override_at_s, "episodes": len(said),
                           "followed": sum(r["override"]["followed"] for r in said),
                           "all_placed": sum(r["success"] for r in said),
                           "followed_and_all_placed": sum(r["override"]["followed"] and r["success"] for r in said)}
    return out


def _report(results, profile, policy, ckpt, seed, swapped, wall_s) -> dict:
    n = len(results)
    times = [r["time_to_success_s"] for r in results if r["success"]]
    clamps = [r["safety_clamps"] for r in results]

    def stats(v):
        return {"mean": round(float(np.mean(v)), 3) if v else None,
                "median": round(float(np.median(v)), 3) if v else None,
                "max": round(float(np.max(v)), 3) if v else None}

    return {"profile": profile, "policy": policy, "checkpoint": ckpt, "episodes": n, "seeds": [seed, seed + n - 1],
            "swap_instruction": swapped, "successes": sum(r["success"] for r in results),
            "success_rate": sum(r["success"] for r in results) / max(n, 1),
            "wrong_object_rate": sum(r["wrong_object_moved"] for r in results) / max(n, 1),
            "time_to_success_s": stats(times), "regrasps": _regrasps(results),
            "safety_clamps": {**stats(clamps), "total": int(sum(clamps))},
            "wall_s": round(wall_s, 1), "per_episode": results}


def _regrasps(results) -> dict:
    """Episodes in which a gripper closed again after a closing that held nothing: a missed grasp tried again."""
    def missed(r, closings: int) -> bool:   # some gripper closed at least `closings` times and held less often
        return any(closed >= closings and closed > held for closed, held in r["grasps"].values())

    tried = [r for r in results if missed(r, 2)]
    return {"episodes": len(tried), "successes": sum(r["success"] for r in tried),
            "missed_never_tried_again": sum(not r["success"] and missed(r, 1) and not missed(r, 2) for r in results)}


def _image_strip(shots, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cams = list(shots[0][1])
    fig, axes = plt.subplots(len(cams), len(shots), figsize=(1.9 * len(shots), 1.5 * len(cams) + 0.4), squeeze=False)
    for j, (t, images) in enumerate(shots):
        for r, cam in enumerate(cams):
            ax = axes[r, j]
            ax.imshow(images[cam])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={t:.1f}s", fontsize=8)
            if j == 0:
                ax.set_ylabel(cam, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _trajectory_plot(trace: _Trace, profile, t0: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = [j for j in profile.joints if trace.commanded[j] or trace.executed[j]]
    cols = 2 if len(joints) > 7 else 1
    rows = int(np.ceil(len(joints) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 1.3 * rows + 0.6), squeeze=False, sharex=True)
    for k, j in enumerate(joints):
        ax = axes[k % rows, k // rows]
        for series, style, label in ((trace.commanded[j], "-", "commanded"), (trace.executed[j], "--", "executed")):
            if series:
                t, v = np.array(series).T
                ax.plot(t - t0, v, style, lw=1.1, label=label)
        ax.set_ylabel(j, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("episode time (s)")
    fig.suptitle(f"commanded vs executed joint positions: {title!r}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
