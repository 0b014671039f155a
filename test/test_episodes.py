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

"""What collection and evaluation share: naming a policy by checkpoint, and the progress bar."""

import json

import pytest

from pi_vla_ros.episodes import Progress, resolve_policy


def test_a_checkpoint_directory_names_its_policy(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"config": {"name": "pi06_sim"}}))
    assert resolve_policy(str(tmp_path)) == ("pi06_sim", str(tmp_path))
    assert resolve_policy("pi06_tiny", str(tmp_path), "pi06_tiny") == ("pi06_tiny", str(tmp_path))


def test_what_cannot_name_a_policy_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a checkpoint directory"):
        resolve_policy(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        resolve_policy("pi06_sim", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(ValueError, match="does not name its policy"):
        resolve_policy(str(tmp_path))


def test_progress_counts_successes(capsys):
    bar = Progress(3, "collect", enabled=True)
    bar.bar = None                      # the plain-line form, as without tqdm
    for ok in (True, False, True):
        bar.update(ok)
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "collect: 3/3 ok=2/3 last=success" and (bar.n, bar.ok) == (3, 2)
