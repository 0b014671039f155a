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

"""``pi-vla bench vi``: verbal-instruction collection in the simulator, measured.

Runs ``pi-vla collect --vi`` (:func:`pi_vla_ros.data.collect.collect` with ``vi=True``) for ``episodes`` multi-step
episodes on each profile (seeds ``seed ..``, bags not kept), the scripted instructor speaking through ``voice``.
Reports per profile and over all: episodes, successes, subtasks done, the share of subtask labels in the dataset
within ``tolerance_s`` of when their line was given (done being said), the same for the language events, the
largest label offset, frames and wall time. Writes the report as JSON and a figure of one episode (camera frames
above its subtask labels, events and per-subtask success, read back from the dataset). Figures, never
assertions: the README reports them.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from pi_vla_ros.profiles import PROFILES


def vi_bench(profiles=PROFILES, episodes: int = 17, *, out="runs/bench/vi_collect", voice: str = "typed",
             seed: int = 0, tolerance_s: float = 0.2, figure=None, report=None, progress: bool = True,
             log=print) -> dict:
    from pi_vla_ros.data.collect import collect, plot_vi_episode, vi_summary

    out = Path(out)
    wall0 = time.perf_counter()
    per_profile, details = {}, []
    for profile in profiles:
        root = out / profile
        summary = collect(profile, root, episodes, seed=seed, vi=True, voice=voice, keep_bags=False,
                          progress=progress, log=log)
        per_profile[profile] = {"episodes": summary["episodes"], "successes": summary["successes"],
                                "frames": summary["frames_total"], "wall_s": summary["wall_s"], **summary["vi"]}
        details += [{"profile": profile, **r} for r in summary["episodes_detail"]]
    total = vi_summary(details, tolerance_s)
    result = {"voice": voice, "profiles": list(profiles), "episodes_per_profile": episodes, "seed": seed,
              "commit": _commit(),
              "episodes": len(details), "successes": sum(r["success"] for r in details),
              "wall_s": round(time.perf_counter() - wall0, 1), **total, "per_profile": per_profile,
              "episodes_detail": details}
    if figure:
        Path(figure).parent.mkdir(parents=True, exist_ok=True)
        plot_vi_episode(out / profiles[0], 0, figure, lines=details[0]["lines"])
        result["figure"] = str(figure)
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(json.dumps(result, indent=1))
    log(f"VI collection ({voice}): {result['successes']}/{result['episodes']} episodes successful, "
        f"{total['subtasks_done']}/{total['subtasks']} subtasks done; subtask labels within {tolerance_s} s of "
        f"their line: {total['labels_within']}/{total['subtask_labels']} ({total['labels_within_share']:.1%}); "
        f"events: {total['events_within']}/{total['events']}; wall {result['wall_s']} s")
    return result


def _commit() -> str | None:
    """The checkout's commit (with "+dirty" when files differ), so a figure can be traced to the code."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None
