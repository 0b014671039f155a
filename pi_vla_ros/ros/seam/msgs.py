"""ROS 2 message classes for the seam, generated from the Jazzy definitions shipped in ``rosbags``.

One factory (:func:`get_message`) turns a definition into a class behaving like a rosidl-generated
rclpy message: keyword constructor with ROS defaults, ``__slots__`` (unknown attributes raise
AttributeError), scalar/nested type checks on assignment (rclpy asserts these too: ``Float64(data=1)``
fails on a real robot, so it fails here), field-wise ``==``, constants as class attributes (``byte``
constants as 1-byte ``bytes``, like rclpy), ``get_fields_and_field_types()`` and ``__msgtype__``
('sensor_msgs/msg/JointState', the rosbags spelling).

Deviation (asked for, and convenient for numpy-heavy nodes): numeric sequence fields accept lists,
tuples, array.array, numpy arrays, bytes and bytearray and store the object as given. Real rclpy
stores array.array and rejects numpy arrays for unbounded sequences: publish ``arr.tolist()`` or an
``array.array`` where code must run on both.
"""

from __future__ import annotations

import array
from typing import ClassVar

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)

# ROS primitive -> (numpy dtype, array.array typecode or None). 'byte' is bytes in rclpy, uint8 on the wire.
PRIMITIVES = {
    "bool": (np.bool_, None), "byte": (np.uint8, None), "char": (np.uint8, "B"),
    "int8": (np.int8, "b"), "uint8": (np.uint8, "B"), "int16": (np.int16, "h"), "uint16": (np.uint16, "H"),
    "int32": (np.int32, "i"), "uint32": (np.uint32, "I"), "int64": (np.int64, "q"), "uint64": (np.uint64, "Q"),
    "float32": (np.float32, "f"), "float64": (np.float64, "d"),
}
_IDL_NAMES = {"float64": "double", "float32": "float", "bool": "boolean", "byte": "octet", "char": "uint8"}
_NUMERIC_SEQ = (list, tuple, array.array, np.ndarray, bytes, bytearray, memoryview)


class FieldTypeError(TypeError, AssertionError):
    """Wrong value type for a field (rclpy raises AssertionError; TypeError is what Python code expects)."""


def _scalar_ok(ros_type: str, value) -> bool:
    if ros_type == "bool":
        return isinstance(value, bool)
    if ros_type == "byte":
        return isinstance(value, bytes) and len(value) == 1
    if ros_type in ("float32", "float64"):
        return isinstance(value, float)
    if ros_type in PRIMITIVES:
        return isinstance(value, int)
    return isinstance(value, str)  # string / wstring


def _default(desc):
    kind, spec = desc
    if kind == Nodetype.BASE:
        ros_type = spec[0]
        return {"bool": False, "byte": b"\x00", "float32": 0.0, "float64": 0.0}.get(
            ros_type, 0 if ros_type in PRIMITIVES else "")
    if kind == Nodetype.NAME:
        return get_message(spec)()
    (sub_kind, sub_spec), length = spec
    if kind == Nodetype.ARRAY:  # fixed size: rclpy uses numpy for numbers, lists otherwise
        if sub_kind == Nodetype.BASE and sub_spec[0] in PRIMITIVES and sub_spec[0] != "byte":
            return np.zeros(length, PRIMITIVES[sub_spec[0]][0])
        return [_default((sub_kind, sub_spec)) for _ in range(length)]
    if sub_kind == Nodetype.BASE and sub_spec[0] in PRIMITIVES and PRIMITIVES[sub_spec[0]][1]:
        return array.array(PRIMITIVES[sub_spec[0]][1])
    return []


def _idl_name(desc) -> str:
    kind, spec = desc
    if kind == Nodetype.BASE:
        ros_type, bound = spec
        name = _IDL_NAMES.get(ros_type, ros_type)
        return f"{name}<{bound}>" if bound else name
    if kind == Nodetype.NAME:
        return spec.replace("/msg/", "/")
    sub, length = spec
    if kind == Nodetype.ARRAY:
        return f"{_idl_name(sub)}[{length}]"
    return f"sequence<{_idl_name(sub)}, {length}>" if length else f"sequence<{_idl_name(sub)}>"


def _check(cls, name: str, desc, value) -> None:
    kind, spec = desc
    if kind == Nodetype.BASE:
        ok = _scalar_ok(spec[0], value)
    elif kind == Nodetype.NAME:
        ok = isinstance(value, get_message(spec))
    else:
        (sub_kind, sub_spec), _ = spec
        if sub_kind == Nodetype.NAME:
            item_cls = get_message(sub_spec)
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, item_cls) for v in value)
        elif sub_spec[0] in PRIMITIVES and sub_spec[0] not in ("bool", "byte"):
            ok = isinstance(value, _NUMERIC_SEQ)  # elements are not checked: images are ~1e6 items
        else:
            ok = isinstance(value, (list, tuple, np.ndarray)) and all(_scalar_ok(sub_spec[0], v) for v in value)
    if not ok:
        raise FieldTypeError(f"The '{name}' field of {cls.__msgtype__} must be of type '{_idl_name(desc)}', "
                             f"got {type(value).__name__}")


