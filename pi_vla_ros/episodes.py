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

"""What ``pi-vla collect`` and ``pi-vla eval`` share: which policy a command names, and the progress bar.

Both run episodes through one lockstep :class:`~pi_vla_ros.runner.GraphRunner`; this module sits below both
(``data/collect.py`` and ``evaluation/closed_loop.py`` import it, never each other).

- :func:`resolve_policy`: ``(registry name, checkpoint directory)`` from a checkpoint directory alone (its
  ``config.json`` names the policy) or a registry name with ``--checkpoint``; a directory without
  ``config.json`` or a name without a checkpoint is one FileNotFoundError saying what to pass.
- :class:`Progress`: a tqdm bar (plain lines without tqdm) with the running success count.
"""

from __future__ import annotations

import json
from pathlib import Path


def resolve_policy(policy: str, checkpoint: str | None = None, policy_name: str | None = None) -> tuple[str, str]:
    """(registry name, checkpoint dir) from a name + checkpoint, or a checkpoint directory alone."""
    path = Path(checkpoint or policy)
    if (path / "config.json").is_file():
        meta = json.loads((path / "config.json").read_text())
        name = policy_name or meta.get("config", {}).get("name")
        if not name:
            raise ValueError(f"{path}/config.json does not name its policy")
        return name, str(path)
    if checkpoint:
        raise FileNotFoundError(f"checkpoint {checkpoint} has no config.json")
    raise FileNotFoundError(f"{policy!r} is not a checkpoint directory (no config.json)")


class Progress:
    """A tqdm bar with the running success count (plain lines without tqdm; nothing when disabled)."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.n = self.ok = 0
        self.total, self.desc, self.bar, self.enabled = total, desc, None, enabled
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=desc, unit="ep", dynamic_ncols=True)
            except ImportError:
                pass

    def update(self, success: bool, **extra) -> None:
        self.n += 1
        self.ok += bool(success)
        info = {"ok": f"{self.ok}/{self.n}", "last": "success" if success else "FAIL", **extra}
        if self.bar is not None:
            self.bar.set_postfix(info, refresh=False)
            self.bar.update(1)
        elif self.enabled:
            print(f"{self.desc}: {self.n}/{self.total} " + " ".join(f"{k}={v}" for k, v in info.items()), flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
