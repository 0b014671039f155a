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

"""openpi's websocket policy protocol, with pi_vla_ros's extensions, decoded strictly. No pickle anywhere.

Wire format (as openpi_client 0.1.2's ``msgpack_numpy`` writes it): msgpack, where a numpy array is the map
``{b"__ndarray__": True, b"data": <raw bytes>, b"dtype": dtype.str, b"shape": [...]}`` and a numpy scalar
``{b"__npgeneric__": True, b"data": <item>, b"dtype": dtype.str}``. A connection: after the websocket handshake
the server sends one binary frame, the metadata map; then every binary frame from the client (an observation map)
gets exactly one binary reply (an action map) or one text frame, which is an error. ``GET /healthz`` answers 200.

Observation map (openpi's ALOHA layout): ``state`` float [state_dim]; ``images`` {camera: uint8 [H, W, 3] or
[3, H, W]}; ``prompt`` str. Reply: ``actions`` float32 [H, action_dim], ``server_timing`` {``infer_ms``, ...}.
Our extensions travel under the key ``pi_vla``, which an openpi peer ignores: in a request, ``stamp`` and the
real-time-chunking prefix ``committed`` {``actions`` [H, action_dim], ``frozen``, ``overlap``, ``delay_s``},
``reset`` (a new episode: the server calls the policy's ``reset()``, re-seeding its noise, before this request),
``subtask`` (hierarchical policies: a person's subtask, used instead of the predicted one); in a reply ``dt``,
``stamp``, ``policy``, ``untrained`` and, from hierarchical policies, ``subtask``, ``subtask_confidence`` and
``subtask_source`` ("predicted" | "given"). A camera image may also be ``bytes``: a JPEG file (our
extension: smaller frames at some loss of fidelity; an openpi server does not read it).

Decoding (:func:`unpack`) accepts only these forms: arrays of plain numeric or bool dtypes whose byte count
matches their shape (at most 4 dimensions), no msgpack extension types, bounded sizes; anything else is a
:class:`ProtocolError`. :func:`observation_from_request` then checks an observation against the policy's
metadata before any inference. Errors are short codes (:data:`ERROR_CODES`) with one line of detail.
"""

from __future__ import annotations

import io

import msgpack
import numpy as np

from pi_vla_ros.policies.base import ActionChunk, CommittedActions, Observation

PROTOCOL_VERSION = 1
EXTENSION_KEY = "pi_vla"
SUBTASK_INFO = ("subtask", "subtask_confidence", "subtask_source")
# the text frame a server sends instead of a reply: "<code>: <detail>"
ERROR_CODES = ("bad_frame", "invalid_observation", "rate_limited", "inference_failed", "server_busy")
MAX_IMAGE_SIDE = 4096
MAX_PROMPT_CHARS = 2000
_DTYPES = {np.dtype(t).str for t in ("bool", "u1", "i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4",
                                     "<f8")}


class ProtocolError(ValueError):
    """A frame or observation the protocol does not accept: ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail

    def frame(self) -> str:
        """The text frame that reports it: one line, bounded (never a traceback)."""
        return f"{self.code}: {self.detail}"[:300].replace("\n", " ")


class RemoteError(RuntimeError):
    """A text frame from the server: the request failed there (``code``: its error code, or "error")."""

    def __init__(self, text: str):
        code, sep, _ = text.partition(":")
        self.code = code if sep and code.isidentifier() else "error"
        super().__init__(text[:300])


# -- msgpack with numpy arrays, as openpi_client.msgpack_numpy -------------------------------------------------------
def _pack_default(obj):
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "VOc":
            raise TypeError(f"unsupported dtype {obj.dtype}")
        return {b"__ndarray__": True, b"data": np.ascontiguousarray(obj).tobytes(), b"dtype": obj.dtype.str,
                b"shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot send {type(obj).__name__}")


def pack(obj) -> bytes:
    return msgpack.packb(obj, default=_pack_default)


def _array_hook(obj: dict):
    if b"__ndarray__" in obj:
        dtype, shape, data = obj.get(b"dtype"), obj.get(b"shape"), obj.get(b"data")
        if not (isinstance(dtype, str) and dtype in _DTYPES and isinstance(data, bytes)
                and isinstance(shape, (list, tuple)) and len(shape) <= 4
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape)):
            raise ProtocolError("bad_frame", "malformed array")
        dt = np.dtype(dtype)
        if int(np.prod(shape, dtype=np.int64)) * dt.itemsize != len(data):
            raise ProtocolError("bad_frame", f"array of shape {list(shape)} {dtype} does not hold {len(data)} bytes")
        return np.frombuffer(data, dtype=dt).reshape(shape).copy()   # writable: torch reads it in place
    if b"__npgeneric__" in obj:
        dtype, data = obj.get(b"dtype"), obj.get(b"data")
        if not (isinstance(dtype, str) and dtype in _DTYPES and isinstance(data, (bool, int, float))):
            raise ProtocolError("bad_frame", "malformed numpy scalar")
        return np.dtype(dtype).type(data)
    return obj


def _no_ext(code, data):
    raise ProtocolError("bad_frame", f"msgpack extension type {code}")


def unpack(data: bytes, max_bytes: int = 1 << 30):
    """A decoded frame; a :class:`ProtocolError` (``bad_frame``) for anything but the forms in the docstring."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError("bad_frame", "expected a binary frame")
    try:
        return msgpack.unpackb(data, object_hook=_array_hook, ext_hook=_no_ext, raw=False, strict_map_key=True,
                               max_bin_len=max_bytes, max_str_len=max_bytes, max_array_len=1 << 16,
                               max_map_len=1 << 12)
    except ProtocolError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise ProtocolError("bad_frame", f"not a msgpack frame ({type(exc).__name__})") from None


