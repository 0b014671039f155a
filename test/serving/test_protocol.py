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

"""The wire format against openpi_client's own msgpack_numpy, and strict decoding of frames and observations."""

import dataclasses

import msgpack
import numpy as np
import pytest
from openpi_client import msgpack_numpy

from pi_vla_ros.policies.base import ActionChunk, CommittedActions, Observation
from pi_vla_ros.serving.protocol import (ProtocolError, RemoteError, chunk_from_reply, decode_jpeg, encode_jpeg,
                                         observation_from_request, pack, reply_from_chunk, request_from_observation,
                                         unpack)

CAMS = ("cam_high", "cam_left_wrist")
META = dict(cameras=CAMS, state_dim=4, horizon=5, action_dim=3)


def _obs(committed=None):
    rng = np.random.default_rng(0)
    images = {c: rng.integers(0, 255, (12, 16, 3), dtype=np.uint8) for c in CAMS}
    return Observation(images=images, state=np.arange(4, dtype=np.float32), prompt="pick", stamp=1.5,
                       committed=committed)


def test_arrays_cross_with_openpi_clients_codec_both_ways():
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.int64(7), "c": [1, "x"],
             "d": np.zeros((2, 2, 3), np.uint8), "e": np.array([True, False])}
    theirs = msgpack_numpy.unpackb(pack(value))
    ours = unpack(msgpack_numpy.packb(value))
    for decoded in (theirs, ours):
        assert decoded.keys() == value.keys() and decoded["c"] == [1, "x"]
        for k in "ade":
            assert decoded[k].dtype == value[k].dtype and np.array_equal(decoded[k], value[k])
        assert decoded["b"] == 7 and isinstance(decoded["b"], np.int64)
    assert ours["a"].flags.writeable   # torch reads images in place


@pytest.mark.parametrize("frame", [
    b"\xc1",                                                           # never-used msgpack byte
    msgpack.packb({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "|O", b"shape": [1]}),  # object: pickle
    msgpack.packb({b"__ndarray__": True, b"data": b"\0" * 7, b"dtype": "<f4", b"shape": [2]}),  # bytes != shape
    msgpack.packb({b"__ndarray__": True, b"data": b"", b"dtype": "<f4", b"shape": [1, 1, 1, 1, 0]}),   # 5-D
    msgpack.packb({b"__ndarray__": True, b"data": b"\0" * 4, b"dtype": "<f4", b"shape": [-1]}),
    msgpack.packb({"x": msgpack.ExtType(5, b"abc")}),                  # extension types
    msgpack.packb({1: 2}),                                             # a non-string key
    "a text frame",
])
def test_malformed_frames_are_bad_frame(frame):
    with pytest.raises(ProtocolError) as err:
        unpack(frame)
    assert err.value.code == "bad_frame" and "\n" not in err.value.frame()


def test_request_round_trip_raw_chw_and_jpeg_with_the_rtc_prefix():
    committed = CommittedActions(np.ones((5, 3), np.float32), frozen=2, overlap=4)
    obs = _obs(committed)
    for encoding, layout in (("raw", "hwc"), ("raw", "chw"), ("jpeg", "hwc")):
        req = unpack(pack(request_from_observation(obs, image_encoding=encoding, layout=layout, delay_s=0.04)))
        back = observation_from_request(req, **META)
        assert back.prompt == "pick" and back.stamp == 1.5 and np.array_equal(back.state, obs.state)
        assert back.committed.frozen == 2 and back.committed.overlap == 4
        for c in CAMS:
            assert back.images[c].shape == (12, 16, 3)
            err = np.abs(back.images[c].astype(int) - obs.images[c]).mean()
            assert err == 0 if encoding == "raw" else err < 60   # noise images are JPEG's worst case
        assert req["pi_vla"]["committed"]["delay_s"] == pytest.approx(0.04)


