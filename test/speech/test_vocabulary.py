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

import pytest

from pi_vla_ros.core.instructions import split_subtasks
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.speech.vocabulary import CONTROL_WORDS, Vocabulary, profile_vocabulary


def test_profile_vocabulary_covers_every_sentence_the_task_says():
    from pi_vla_ros.sim.tasks import OBJECT_NOUNS, PHRASINGS

    for name in ("ur5e", "bimanual", "mobile_manipulator"):
        profile = load_profile(name)
        voc = profile_vocabulary(profile)
        colours = {o["color"] for o in profile.task["objects"]}
        assert len(voc.instructions) == len(PHRASINGS) * len(colours) * len(OBJECT_NOUNS) * 2
        assert "put the red cube in the green bowl" in voc.instructions
        assert voc.control == CONTROL_WORDS


def test_profile_speech_phrases_are_added():
    voc = profile_vocabulary({"speech": {"phrases": ["Pick up the plate.", "put it in the sink"]}})
    assert voc.instructions == ("pick up the plate", "put it in the sink")


def test_to_line_gives_the_queue_line_or_none():
    voc = Vocabulary(("put the red cube in the bowl", "drop the blue block in the bowl"))
    assert voc.to_line("next") == "next"
    assert voc.to_line("put the red cube in the bowl") == "put the red cube in the bowl"
    line = voc.to_line("put the red cube in the bowl then drop the blue block in the bowl")
    assert line == "put the red cube in the bowl; drop the blue block in the bowl"
    assert split_subtasks(line) == ["put the red cube in the bowl", "drop the blue block in the bowl"]
    assert voc.to_line("put the red cube in the bowl and then drop the blue block in the bowl") == line
    for partial in ("put the red cube", "put the red cube in the bowl then", "next next", "", "bowl"):
        assert voc.to_line(partial) is None, partial


def test_grammar_and_bad_vocabularies():
    voc = Vocabulary(("wave", "bow"))
    g = voc.jsgf()
    assert g.startswith("#JSGF V1.0;") and "<instruction> = bow | wave;" in g and "public <utterance>" in g
    assert voc.words == {"wave", "bow", "then", "and", *CONTROL_WORDS}
    with pytest.raises(ValueError, match="at least one"):
        Vocabulary(("...",))
    with pytest.raises(ValueError, match="control words"):
        Vocabulary(("next",))
