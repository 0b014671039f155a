import pytest

from pi_vla_ros.core.instructions import SubtaskQueue, split_subtasks


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


def test_queue_rejects_empty_and_huge():
    q = SubtaskQueue()
    with pytest.raises(ValueError):
        q.handle("   ")
    with pytest.raises(ValueError):
        q.handle("x" * 501)


def test_split_after_semicolon_then():
    assert split_subtasks("wave at the camera; then bow") == ["wave at the camera", "bow"]
