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
``<out>/bags/`` unless ``keep_bags=False``.

With ``policy`` (a checkpoint directory) the policy and executor nodes run instead of the expert: the episodes are the
policy's own autonomous rollouts, successes and failures alike, with the executor's commands to the controllers as
the actions -- the experience Recap learns from (``pi_vla_ros/training/recap.py``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

EXPERTS = ("scripted",)


def collect(profile: str, out, episodes: int, *, seed: int = 0, expert: str = "scripted", keep_bags: bool = True,
            time_limit_s: float | None = None, progress: bool = True, log=print, policy: str | None = None,
            params: dict | None = None, takeover_after_s: float | None = None,
            correction_budget_s: float = 9.0, video_codec: str | None = None,
            subtask_format: str = "language") -> dict:
    """Record ``episodes`` demonstrations (seeds ``seed .. seed + episodes - 1``) into the dataset at ``out``
    (created, or appended to); with ``policy``, that policy's rollouts instead (``params``: node parameter
    overrides, e.g. ``{"pi_vla_policy": {"execute_steps": 16}}``). With ``takeover_after_s`` a supervisor corrects
    the policy: an episode not finished by then is taken over by the scripted expert from wherever the robot is
    (frames flagged ``intervention``), with ``correction_budget_s`` more to finish. ``video_codec``: "av1" (the
    default when PyAV has SVT-AV1, as LeRobot records) or "h264"; appending follows the dataset's.
    ``subtask_format``: "language" (LeRobot's language columns) or "index" (subtask_index: what released LeRobot
    0.4 opens). Returns a summary: episodes, successes, corrections, frames, seconds of wall time.
    """
    if policy is None and expert not in EXPERTS:
        raise ValueError(f"unknown expert {expert!r}; known: {EXPERTS}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.data.lerobot_dataset import LeRobotDataset
    from pi_vla_ros.data.rosbag import bag_to_lerobot
    from pi_vla_ros.episodes import Progress, resolve_policy
    from pi_vla_ros.nodes.expert_node import ExpertNode
    from pi_vla_ros.nodes.recorder_node import RecorderNode
    from pi_vla_ros.ros import Parameter
    from pi_vla_ros.runner import GraphRunner

    out = Path(out)
    bags = out / "bags"
    first = LeRobotDataset(out, decode_images=False).num_episodes if (out / "meta/info.json").exists() else 0
    wall0 = time.perf_counter()
    results = []
    sim_params = [Parameter("use_sim_time", value=True)]
    if policy is None:
        graph = {"skip": ("pi_vla_policy", "pi_vla_executor")}
    else:
        name, ckpt = resolve_policy(policy)
        graph = {"policy": name, "checkpoint": ckpt, "overrides": params or {}}
    with GraphRunner(profile, realtime=False, seed=seed, **graph) as run:
        sim = run.sim.sim
        if policy is None:
            expert_node = run.add_node(ExpertNode(sim=sim, **run.node_options("expert"),
                                                  parameter_overrides=sim_params))
            commands = lambda: expert_node.commands  # noqa: E731
        else:
            commands = lambda: run.nodes["pi_vla_executor"].core.stats.commands  # noqa: E731
        supervisor = None
        if policy is not None and takeover_after_s is not None:
            supervisor = run.add_node(ExpertNode(sim=sim, **run.node_options("expert"), parameter_overrides=[
                *sim_params, Parameter("wait_for_takeover", value=True), Parameter("announce_subtasks", value=False)]))
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
            deadline, takeover_at = limit, None
            while not sim.success() and run.sim_time() - t0 < deadline - 1e-9:
                if supervisor is not None and takeover_at is None and run.sim_time() - t0 >= takeover_after_s - 1e-9:
                    takeover_at = run.sim_time() - t0
                    supervisor.take_over()
                    deadline = takeover_at + correction_budget_s
                run.spin_for(dt)
            run.sim.publish_status()              # the outcome, as the last status in the bag
            run.spin_for(run.sim.p.step_period_s)
            recorder.stop()
            ok = bool(sim.success())
            episode = bag_to_lerobot(bag, sim.profile, out, actions="auto" if policy is None else "controllers",
                                     vcodec=video_codec, subtask_format=subtask_format)
            if not keep_bags:
                shutil.rmtree(bag)
            results.append({"episode": episode, "seed": seed + i, "success": ok,
                            "time_s": round(run.sim_time() - t0, 3), "instruction": sim.instruction,
                            "commands": commands() - commands0,
                            "takeover_s": None if takeover_at is None else round(takeover_at, 3)})
            bar.update(ok)
        bar.close()
    with LeRobotDataset(out, decode_images=False) as ds:
        frames = len(ds)
    summary = {"profile": profile, "dataset": str(out), "source": policy or f"expert:{expert}",
               "episodes": len(results),
               "successes": sum(r["success"] for r in results),
               "corrections": sum(r["takeover_s"] is not None for r in results), "frames_total": frames,
               "wall_s": round(time.perf_counter() - wall0, 1), "episodes_detail": results}
    log(f"collected {summary['episodes']} episodes ({summary['successes']} successful) into {out} "
        f"in {summary['wall_s']} s; dataset has {frames} frames")
    return summary
