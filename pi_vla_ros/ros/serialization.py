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

"""CDR (de)serialization of ROS 2 messages (rclpy's message classes), and conversion to rosbags dataclasses.

- :func:`serialize_message` returns exact CDR: the 4-byte encapsulation header, the payload, nothing after it,
  alignment gaps zeroed. Equal messages give equal bytes, and rosbags and ``ros2 bag`` read them. It is not
  ``rclpy.serialization.serialize_message``: on Jazzy, rmw_fastrtps returns its buffer padded to the size
  estimate, with uninitialized bytes in the alignment gaps and the tail (8 extra bytes for a 1-joint
  JointState), and rosbags rejects that ("CDR message size mismatch"). Ours goes through rosbags' CDR
  codec; numeric sequences (image data included) pass as numpy views of rclpy's arrays, so the cost is
  one copy of the payload plus a few microseconds per field.
- :func:`deserialize_message` is rclpy's (C; reads exact and padded buffers alike).
- :func:`to_rosbags` gives the rosbags dataclass equal to an rclpy message; numeric sequences become numpy
  arrays of the wire dtype.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

import numpy as np
from rclpy.serialization import deserialize_message  # noqa: F401 - re-exported: rclpy reads exact CDR

__all__ = ["serialize_message", "deserialize_message", "to_rosbags", "typestore", "type_name", "message_class"]

# numpy dtype of each ROS primitive that rosbags carries as a numpy array inside sequences and arrays
PRIMITIVE_DTYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}


@lru_cache(maxsize=None)
def typestore():
    """The rosbags type store (ROS 2 Jazzy definitions) used for CDR and for bag files."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def type_name(msg_or_type) -> str:
    """'sensor_msgs/msg/JointState' for an rclpy or rosbags message (class or instance)."""
    cls = msg_or_type if isinstance(msg_or_type, type) else type(msg_or_type)
    name = getattr(cls, "__msgtype__", None)  # rosbags dataclasses
    return name or f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"  # rosidl: <pkg>.msg._<module>


@lru_cache(maxsize=None)
def message_class(name: str) -> type:
    """The rclpy message class for 'pkg/msg/Type' (ImportError/AttributeError if it is not installed)."""
    package, _, cls = name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), cls)


@lru_cache(maxsize=None)
def _plan(name: str) -> tuple:
    """Per field of ``name``: (field, kind, detail) for :func:`to_rosbags`, worked out once per type."""
    from rosbags.interfaces import Nodetype

    plan = []
    for field, (kind, spec) in typestore().fielddefs[name][1]:
        if kind == Nodetype.BASE:
            plan.append((field, "byte" if spec[0] == "byte" else "plain", None))
        elif kind == Nodetype.NAME:
            plan.append((field, "msg", None))
        else:
            (sub_kind, sub_spec), _ = spec
            if sub_kind == Nodetype.NAME:
                plan.append((field, "msgs", None))
            elif sub_spec[0] in PRIMITIVE_DTYPES:
                plan.append((field, "bytes" if sub_spec[0] == "byte" else "numeric", PRIMITIVE_DTYPES[sub_spec[0]]))
            else:
                plan.append((field, "strings", None))
    return typestore().types[name], tuple(plan)


def to_rosbags(msg):
    """The rosbags dataclass equal to the rclpy message ``msg``."""
    cls, plan = _plan(type_name(msg))
    values = {}
    for field, kind, dtype in plan:
        value = getattr(msg, field)
        if kind == "numeric":  # array.array (sequences) and numpy (fixed arrays): views, no copy
            values[field] = np.frombuffer(value, dtype) if isinstance(value, (bytes, bytearray, memoryview)) \
                else np.asarray(value, dtype).reshape(-1)
        elif kind == "plain":
            values[field] = value
        elif kind == "msg":
            values[field] = to_rosbags(value)
        elif kind == "msgs":
            values[field] = [to_rosbags(v) for v in value]
        elif kind == "bytes":  # rclpy: a list of 1-byte bytes objects
            values[field] = np.frombuffer(b"".join(value), np.uint8)
        elif kind == "byte":   # rclpy b'\x07', rosbags 7
            values[field] = value[0]
        else:
            values[field] = list(value)
    return cls(**values)


def serialize_message(msg) -> bytes:
    """Exact CDR of ``msg`` (see the module docstring); :func:`deserialize_message` reads it back."""
    return bytes(typestore().serialize_cdr(to_rosbags(msg), type_name(msg)))
