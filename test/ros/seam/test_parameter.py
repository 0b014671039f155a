import pytest

from pi_vla_ros.ros.seam.parameter import Parameter


@pytest.mark.parametrize("value, type_", [
    (None, Parameter.Type.NOT_SET), (True, Parameter.Type.BOOL), (3, Parameter.Type.INTEGER),
    (3.0, Parameter.Type.DOUBLE), ("s", Parameter.Type.STRING), ([b"a"], Parameter.Type.BYTE_ARRAY),
    ([True], Parameter.Type.BOOL_ARRAY), ([1, 2], Parameter.Type.INTEGER_ARRAY),
    ((1.0,), Parameter.Type.DOUBLE_ARRAY), (["a"], Parameter.Type.STRING_ARRAY),
    ([], Parameter.Type.BYTE_ARRAY),  # rclpy's quirk: declare list defaults with a Parameter.Type or items
])
def test_type_inferred_from_value(value, type_):
    p = Parameter("p", value=value)
    assert (p.name, p.type_, p.value) == ("p", type_, value)


def test_explicit_type_must_agree():
    assert Parameter("p", Parameter.Type.DOUBLE_ARRAY, []).type_ == Parameter.Type.DOUBLE_ARRAY
    with pytest.raises(ValueError):
        Parameter("p", Parameter.Type.DOUBLE, 1)
    with pytest.raises(TypeError):
        Parameter("p", value=[1, "a"])
    with pytest.raises(TypeError):
        Parameter("p", value={"a": 1})
