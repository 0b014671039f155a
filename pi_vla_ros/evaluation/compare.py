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

"""Closed-loop evaluation reports side by side: `pi-vla compare REPORT.json ... [--out chart.png]`.

A success rate from 50 episodes is uncertain by about +-14 points, so every rate comes with its 95% Wilson score
interval (scipy's ``binomtest``): two runs whose intervals overlap widely are not ranked by their rates. The chart
draws one bar per report, the interval as its error bar.
"""

from __future__ import annotations

import json
from pathlib import Path


def load_row(path: str | Path, label: str | None = None) -> dict:
    """One report (`pi-vla eval --report`) as a row: label, counts, rate and its 95% interval."""
    from scipy.stats import binomtest

    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(report, dict) or not {"episodes", "successes"} <= set(report):
        raise ValueError(f"{path}: not an evaluation report (no episodes / successes)")
    n, k = int(report["episodes"]), int(report["successes"])
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"{path}: {k} successes of {n} episodes")
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    mode = "swapped" if report.get("swap_instruction") else "hierarchical" if report.get("hierarchical") else ""
    return {"label": label or Path(report.get("checkpoint") or path.stem).name + (f" ({mode})" if mode else ""),
            "policy": report.get("policy", ""), "episodes": n, "successes": k, "rate": k / n,
            "ci95": (round(float(ci.low), 3), round(float(ci.high), 3)),
            "wrong_object_rate": report.get("wrong_object_rate")}


def compare(paths: list[str], labels: list[str] | None = None, out: str | None = None) -> list[dict]:
    labels = labels or []
    if len(labels) > len(paths):
        raise ValueError(f"{len(labels)} labels for {len(paths)} reports")
    rows = [load_row(p, labels[i] if i < len(labels) else None) for i, p in enumerate(paths)]
    if out:
        _chart(rows, Path(out))
    return rows


def _chart(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    y = range(len(rows))[::-1]
    rates = [100 * r["rate"] for r in rows]
    err = [[100 * (r["rate"] - r["ci95"][0]) for r in rows], [100 * (r["ci95"][1] - r["rate"]) for r in rows]]
    ax.barh(list(y), rates, xerr=err, color="#4c78a8", ecolor="#333333", capsize=3)
    ax.set_yticks(list(y), [f"{r['label']}  {r['successes']}/{r['episodes']}" for r in rows], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("success, % (bars: 95% Wilson interval)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    width = max(len(r["label"]) for r in rows)
    lines = [f"{'report':<{width}}  success        95% interval   wrong object"]
    for r in rows:
        wrong = "" if r["wrong_object_rate"] is None else f"{100 * r['wrong_object_rate']:.0f}%"
        lines.append(f"{r['label']:<{width}}  {r['successes']:>3}/{r['episodes']:<3} {100 * r['rate']:4.0f}%   "
                     f"{100 * r['ci95'][0]:3.0f}-{100 * r['ci95'][1]:3.0f}%      {wrong}")
    return "\n".join(lines)
