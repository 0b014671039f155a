"""rclpy.parameter.Parameter and the rclpy.exceptions parameter errors (same messages as rclpy)."""

from __future__ import annotations

import array
from enum import Enum


class Parameter:
    class Type(Enum):
        NOT_SET = 0
        BOOL = 1
        INTEGER = 2
        DOUBLE = 3
        STRING = 4
        BYTE_ARRAY = 5
        BOOL_ARRAY = 6
        INTEGER_ARRAY = 7
        DOUBLE_ARRAY = 8
        STRING_ARRAY = 9

        @classmethod
        def from_parameter_value(cls, value) -> "Parameter.Type":
            # Same order of checks as rclpy, including its quirk that an empty list is a BYTE_ARRAY.
            if value is None:
                return cls.NOT_SET
            for scalar, type_ in ((bool, cls.BOOL), (int, cls.INTEGER), (float, cls.DOUBLE), (str, cls.STRING)):
                if isinstance(value, scalar):
                    return type_
            if isinstance(value, (list, tuple, array.array)):
                for item, type_ in _ARRAY_ITEMS:
                    if all(isinstance(v, item) for v in value):
                        return type_
                raise TypeError(f"The given value is not a list of one of the allowed types '{value}'.")
            raise TypeError(f"The given value is not one of the allowed types '{value}'.")

        def check(self, value) -> bool:
            return value is None if self is Parameter.Type.NOT_SET else _matches(self, value)

    def __init__(self, name: str, type_: "Parameter.Type | None" = None, value=None):
        if type_ is None:
            type_ = Parameter.Type.from_parameter_value(value)
        if not isinstance(type_, Parameter.Type):
            raise TypeError(f"type must be an instance of '{Parameter.Type!r}'")
        if not type_.check(value):
            raise ValueError(f"Type '{type_}' and value '{value}' do not agree")
        self._name, self._type_, self._value = name, type_, value

    @property
    def name(self) -> str:
        return self._name

    @property
    def type_(self) -> "Parameter.Type":
        return self._type_

    @property
    def value(self):
        return self._value

    def __repr__(self):
        return f"Parameter(name={self._name!r}, type_={self._type_.name}, value={self._value!r})"


_ARRAY_ITEMS = ((bytes, Parameter.Type.BYTE_ARRAY), (bool, Parameter.Type.BOOL_ARRAY),
                (int, Parameter.Type.INTEGER_ARRAY), (float, Parameter.Type.DOUBLE_ARRAY),
                (str, Parameter.Type.STRING_ARRAY))


def _matches(type_: Parameter.Type, value) -> bool:
    try:
        return Parameter.Type.from_parameter_value(value) == type_ or (
            # An empty list is valid for every array type (rclpy's check() accepts it too).
            type_.name.endswith("_ARRAY") and isinstance(value, (list, tuple, array.array)) and len(value) == 0)
    except TypeError:
        return False


class ParameterException(Exception):
    def __init__(self, error_msg: str, parameters):
        super().__init__(f"{error_msg}: {parameters}")


class ParameterNotDeclaredException(ParameterException):
    def __init__(self, parameters):
        super().__init__("Invalid access to undeclared parameter(s)", parameters)


class ParameterAlreadyDeclaredException(ParameterException):
    def __init__(self, parameters):
        super().__init__("Parameter(s) already declared", parameters)


class ParameterUninitializedException(ParameterException):
    def __init__(self, name: str):
        super().__init__(f"The parameter '{name}' is not initialized", name)


class InvalidParameterTypeException(ParameterException):
    def __init__(self, desired: Parameter, expected_type: str):
        got = Parameter.Type.from_parameter_value(desired.value).name
        super().__init__(f"Trying to set parameter '{desired.name}' to '{desired.value}' of type '{got}', "
                         f"expecting type '{expected_type}'", desired.name)


class InvalidParameterValueException(ParameterException):
    def __init__(self, name: str, value, reason: str):
        super().__init__(f"Invalid parameter value ({value}) for parameter. Reason: {reason}", name)
