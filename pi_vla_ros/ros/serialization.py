"""CDR (de)serialization of ROS 2 messages, and conversion to/from rosbags dataclasses.

``serialize_message`` / ``deserialize_message`` are rclpy.serialization's with ROS 2 installed, and
the rosbags CDR codec otherwise; the bytes are the same (CDR with its 4-byte encapsulation header),
so what one path writes the other reads. ``to_rosbags`` / ``from_rosbags`` / ``typestore`` work on
both paths (rclpy or seam messages) and are what a rosbag2 writer needs.
"""

from __future__ import annotations

import array
import importlib
from functools import lru_cache

import numpy as np

from pi_vla_ros.ros import HAVE_RCLPY

__all__ = ["serialize_message", "deserialize_message", "to_rosbags", "from_rosbags", "typestore", "type_name"]


@lru_cache(maxsize=None)
def typestore():
    """The rosbags type store (ROS 2 Jazzy definitions) used for CDR and for bag files."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def type_name(msg_or_type) -> str:
    """'sensor_msgs/msg/JointState' for a message (class or instance) of either path."""
    cls = msg_or_type if isinstance(msg_or_type, type) else type(msg_or_type)
    name = getattr(cls, "__msgtype__", None)
    return name or f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"  # rosidl: <pkg>.msg._<module>


def _message_class(name: str) -> type:
    if HAVE_RCLPY:  # pragma: no cover - ROS 2 machines only
        package, _, cls = name.split("/")
        return getattr(importlib.import_module(f"{package}.msg"), cls)
    from pi_vla_ros.ros.seam.msgs import get_message

    return get_message(name)


def _primitive(ros_type: str):
    from pi_vla_ros.ros.seam.msgs import PRIMITIVES  # numpy dtype and array.array code per ROS type

    return PRIMITIVES.get(ros_type)


def to_rosbags(msg):
    """The rosbags dataclass equal to ``msg``; numeric sequences become numpy arrays of the wire dtype."""
    from rosbags.interfaces import Nodetype

    name = type_name(msg)
    store = typestore()
    values = {}
    for field, (kind, spec) in store.fielddefs[name][1]:
        value = getattr(msg, field)
        if kind == Nodetype.BASE:
            values[field] = value[0] if spec[0] == "byte" else value  # rclpy byte is b'\x07', rosbags 7
        elif kind == Nodetype.NAME:
            values[field] = to_rosbags(value)
        else:
            (sub_kind, sub_spec), _ = spec
            if sub_kind == Nodetype.NAME:
                values[field] = [to_rosbags(v) for v in value]
            elif _primitive(sub_spec[0]):
                if sub_spec[0] == "byte" and len(value) and isinstance(value[0], bytes):
                    value = b"".join(value)
                dtype = _primitive(sub_spec[0])[0]
                if isinstance(value, (bytes, bytearray, memoryview)):
                    values[field] = np.frombuffer(value, dtype=dtype)
                else:
                    values[field] = np.asarray(value, dtype=dtype).reshape(-1)
            else:
                values[field] = list(value)  # strings
    return store.types[name](**values)


def from_rosbags(obj, msg_type: type | None = None):
    """A message of ``msg_type`` (default: the class for ``obj.__msgtype__``) equal to rosbags' ``obj``.

    Numeric sequences become array.array like rclpy's (a memcpy, fast even for images); fixed-size
    numeric arrays stay numpy arrays, also like rclpy."""
    from rosbags.interfaces import Nodetype

    msg_type = msg_type or _message_class(obj.__msgtype__)
    values = {}
    for field, (kind, spec) in typestore().fielddefs[obj.__msgtype__][1]:
        value = getattr(obj, field)
        if kind == Nodetype.BASE:
            values[field] = bytes([value]) if spec[0] == "byte" else value
        elif kind == Nodetype.NAME:
            values[field] = from_rosbags(value)
        else:
            (sub_kind, sub_spec), _ = spec
            primitive = _primitive(sub_spec[0]) if sub_kind == Nodetype.BASE else None
            if sub_kind == Nodetype.NAME:
                values[field] = [from_rosbags(v) for v in value]
            elif primitive and kind == Nodetype.ARRAY:
                values[field] = np.asarray(value, dtype=primitive[0])
            elif primitive and primitive[1]:
                values[field] = array.array(primitive[1], np.ascontiguousarray(value, dtype=primitive[0]).tobytes())
            elif primitive and sub_spec[0] == "byte":
                values[field] = [bytes([b]) for b in value]
            elif primitive:  # bool
                values[field] = [bool(b) for b in value]
            else:
                values[field] = list(value)
    return msg_type(**values)


if HAVE_RCLPY:  # pragma: no cover - ROS 2 machines only
    from rclpy.serialization import deserialize_message, serialize_message  # noqa: F401
else:

    def serialize_message(msg) -> bytes:
        return bytes(typestore().serialize_cdr(to_rosbags(msg), type_name(msg)))

    def deserialize_message(data: bytes, msg_type: type):
        return from_rosbags(typestore().deserialize_cdr(data, type_name(msg_type)), msg_type)
