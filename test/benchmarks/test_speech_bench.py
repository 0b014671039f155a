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

import json

import pytest

from pi_vla_ros.benchmarks import speech_bench
from pi_vla_ros.speech import synth

pytestmark = pytest.mark.skipif(not synth.available(),
                                reason="espeak-ng is not installed (scripts/ci_deps.sh installs it)")


def test_splits_are_disjoint():
    # The first eval split was looked at, so its voices joined the tuning ones; eval2 is held out from both.
    assert set(speech_bench.EVAL_VOICES) <= set(speech_bench.TUNE_VOICES)
    assert not set(speech_bench.TUNE_VOICES) & set(speech_bench.EVAL2_VOICES)
    assert len({s["seed"] for s in speech_bench.SPLITS.values()}) == len(speech_bench.SPLITS)
    assert len(speech_bench.EVAL2_VOICES) >= 6
    # eval3 is held out from the third round, which tuned on all three others: no voice in common with any.
    others = set(speech_bench.TUNE_VOICES) | set(speech_bench.EVAL2_VOICES)
    assert not others & set(speech_bench.EVAL3_VOICES) and len(speech_bench.EVAL3_VOICES) >= 6


def test_parallel_decoding_gives_the_same_rows():
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.speech.vocabulary import profile_vocabulary

    vocabulary = profile_vocabulary(load_profile("ur5e"))
    clips = speech_bench.trials(vocabulary, "eval2", utterances=3, noise_clips=1, oov=0)

    def strip(rows):   # wall-clock figures differ from run to run
        return [{k: v for k, v in r.items() if k not in ("decode_s", "latency_s", "segments")}
                | {"segments": [{k: v for k, v in s.items() if k != "decode_s"} for s in r["segments"]]}
                for r in rows]
    one, two = (speech_bench.run_parallel(vocabulary, clips, n) for n in (1, 2))
    assert strip(two) == strip(one)


def test_a_small_run_reports_every_figure(tmp_path):
    report = speech_bench.speech_bench("ur5e", "eval", utterances=4, noise_clips=2, oov=1, node=1,
                                       out=str(tmp_path / "speech.json"), figure=str(tmp_path / "speech.png"))
    s = report["summary"]
    assert s["utterances"] == 4 and s["noise_clips"] == 2 and s["oov_clips"] == 1
    assert 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["noise_false_trigger_rate"] <= 1.0
    assert sum(k["n"] for k in s["by_kind"].values()) == 4
    assert report["node_latency"]["n"] == 1
    saved = json.loads((tmp_path / "speech.json").read_text())
    assert len(saved["rows"]) == 7 and (tmp_path / "speech.png").stat().st_size > 1000
    for row in saved["rows"]:
        if row.get("correct"):
            assert row["accepted"] == [row["expected"]] and row["latency_s"] > 0
