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

import numpy as np
import pytest

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.observation import JointStateMapper, ObservationCore, compressed_to_rgb, image_to_rgb

JOINTS = ["j1", "j2", "grip"]


def test_mapper_reorders_by_name():
    m = JointStateMapper(("a", "b", "c"))
    np.testing.assert_array_equal(m.to_profile_order(["c", "a", "b"], [3, 1, 2]), [1, 2, 3])


@pytest.mark.parametrize("names,pos,reason", [
    (["a", "b"], [1, 2], "missing_joint"),
    (["a", "b", "c", "x"], [1, 2, 3, 4], "unknown_joint"),
    (["a", "b", "c"], [1, np.nan, 3], "non_finite_joint_state"),
    (["a", "b", "c"], [1, np.inf, 3], "non_finite_joint_state"),
    (["a", "b", "c"], [1, 2], "joint_state_size"),
    (["a", "b", "c", "a"], [1, 2, 3, 4], "duplicate_joint"),      # which "a" would win is arbitrary
    (["a", "b", "c", "a"], [1, 2, 3, 1], "duplicate_joint"),      # even with equal values
])
def test_mapper_rejects(names, pos, reason):
    with pytest.raises(RejectedInput) as e:
        JointStateMapper(("a", "b", "c")).to_profile_order(names, pos)
    assert e.value.reason == reason


def test_mapper_checks_velocity_and_effort_sizes():
    m = JointStateMapper(("a", "b"))
    np.testing.assert_array_equal(m.to_profile_order(["a", "b"], [1, 2], [], []), [1, 2])          # not reported: fine
    # velocity and effort are not used: a NaN there is not checked
    np.testing.assert_array_equal(m.to_profile_order(["a", "b"], [1, 2], [0.1, 0.2], [np.nan, 3]), [1, 2])
    for velocity, effort in [([0.1], []), ([], [1, 2, 3]), ([0.1, 0.2], [1])]:
        with pytest.raises(RejectedInput) as e:
            m.to_profile_order(["a", "b"], [1, 2], velocity, effort)
        assert e.value.reason == "joint_state_size"


def test_mapper_allows_listed_extra_joints():
    m = JointStateMapper(("a",), allowed_extra=("finger_mimic",))
    np.testing.assert_array_equal(m.to_profile_order(["finger_mimic", "a"], [9, 1]), [1])


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
                         ((8, 6, "32FC1", 32, bytes(192)), "image_encoding"),
                         ((8, 6, "8UC3", 24, bytes(144)), "image_encoding"),    # channel order unknown
                         ((8, 6, "rgb8", 24, bytes(100)), "image_size"),
                         ((8, 6, "rgb8", 20, bytes(120)), "image_size")]:       # step shorter than a row
        with pytest.raises(RejectedInput) as e:
            image_to_rgb(cam, *args)
        assert e.value.reason == reason


def _with_padding(pixels: np.ndarray, pad: int = 5) -> tuple[int, bytes]:
    """Rows of ``pixels`` (H x W x bytes) with ``pad`` junk bytes after each, as some drivers send them."""
    rows = pixels.reshape(pixels.shape[0], -1)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    return padded.shape[1], padded.tobytes()


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "mono16_be",
                                      "yuv422", "yuv422_yuy2"])
def test_common_camera_encodings_with_row_padding(profile, encoding):
    cam = profile.cameras[0]
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    big = encoding.endswith("_be")
    if encoding.startswith("mono"):
        expected = np.repeat(gray[..., None], 3, axis=2)
        pixels = gray[..., None] if encoding == "mono8" else \
            (gray.astype(np.uint16) * 256 + 77).astype(">u2" if big else "<u2")[..., None].view(np.uint8)
        encoding = encoding.removesuffix("_be")
    elif encoding.startswith("yuv"):
        import cv2
        rgb[:, 1::2] = rgb[:, 0::2]                  # 4:2:2 shares chroma between pixel pairs: make pairs equal
        r, g, b = np.moveaxis(rgb.astype(float), -1, 0)   # BT.601 video range, as cameras send it
        y = np.round(16 + 0.257 * r + 0.504 * g + 0.098 * b).astype(np.uint8)
        u = np.round(128 - 0.148 * r - 0.291 * g + 0.439 * b)[:, 0::2].astype(np.uint8)
        v = np.round(128 + 0.439 * r - 0.368 * g - 0.071 * b)[:, 0::2].astype(np.uint8)
        pixels = np.empty((6, 8, 2), np.uint8)
        luma, chroma = (1, 0) if encoding == "yuv422" else (0, 1)          # UYVY / YUYV
        pixels[..., luma] = y
        pixels[:, 0::2, chroma], pixels[:, 1::2, chroma] = u, v
        code = cv2.COLOR_YUV2RGB_UYVY if luma else cv2.COLOR_YUV2RGB_YUY2
        expected = cv2.cvtColor(np.ascontiguousarray(pixels), code)
        assert np.abs(expected.astype(int) - rgb).mean() <= 3               # the colors we started from
    else:
        expected = rgb
        pixels = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "rgba8": np.dstack([rgb, np.full((6, 8), 9, np.uint8)]),
                  "bgra8": np.dstack([rgb[..., ::-1], np.full((6, 8), 9, np.uint8)])}[encoding]
    step, data = _with_padding(np.ascontiguousarray(pixels))
    out = image_to_rgb(cam, 8, 6, encoding, step, data, is_bigendian=int(big))
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8 and out.flags.writeable
    np.testing.assert_array_equal(out, expected)