# -- observations -----------------------------------------------------------------------------------------------------
def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """An RGB image from JPEG bytes; the header's size is checked before any pixel is decoded (no bombs)."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data), formats=["JPEG"])
        if max(img.size) > MAX_IMAGE_SIDE:
            raise ProtocolError("invalid_observation", f"JPEG of {img.size[0]}x{img.size[1]} pixels")
        return np.array(img.convert("RGB"))   # a writable copy
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError("invalid_observation", "an image is not a readable JPEG") from None


def request_from_observation(obs: Observation, *, image_encoding: str = "raw", jpeg_quality: int = 90,
                             layout: str = "hwc", delay_s: float | None = None, reset: bool = False) -> dict:
    """The request map for ``obs``: openpi's keys, plus ours under ``pi_vla`` (stamp, RTC prefix, delay, reset)."""
    images = {}
    for name, img in obs.images.items():
        if image_encoding == "jpeg":
            images[name] = encode_jpeg(img, jpeg_quality)
        else:
            images[name] = np.ascontiguousarray(np.moveaxis(img, -1, 0)) if layout == "chw" else img
    ext: dict = {"stamp": float(obs.stamp)}
    if obs.subtask is not None:   # hierarchical policies: a person's subtask, used instead of the predicted one
        ext["subtask"] = obs.subtask
    if reset:
        ext["reset"] = True
    if obs.committed is not None:
        c = obs.committed
        ext["committed"] = {"actions": np.asarray(c.actions, np.float32), "frozen": int(c.frozen),
                            "overlap": int(c.overlap)}
        if delay_s is not None:
            ext["committed"]["delay_s"] = float(delay_s)
    return {"state": np.asarray(obs.state, np.float32), "images": images, "prompt": obs.prompt, EXTENSION_KEY: ext}


def _image(name: str, value) -> np.ndarray:
    if isinstance(value, bytes):
        return decode_jpeg(value)
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 3:
        raise ProtocolError("invalid_observation", f"image {name!r} must be uint8 [H, W, 3] or [3, H, W]")
    if value.shape[-1] != 3 and value.shape[0] == 3:   # openpi's ALOHA clients send channels first
        value = np.moveaxis(value, 0, -1)
    h, w, c = value.shape
    if c != 3 or not (0 < h <= MAX_IMAGE_SIDE and 0 < w <= MAX_IMAGE_SIDE):
        raise ProtocolError("invalid_observation", f"image {name!r} has shape {list(value.shape)}")
    return value


def observation_from_request(req, *, cameras: tuple[str, ...], state_dim: int, horizon: int,
                             action_dim: int) -> Observation:
    """An :class:`Observation` from a decoded request, checked against the policy's metadata."""
    if not isinstance(req, dict):
        raise ProtocolError("bad_frame", "a request is a map")
    state, images, prompt = req.get("state"), req.get("images"), req.get("prompt", "")
    if not isinstance(state, np.ndarray) or state.shape != (state_dim,) or state.dtype.kind not in "fiu":
        raise ProtocolError("invalid_observation", f"state must be a number array of shape [{state_dim}], got "
                                                   f"{getattr(state, 'shape', type(state).__name__)}")
    state = state.astype(np.float32)
    if not np.all(np.isfinite(state)):
        raise ProtocolError("invalid_observation", "state is not finite")
    if not isinstance(images, dict) or not all(isinstance(k, str) for k in images):
        raise ProtocolError("invalid_observation", "images must be a map of camera name -> image")
    missing, unknown = sorted(set(cameras) - set(images)), sorted(set(images) - set(cameras))
    if missing or unknown:
        raise ProtocolError("invalid_observation", f"cameras: missing {missing}, unknown {unknown[:8]}; the policy "
                                                   f"reads {list(cameras)}")
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS:
        raise ProtocolError("invalid_observation", f"prompt must be a string of at most {MAX_PROMPT_CHARS} chars")
    ext = req.get(EXTENSION_KEY)
    ext = ext if isinstance(ext, dict) else {}
    stamp = ext.get("stamp", 0.0)
    stamp = float(stamp) if isinstance(stamp, (int, float)) and np.isfinite(stamp) else 0.0
    committed = _committed(ext.get("committed"), horizon, action_dim)
    subtask = ext.get("subtask")
    if subtask is not None and (not isinstance(subtask, str) or len(subtask) > MAX_PROMPT_CHARS):
        raise ProtocolError("invalid_observation", f"pi_vla.subtask must be a string of at most {MAX_PROMPT_CHARS} "
                                                   "chars")
    return Observation(images={n: _image(n, v) for n, v in images.items()}, state=state, prompt=prompt,
                       stamp=stamp, committed=committed, subtask=subtask)