def _field_eq(desc, a, b) -> bool:
    kind, spec = desc
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE) and spec[0][0] == Nodetype.BASE and spec[0][1][0] in PRIMITIVES:
        if spec[0][1][0] == "byte":
            a, b = b"".join(a), b"".join(b)
        dtype = PRIMITIVES[spec[0][1][0]][0]
        return np.array_equal(as_numpy(a, dtype), as_numpy(b, dtype))
    return a == b


def as_numpy(value, dtype) -> np.ndarray:
    """A numeric sequence field as a 1-D numpy array (zero-copy for bytes, array.array and arrays)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return np.frombuffer(value, dtype=dtype)
    return np.asarray(value, dtype=dtype).reshape(-1)


class Message:
    """Base of every generated message class."""

    __slots__ = ()
    __msgtype__: ClassVar[str]
    _fields: ClassVar[dict]  # field name -> rosbags field description

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise TypeError(f"Invalid arguments passed to constructor: {', '.join(sorted(unknown))}")
        for name, desc in self._fields.items():
            setattr(self, name, kwargs[name] if name in kwargs else _default(desc))

    def __setattr__(self, name, value):
        desc = self._fields.get(name)
        if desc is None:
            raise AttributeError(f"'{type(self).__name__}' message has no field '{name}'")
        _check(type(self), name, desc, value)
        object.__setattr__(self, name, value)

    def __eq__(self, other):
        if not isinstance(other, type(self)):
            return False
        return all(_field_eq(d, getattr(self, n), getattr(other, n)) for n, d in self._fields.items())

    __hash__ = None  # mutable, like rclpy messages

    def __reduce__(self):  # classes are made at runtime: pickle (and copy) by type name and fields
        return _rebuild, (self.__msgtype__, {name: getattr(self, name) for name in self._fields})

    def __repr__(self):
        pkg = self.__msgtype__.split("/")[0]
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{pkg}.msg.{type(self).__name__}({args})"

    @classmethod
    def get_fields_and_field_types(cls) -> dict[str, str]:
        return {name: _idl_name(desc) for name, desc in cls._fields.items()}


_classes: dict[str, type] = {}


def _rebuild(msgtype: str, fields: dict):
    return get_message(msgtype)(**fields)


def get_message(msgtype: str) -> type:
    """The seam class for e.g. 'sensor_msgs/msg/JointState' (any type the Jazzy typestore knows)."""
    cls = _classes.get(msgtype)
    if cls is None:
        constants, fields = TYPESTORE.fielddefs[msgtype]
        namespace = {"__slots__": tuple(name for name, _ in fields), "__msgtype__": msgtype,
                     "_fields": dict(fields), "__module__": __name__}
        for cname, ctype, cvalue in constants:
            namespace[cname] = bytes([cvalue]) if ctype == "byte" else cvalue
        cls = _classes[msgtype] = type(msgtype.rsplit("/", 1)[1], (Message,), namespace)
    return cls


TimeMsg = get_message("builtin_interfaces/msg/Time")
DurationMsg = get_message("builtin_interfaces/msg/Duration")
DiagnosticArray = get_message("diagnostic_msgs/msg/DiagnosticArray")
DiagnosticStatus = get_message("diagnostic_msgs/msg/DiagnosticStatus")
KeyValue = get_message("diagnostic_msgs/msg/KeyValue")
Twist = get_message("geometry_msgs/msg/Twist")
Vector3 = get_message("geometry_msgs/msg/Vector3")
Clock = get_message("rosgraph_msgs/msg/Clock")
Image = get_message("sensor_msgs/msg/Image")
JointState = get_message("sensor_msgs/msg/JointState")
Bool = get_message("std_msgs/msg/Bool")
Float64 = get_message("std_msgs/msg/Float64")
Float64MultiArray = get_message("std_msgs/msg/Float64MultiArray")
Header = get_message("std_msgs/msg/Header")
MultiArrayDimension = get_message("std_msgs/msg/MultiArrayDimension")
MultiArrayLayout = get_message("std_msgs/msg/MultiArrayLayout")
String = get_message("std_msgs/msg/String")
JointTrajectory = get_message("trajectory_msgs/msg/JointTrajectory")
JointTrajectoryPoint = get_message("trajectory_msgs/msg/JointTrajectoryPoint")