def _encode(rgb, ext, **kw):
    import cv2
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1] if rgb.ndim == 3 else rgb), **kw)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("fmt", ["rgb8; jpeg compressed bgr8", "bgr8; png compressed bgr8", "jpeg", "png", "",
                                 "mono8; png compressed mono8", "mono16; png compressed mono16"])
def test_compressed_images_as_image_transport_sends_them(profile, fmt):
    cam = profile.cameras[0]
    ext = ".jpg" if "jpeg" in fmt or fmt == "" else ".png"
    yy, xx = np.mgrid[0:6, 0:8]
    rgb = np.stack([xx * 30, yy * 40, np.full_like(xx, 200)], -1).astype(np.uint8)
    if ext == ".jpg":  # lossy, subsampled chroma: one color, distinct per channel, shows RGB vs BGR
        rgb[:] = (20, 120, 230)
    if fmt.startswith("mono8"):
        rgb[..., 1] = rgb[..., 2] = rgb[..., 0]
        data = _encode(rgb[..., 0], ext)
    elif fmt.startswith("mono16"):
        rgb[..., 1] = rgb[..., 2] = rgb[..., 0]
        data = _encode(rgb[..., 0].astype(np.uint16) * 256, ext)
    else:
        data = _encode(rgb, ext, params=[__import__("cv2").IMWRITE_JPEG_QUALITY, 98] if ext == ".jpg" else [])
    out = compressed_to_rgb(cam, fmt, data)
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    tolerance = 3 if ext == ".jpg" else 0
    assert np.abs(out.astype(int) - rgb).max() <= tolerance, fmt       # colors in RGB order, not BGR
    core = ObservationCore(profile)
    core.on_compressed_image("cam_a", 1.0, fmt, bytearray(data), now=1.0)   # rclpy hands over array.array: any buffer
    assert core.image_stamps() == {"cam_a": 1.0}


