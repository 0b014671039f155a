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

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.instructions import SubtaskQueue, nearest_subtask, split_subtasks, validate_text


def test_split():
    assert split_subtasks("pick up the red cube; put it in the bowl") == ["pick up the red cube", "put it in the bowl"]
    assert split_subtasks("open the gripper, then grasp the cup and then lift it.") == [
        "open the gripper", "grasp the cup", "lift it"]
    assert split_subtasks("put the blue block in the bowl") == ["put the blue block in the bowl"]


def test_queue_advances_and_clears():
    q = SubtaskQueue()
    q.handle("pick up the red cube; put it in the bowl")
    assert q.current == "pick up the red cube" and q.remaining == ["put it in the bowl"]
    q.handle("next")
    assert q.current == "put it in the bowl"
    assert q.handle("next") == "all subtasks done" and q.current == ""
    q.handle("next")                                  # advancing past the end is harmless
    assert q.current == ""
    q.handle("wave; bow")
    q.handle("clear")
    assert q.current == "" and q.subtasks == []


def test_success_and_fail_mark_the_current_subtask_and_leave_the_queue():
    q = SubtaskQueue()
    q.handle("put the red cube in the bowl, then put the blue cube in the bowl")
    assert q.handle("Success.") == "marked success: 'put the red cube in the bowl'"
    assert q.current == "put the red cube in the bowl" and q.marks == [(0, "success")]
    q.handle("next")
    q.handle("fail")
    q.handle("next")                                  # all done: a mark goes to the last subtask
    q.handle("failed")
    assert q.marks == [(0, "success"), (1, "fail"), (1, "fail")] and q.current == ""
    q.reset()
    assert q.marks == [] and q.handle("success") == "marked success"


def test_queue_rejects_empty_and_huge():
    q = SubtaskQueue()
    with pytest.raises(ValueError):
        q.handle("   ")
    with pytest.raises(ValueError):
        q.handle("x" * 501)


def test_split_after_semicolon_then():
    assert split_subtasks("wave at the camera; then bow") == ["wave at the camera", "bow"]


def test_bad_lines_rejected_with_reasons_counted_and_queue_kept():
    """Issue 9: a lone surrogate from the terminal made every inference fail; 1 MB of language was accepted."""
    q = SubtaskQueue(max_chars=40)
    q.handle("wave; bow")
    bad = [("   ", "instruction_empty"), ("x" * 41, "instruction_too_long"), ("x" * 1_000_000, "instruction_too_long"),
           ("pick up the \udce9 cube", "instruction_unencodable"), ("pick\x00 up", "instruction_control_char"),
           ("go\x1b[2J", "instruction_control_char"), ("ne\x9bxt", "instruction_control_char"),
           (b"wave", "instruction_unencodable")]
    for text, reason in bad:
        with pytest.raises(RejectedInput) as e:
            q.handle(text)
        assert e.value.reason == reason
    assert q.current == "wave" and q.subtasks == ["wave", "bow"]          # nothing rejected touched the queue
    assert q.rejected.as_dict() == {"instruction_control_char": 3, "instruction_empty": 1,
                                    "instruction_too_long": 2, "instruction_unencodable": 2}
    q.handle("  x" + "x" * 39 + "\n")                                    # 40 after stripping: fine
    q.handle("open the gripper\tslowly\r\nthen lift")                 # tab, CR, LF are text
    assert q.subtasks == ["open the gripper\tslowly", "lift"]
    q.reset()
    assert q.current == "" and q.rejected.total() == 8                    # a new episode keeps the counts


def test_validate_text_for_other_streams():
    assert validate_text("", kind="language") == ""                        # empty conditioning is the caller's call
    with pytest.raises(RejectedInput, match="language_too_long"):
        validate_text("a" * 501, kind="language")
    assert validate_text("ümlaut 日本語 ✓") == "ümlaut 日本語 ✓"


def test_the_subtask_meant_is_the_nearest_in_words():
    steps = ["put the red cube in the bowl", "put the blue cube in the bowl"]
    assert nearest_subtask("put the blue block in the bowl", steps) == steps[1]
    assert nearest_subtask("Put the red block in the bowl", steps) == steps[0]
