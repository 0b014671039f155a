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

"""The command line as a user meets it: a wrong argument is one line on stderr and a non-zero exit."""

import pytest

from pi_vla_ros.cli import main


@pytest.mark.parametrize("argv, message", [
    (["eval", "--profile", "bimanual", "--policy", "/nonexistent", "--episodes", "1"], "neither 'expert' nor"),
    (["collect", "--profile", "nope", "--episodes", "1", "--out", "{tmp}/d"], "unknown robot profile 'nope'"),
    (["collect", "--profile", "bimanual", "--policy", "/nonexistent", "--episodes", "1", "--out", "{tmp}/d"],
     "'/nonexistent' is not a checkpoint directory"),
    (["collect", "--profile", "bimanual", "--takeover-on-miss", "0.4", "--episodes", "1", "--out", "{tmp}/d"],
     "give --policy"),
    (["bench", "subtask", "/nonexistent", "--dataset", "{tmp}"], "not a checkpoint directory"),
    (["train", "--policy", "pi06_sim", "--dataset", "/nonexistent", "--out", "{tmp}/c", "--steps", "1"],
     "/nonexistent"),
    (["launch", "bimanual", "--sim", "--fast", "--allow-untrained", "--duration", "1",
      "--param", "executor.blend_s=-1"], "blend_s"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, argv, message):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"pi-vla {argv[0]}: error:")


def test_param_syntax_is_checked():
    with pytest.raises(SystemExit, match="node.param=value"):
        main(["launch", "bimanual", "--sim", "--param", "blend_s"])


@pytest.mark.parametrize("value, message", [("1.5", "not a probability"), ("x", "'x' is not a number")])
def test_fumble_is_a_probability(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as exit_:
        main(["collect", "--profile", "bimanual", "--episodes", "1", "--out", str(tmp_path), "--fumble", value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_teleop_without_sim_points_to_ros2_launch():
    with pytest.raises(SystemExit, match="teleop:=leader"):
        main(["teleop", "bimanual", "--mode", "leader"])


def test_convert_appends_recorded_bags(tmp_path, capsys):
    """pi-vla convert: bags recorded on a robot (here a synthetic one) become episodes; --vi declares the per-subtask
    success that a person's 'success' marks give.
    """
    from pi_vla_ros.data.lerobot_dataset import LeRobotDataset
    from pi_vla_ros.profiles import load_profile
    from test.data.test_rosbag import record_episode

    profile = load_profile("ur5e")
    record_episode(tmp_path / "bag", profile, extra=((0.5, "/pi_vla/instruction", "success"),))
    argv = ["convert", str(tmp_path / "bag"), "--profile", "ur5e", "--out", str(tmp_path / "ds"), "--vi"]
    assert main(argv) == 0 and main(argv) == 0
    assert "-> episode 1 of" in capsys.readouterr().out
    with LeRobotDataset(tmp_path / "ds", decode_images=False) as ds:
        assert ds.num_episodes == 2 and int(ds.columns["next.subtask_success"].sum()) == 2
    assert main(["convert", str(tmp_path / "none"), "--profile", "ur5e", "--out", str(tmp_path / "x")]) == 2