def test_compressed_image_rejections(profile):
    cam = profile.cameras[0]
    good = _encode(np.zeros((6, 8, 3), np.uint8), ".jpg")
    cases = [("jpeg", good[:40], "image_decode"),                        # truncated: header only part-way
             ("jpeg", good[:len(good) // 2], "image_decode"),            # header intact, scan data cut off
             ("jpeg", b"\x00" * 100, "image_decode"),                    # not an image at all
             ("png", _encode(np.zeros((6, 8, 3), np.uint8), ".png")[:30] + b"junk" * 10, "image_decode"),
             ("jpeg", b"", "image_decode"),
             ("jpeg", _encode(np.zeros((7, 8, 3), np.uint8), ".jpg"), "image_size"),
             ("png", _encode(np.zeros((6, 9, 3), np.uint8), ".png"), "image_size"),
             ("16UC1; compressedDepth png", good, "image_encoding"),
             ("rgb8; tiff compressed bgr8", good, "image_encoding")]
    for fmt, data, reason in cases:
        with pytest.raises(RejectedInput) as e:
            compressed_to_rgb(cam, fmt, data)
        assert e.value.reason == reason, (fmt, len(data), e.value)


def test_compressed_size_is_checked_before_decoding(profile, monkeypatch):
    """A frame announcing a huge size is rejected from its header: no decode, no huge allocation."""
    import cv2
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded a wrong-size frame"))
    png = bytearray(_encode(np.zeros((6, 8, 3), np.uint8), ".png"))
    png[16:24] = (100_000).to_bytes(4, "big") * 2       # IHDR width, height
    jpg = bytearray(_encode(np.zeros((6, 8, 3), np.uint8), ".jpg"))
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5:sof + 9] = (60_000).to_bytes(2, "big") * 2   # SOF0 height, width
    for fmt, data in [("png", png), ("jpeg", jpg)]:
        with pytest.raises(RejectedInput, match="image_size"):
            compressed_to_rgb(profile.cameras[0], fmt, bytes(data))


def test_latest_synchronizes_and_detects_staleness(profile):
    core = ObservationCore(profile, max_age_s=0.5, max_skew_s=0.06)
    with pytest.raises(RejectedInput, match="no_data"):
        core.latest(0.0)
    for k in range(10):
        core.on_joint_state(k * 0.01, ["j1", "j2", "grip"], [k, 0, 0], now=k * 0.01)
    for cam in ("cam_a", "cam_b"):
        core.on_image(cam, 0.05, 8, 6, "rgb8", 24, bytes(144), now=1.0)
    obs = core.latest(0.1)
    assert obs.stamp == pytest.approx(0.05) and obs.state[0] == 5  # state nearest the images
    with pytest.raises(RejectedInput) as e:
        core.latest(0.7)
    assert e.value.reason == "stale_camera"


def test_camera_skew_rejected(profile):
    core = ObservationCore(profile, max_age_s=1.0, max_skew_s=0.06)
    core.on_joint_state(0.3, ["j1", "j2", "grip"], [0, 0, 0], now=0.3)
    core.on_image("cam_a", 0.1, 8, 6, "rgb8", 24, bytes(144), now=1.0)
    core.on_image("cam_b", 0.3, 8, 6, "rgb8", 24, bytes(144), now=1.0)
    with pytest.raises(RejectedInput) as e:
        core.latest(0.3)
    assert e.value.reason == "camera_skew"


def test_partial_frame_set_uses_the_previous_complete_one(profile):
    """Frames of a new set arrive camera by camera: until all are in, the last consistent set is used."""
    core = ObservationCore(profile, max_age_s=1.0, max_skew_s=0.06)
    for k in range(40):
        core.on_joint_state(k * 0.01, ["j1", "j2", "grip"], [k, 0, 0], now=k * 0.01)
    for cam in ("cam_a", "cam_b"):
        core.on_image(cam, 0.2, 8, 6, "rgb8", 24, bytes(144), now=1.0)
    core.on_image("cam_a", 0.3, 8, 6, "rgb8", 24, bytes(144), now=1.0)   # cam_b's 0.3 s frame not in yet
    obs = core.latest(0.3)
    assert obs.image_stamps == {"cam_a": 0.2, "cam_b": 0.2} and obs.stamp == pytest.approx(0.2)
    core.on_image("cam_b", 0.3, 8, 6, "rgb8", 24, bytes(144), now=1.0)
    assert core.latest(0.3).image_stamps == {"cam_a": 0.3, "cam_b": 0.3}


@pytest.mark.parametrize("bad_stamp", [11.0, 2.0**31 - 1 + 0.999999999])  # +10 s; the largest ROS 2 stamp
def test_future_joint_state_is_rejected_and_does_not_poison_later_ones(profile, bad_stamp):
    """Before: one message stamped in the future made every later, correct one "out_of_order"."""
    core = ObservationCore(profile, max_future_s=0.5)
    core.on_joint_state(1.0, JOINTS, [0, 0, 0], now=1.0)
    with pytest.raises(RejectedInput) as e:
        core.on_joint_state(bad_stamp, JOINTS, [9, 9, 9], now=1.0)
    assert e.value.reason == "future_stamp"
    state = core.on_joint_state(1.01, JOINTS, [0.1, 0, 0], now=1.01)
    assert state[0] == 0.1 and core.latest_state()[0] == 1.01
    core.on_joint_state(1.4, JOINTS, [0, 0, 0], now=1.0)          # within max_future_s: clocks differ a little
    with pytest.raises(RejectedInput, match="out_of_order"):   # ordering still guards against real reordering
        core.on_joint_state(1.3, JOINTS, [0, 0, 0], now=1.3)


def test_future_image_is_rejected_and_never_chosen(profile):
    core = ObservationCore(profile, max_age_s=1.0, max_skew_s=0.06)
    for t in (1.0, 1.02):
        core.on_joint_state(t, JOINTS, [0, 0, 0], now=t)
    for cam in ("cam_a", "cam_b"):
        core.on_image(cam, 1.0, 8, 6, "rgb8", 24, bytes(144), now=1.0)
    with pytest.raises(RejectedInput, match="future_stamp"):
        core.on_image("cam_a", 1e9, 8, 6, "rgb8", 24, bytes(144), now=1.02)
    with pytest.raises(RejectedInput, match="future_stamp"):
        core.on_compressed_image("cam_b", 1e9, "jpeg", b"not even decoded", now=1.02)
    assert core.image_stamps() == {"cam_a": 1.0, "cam_b": 1.0} and core.latest(1.02).stamp == 1.0


def test_compressed_and_raw_frames_feed_the_same_camera(profile):
    core = ObservationCore(profile, max_age_s=1.0, max_skew_s=0.06)
    core.on_joint_state(2.0, JOINTS, [0, 0, 0], now=2.0)
    rgb = np.full((6, 8, 3), (10, 120, 240), np.uint8)
    core.on_image("cam_a", 2.0, 8, 6, "bgr8", 24, rgb[..., ::-1].tobytes(), now=2.0)
    core.on_compressed_image("cam_b", 2.0, "rgb8; png compressed bgr8", _encode(rgb, ".png"), now=2.0)
    obs = core.latest(2.0)
    np.testing.assert_array_equal(obs.images["cam_a"], rgb)
    np.testing.assert_array_equal(obs.images["cam_b"], rgb)
    with pytest.raises(RejectedInput, match="unknown_camera"):
        core.on_compressed_image("cam_x", 2.0, "png", b"", now=2.0)