@pytest.mark.parametrize("change, detail", [
    (lambda r: r.update(state=np.zeros(5, np.float32)), "state"),
    (lambda r: r.update(state=np.full(4, np.nan, np.float32)), "finite"),
    (lambda r: r["images"].pop("cam_high"), "missing ['cam_high']"),
    (lambda r: r["images"].update(cam_low=r["images"]["cam_high"]), "unknown ['cam_low']"),
    (lambda r: r["images"].update(cam_high=np.zeros((12, 16, 3), np.float32)), "uint8"),
    (lambda r: r["images"].update(cam_high=np.zeros((12, 16, 4), np.uint8)), "shape"),
    (lambda r: r["images"].update(cam_high=b"not a jpeg"), "JPEG"),
    (lambda r: r["images"].update(cam_high=encode_jpeg(np.zeros((4, 5000, 3), np.uint8))), "5000x4"),
    (lambda r: r.update(prompt=7), "prompt"),
    (lambda r: r.update(prompt="x" * 5000), "prompt"),
    (lambda r: r["pi_vla"].update(subtask=["pick"]), "subtask"),
    (lambda r: r["pi_vla"].update(committed={"actions": np.zeros((5, 3), np.float32), "frozen": 5, "overlap": 4}),
     "committed"),
    (lambda r: r["pi_vla"].update(committed={"actions": np.zeros((4, 3), np.float32), "frozen": 1, "overlap": 4}),
     "committed"),
])
def test_observations_are_checked_against_the_policy_metadata(change, detail):
    req = unpack(pack(request_from_observation(_obs())))
    change(req)
    with pytest.raises(ProtocolError) as err:
        observation_from_request(req, **META)
    assert err.value.code == "invalid_observation" and detail in str(err.value)


def test_jpeg_decoding_and_replies():
    img = np.full((8, 8, 3), 200, np.uint8)
    assert np.abs(decode_jpeg(encode_jpeg(img)).astype(int) - 200).max() <= 2
    reply = {"actions": np.zeros((5, 3), np.float64), "server_timing": {"infer_ms": 3.0}}   # an openpi server's
    chunk = chunk_from_reply(unpack(pack(reply)), stamp=2.0, dt=0.02, horizon=None, action_dim=3)
    assert chunk.actions.dtype == np.float32 and chunk.dt == 0.02 and chunk.info["server_timing"]["infer_ms"] == 3
    assert chunk.info["prompt_truncated"] is False
    cut = ActionChunk(actions=np.zeros((5, 3), np.float32), dt=0.02, stamp=1.0, info={"prompt_truncated": True})
    reply = unpack(pack(reply_from_chunk(cut, "pi0", False, {})))
    assert chunk_from_reply(reply, stamp=1.0, dt=0.02, horizon=5, action_dim=3).info["prompt_truncated"] is True
    with pytest.raises(ProtocolError):
        chunk_from_reply(reply, stamp=2.0, dt=0.02, horizon=50, action_dim=3)
    assert RemoteError("rate_limited: too many").code == "rate_limited"
    assert RemoteError("Traceback (most recent call last):\n...").code == "error"


def test_hierarchical_subtasks_cross_both_ways():
    """A person's subtask goes with the request; the subtask the server's policy acted on comes back."""
    obs = dataclasses.replace(_obs(), subtask="pick up the red cube")
    back = observation_from_request(unpack(pack(request_from_observation(obs))), **META)
    assert back.subtask == "pick up the red cube"
    assert observation_from_request(unpack(pack(request_from_observation(_obs()))), **META).subtask is None
    info = {"subtask": "put it in the bowl", "subtask_confidence": np.float32(0.75), "subtask_source": "predicted"}
    chunk = ActionChunk(actions=np.zeros((5, 3), np.float32), dt=0.02, stamp=1.5, info=info)
    reply = unpack(pack(reply_from_chunk(chunk, "pi05_hier", False, {"infer_ms": 1.0})))
    got = chunk_from_reply(reply, stamp=1.5, dt=0.02, horizon=5, action_dim=3).info
    assert got["subtask"] == "put it in the bowl" and got["subtask_confidence"] == 0.75
    assert got["subtask_source"] == "predicted"
    reply["pi_vla"]["subtask_source"] = "made up"
    with pytest.raises(ProtocolError, match="subtask"):
        chunk_from_reply(reply, stamp=1.5, dt=0.02, horizon=5, action_dim=3)