def wants_reset(req) -> bool:
    """Whether a decoded request asks for the policy's ``reset()`` first (a new episode)."""
    ext = req.get(EXTENSION_KEY) if isinstance(req, dict) else None
    return isinstance(ext, dict) and ext.get("reset") is True


def _committed(c, horizon: int, action_dim: int) -> CommittedActions | None:
    if c is None:
        return None
    ok = isinstance(c, dict) and isinstance(c.get("actions"), np.ndarray)
    actions = c["actions"] if ok else None
    frozen, overlap = (c.get("frozen"), c.get("overlap")) if ok else (None, None)
    if not (ok and actions.shape == (horizon, action_dim) and actions.dtype.kind == "f"
            and np.all(np.isfinite(actions)) and isinstance(frozen, int) and isinstance(overlap, int)
            and 0 <= frozen <= overlap <= horizon):
        raise ProtocolError("invalid_observation", f"pi_vla.committed must be finite actions [{horizon}, "
                                                   f"{action_dim}] with 0 <= frozen <= overlap <= {horizon}")
    return CommittedActions(actions.astype(np.float32), frozen, overlap)


# -- replies ---------------------------------------------------------------------------------------------------------
def reply_from_chunk(chunk: ActionChunk, policy_name: str, untrained: bool, timing: dict) -> dict:
    return {"actions": np.asarray(chunk.actions, np.float32), "server_timing": timing,
            EXTENSION_KEY: {"dt": float(chunk.dt), "stamp": float(chunk.stamp), "policy": policy_name,
                            "untrained": bool(untrained),
                            # the model saw the prompt cut to its max_tokens (openpi truncates silently)
                            "prompt_truncated": bool(chunk.info.get("prompt_truncated", False)),
                            # hierarchical policies: the subtask the actions were made for, and where it came from
                            **({"subtask": str(chunk.info["subtask"]),
                                "subtask_confidence": float(chunk.info["subtask_confidence"]),
                                "subtask_source": str(chunk.info["subtask_source"])}
                               if "subtask" in chunk.info else {})}}


def chunk_from_reply(reply, *, stamp: float, dt: float, horizon: int | None, action_dim: int) -> ActionChunk:
    """The chunk in a reply map (ours or an openpi server's), shape-checked; ``dt`` when the server does not say."""
    actions = reply.get("actions") if isinstance(reply, dict) else None
    if not isinstance(actions, np.ndarray) or actions.ndim != 2 or actions.shape[1] != action_dim \
            or (horizon is not None and actions.shape[0] != horizon) or actions.dtype.kind not in "fiu":
        got = getattr(actions, "shape", type(actions).__name__)
        raise ProtocolError("bad_frame", f"reply actions must be [{horizon or 'H'}, {action_dim}], got {got}")
    ext = reply.get(EXTENSION_KEY)
    ext = ext if isinstance(ext, dict) else {}
    timing = reply.get("server_timing") if isinstance(reply.get("server_timing"), dict) else {}
    info = {"policy": ext.get("policy", "remote"), "untrained": bool(ext.get("untrained", False)),
            "prompt_truncated": ext.get("prompt_truncated") is True, "server_timing": timing}
    subtask = {k: ext[k] for k in SUBTASK_INFO if k in ext}
    if subtask:
        if not (isinstance(subtask.get("subtask"), str) and isinstance(subtask.get("subtask_confidence"), float)
                and subtask.get("subtask_source") in ("predicted", "given")):
            raise ProtocolError("bad_frame", "reply pi_vla.subtask must be text with a float confidence and a source")
        info |= subtask
    return ActionChunk(actions=actions.astype(np.float32), dt=float(ext.get("dt", dt)), stamp=stamp, info=info)
