import numpy as np
import pytest

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.observation import JointStateMapper, ObservationCore, image_to_rgb


def test_mapper_reorders_by_name():
    m = JointStateMapper(("a", "b", "c"))
    np.testing.assert_array_equal(m.map(["c", "a", "b"], [3, 1, 2]), [1, 2, 3])


@pytest.mark.parametrize("names,pos,reason", [
    (["a", "b"], [1, 2], "missing_joint"),
    (["a", "b", "c", "x"], [1, 2, 3, 4], "unknown_joint"),
    (["a", "b", "c"], [1, np.nan, 3], "non_finite_joint_state"),
    (["a", "b", "c"], [1, np.inf, 3], "non_finite_joint_state"),
    (["a", "b", "c"], [1, 2], "joint_state_size"),
])
def test_mapper_rejects(names, pos, reason):
    with pytest.raises(RejectedInput) as e:
        JointStateMapper(("a", "b", "c")).map(names, pos)
    assert e.value.reason == reason


def test_mapper_allows_listed_extra_joints():
    m = JointStateMapper(("a",), allowed_extra=("finger_mimic",))
    np.testing.assert_array_equal(m.map(["finger_mimic", "a"], [9, 1]), [1])


def test_image_conversion_and_rejections(profile):
    cam = profile.cameras[0]
    rgb = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    out = image_to_rgb(cam, 8, 6, "rgb8", 24, rgb.tobytes())
    np.testing.assert_array_equal(out, rgb)
    bgr = image_to_rgb(cam, 8, 6, "bgr8", 24, rgb[..., ::-1].tobytes())
    np.testing.assert_array_equal(bgr, rgb)
    padded = np.zeros((6, 30), np.uint8)
    padded[:, :24] = rgb.reshape(6, 24)
    np.testing.assert_array_equal(image_to_rgb(cam, 8, 6, "rgb8", 30, padded.tobytes()), rgb)
    for args, reason in [((9, 6, "rgb8", 27, bytes(162)), "image_size"),
                         ((8, 6, "mono16", 16, bytes(96)), "image_encoding"),
                         ((8, 6, "rgb8", 24, bytes(100)), "image_size")]:
        with pytest.raises(RejectedInput) as e:
            image_to_rgb(cam, *args)
        assert e.value.reason == reason


def _feed(core, t, img_t=None):
    core.on_joint_state(t, ["grip", "j2", "j1"], [0.01, 0.2, 0.1])
    for cam in ("cam_a", "cam_b"):
        core.on_image(cam, t if img_t is None else img_t, 8, 6, "rgb8", 24, bytes(144))


def test_latest_synchronizes_and_detects_staleness(profile):
    core = ObservationCore(profile, max_age_s=0.5, max_skew_s=0.06)
    with pytest.raises(RejectedInput, match="no_data"):
        core.latest(0.0)
    for k in range(10):
        core.on_joint_state(k * 0.01, ["j1", "j2", "grip"], [k, 0, 0])
    for cam in ("cam_a", "cam_b"):
        core.on_image(cam, 0.05, 8, 6, "rgb8", 24, bytes(144))
    obs = core.latest(0.1)
    assert obs.stamp == pytest.approx(0.05) and obs.state[0] == 5  # state nearest the images
    with pytest.raises(RejectedInput) as e:
        core.latest(0.7)
    assert e.value.reason == "stale_camera"


def test_camera_skew_rejected(profile):
    core = ObservationCore(profile, max_age_s=1.0, max_skew_s=0.06)
    core.on_joint_state(0.3, ["j1", "j2", "grip"], [0, 0, 0])
    core.on_image("cam_a", 0.1, 8, 6, "rgb8", 24, bytes(144))
    core.on_image("cam_b", 0.3, 8, 6, "rgb8", 24, bytes(144))
    with pytest.raises(RejectedInput) as e:
        core.latest(0.3)
    assert e.value.reason == "camera_skew"


def test_partial_frame_set_uses_the_previous_complete_one(profile):
    """Frames of a new set arrive camera by camera: until all are in, the last consistent set is used."""
    core = ObservationCore(profile, max_age_s=1.0, max_skew_s=0.06)
    for k in range(40):
        core.on_joint_state(k * 0.01, ["j1", "j2", "grip"], [k, 0, 0])
    for cam in ("cam_a", "cam_b"):
        core.on_image(cam, 0.2, 8, 6, "rgb8", 24, bytes(144))
    core.on_image("cam_a", 0.3, 8, 6, "rgb8", 24, bytes(144))   # cam_b's 0.3 s frame not in yet
    obs = core.latest(0.3)
    assert obs.image_stamps == {"cam_a": 0.2, "cam_b": 0.2} and obs.stamp == pytest.approx(0.2)
    core.on_image("cam_b", 0.3, 8, 6, "rgb8", 24, bytes(144))
    assert core.latest(0.3).image_stamps == {"cam_a": 0.3, "cam_b": 0.3}
