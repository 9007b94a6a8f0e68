"""Decoding rules of `imagehub.data.load_image`, one test per rule."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imagehub import data
from tests.data.conftest import encode
from tests.data.conftest import exif_jpeg
from tests.data.conftest import png_header_only
from tests.data.conftest import solid

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _assert_colour(image, colour, tol=0.05, what=""):
    mean = image.reshape(-1, 3).mean(axis=0)
    expected = np.array(colour, np.float32) / 255.0
    assert np.allclose(mean, expected, atol=tol), (
        f"{what}: expected RGB {expected}, got {mean}"
    )


def _reason(data_or_path, **kwargs) -> str:
    with pytest.raises(data.ImageError) as info:
        data.load_image(data_or_path, **kwargs)
    return info.value.reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"])
def test_load_image_decodes_red_when_supported_format(fmt):
    image = data.load_image(encode(solid(RED, (12, 20)), fmt))
    assert image.shape == (12, 20, 3), f"{fmt}: shape {image.shape}"
    assert image.dtype == np.float32
    _assert_colour(image, RED, what=fmt)


def test_load_image_returns_first_frame_when_animated_gif():
    frames = [Image.fromarray(solid(c)) for c in (RED, BLUE, (0, 255, 0))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(gif)).n_frames == 3
    _assert_colour(data.load_image(gif), RED, what="first GIF frame")


@pytest.mark.parametrize("fmt", ["HEIC", "AVIF"])
def test_load_image_reports_unsupported_when_heic_or_avif(fmt):
    if fmt == "AVIF":
        from PIL import features

        if not features.check("avif"):
            pytest.skip("this Pillow cannot write AVIF")
        blob = encode(solid(RED), "AVIF")
    else:  # the ISO-BMFF box a HEIC file starts with
        blob = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    reason = _reason(blob)
    assert f"unsupported image format {fmt}" in reason, reason


def test_load_image_expands_gray_when_grayscale():
    gray = np.full((10, 10), 100, np.uint8)
    for fmt in ("JPEG", "PNG"):
        image = data.load_image(encode(Image.fromarray(gray, "L"), fmt))
        assert image.shape == (10, 10, 3)
        assert np.allclose(image[..., 0], image[..., 1]) and np.allclose(
            image[..., 1], image[..., 2]
        ), f"{fmt}: gray channels must be equal"
        assert abs(image.mean() - 100 / 255) < 0.02, image.mean()


def test_load_image_decodes_red_when_cmyk_jpeg():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink
    blob = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(blob)).mode == "CMYK"
    _assert_colour(data.load_image(blob), RED, what="CMYK JPEG")


def test_load_image_composites_on_background_when_alpha():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 128)  # half-transparent red
    rgba[:, 4:] = (0, 0, 0, 0)  # fully transparent black
    image = data.load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    bg = np.array(data.DEFAULT_BACKGROUND, np.float32)
    assert np.allclose(image[:, 4:], bg, atol=1e-6), (
        f"transparent pixels must be {data.DEFAULT_BACKGROUND}, got "
        f"{image[0, 6]}"
    )
    expected = 0.5 * np.array([1, 0, 0]) + 0.5 * bg
    assert np.allclose(image[0, 0], expected, atol=0.01), image[0, 0]


def test_load_image_composites_when_palette_transparency():
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)
    im.paste(1, (0, 0, 4, 8))  # left half: index 1, transparent
    for fmt in ("PNG", "GIF"):
        image = data.load_image(encode(im, fmt, transparency=1))
        assert np.allclose(image[:, :4], data.DEFAULT_BACKGROUND), (
            f"{fmt}: transparent palette index not composited: {image[0, 0]}"
        )
        _assert_colour(image[:, 4:], RED, what=f"{fmt} opaque half")


def test_load_image_scales_when_16bit_png():
    values = np.array([[0, 1000, 32768, 65535]], np.uint16)
    blob = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(blob)).mode.startswith("I")
    image = data.load_image(blob)
    assert np.allclose(image[0, :, 0], values[0] / 65535, atol=1e-6), (
        f"16-bit values must be scaled by 1/65535, got {image[0, :, 0]}"
    )


def test_load_image_rotates_when_exif_orientation_6():
    array = np.zeros((10, 20, 3), np.uint8)  # 20 wide, 10 tall
    array[:, :10] = RED
    array[:, 10:] = BLUE
    image = data.load_image(exif_jpeg(array, 6))
    assert image.shape == (20, 10, 3), (
        f"orientation 6 turns a 20x10 image to 10x20, got {image.shape}"
    )
    # Turned 90 degrees clockwise: the left (red) half is now on top.
    _assert_colour(image[:8], RED, what="top after rotation")
    _assert_colour(image[12:], BLUE, what="bottom after rotation")


def test_load_image_rotates_when_exif_orientation_and_resized():
    array = np.zeros((10, 20, 3), np.uint8)
    array[:, :10] = RED
    array[:, 10:] = BLUE
    image = data.load_image(exif_jpeg(array, 6), image_size=(8, 4))
    _assert_colour(image[:3], RED, what="top after rotation and resize")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_load_image_reports_truncated_when_cut(fmt, rng):
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blob = encode(noise, fmt)
    reason = _reason(blob[: len(blob) // 2])
    assert "truncated" in reason, f"{fmt}: expected 'truncated', got {reason}"


def test_load_image_reports_empty_when_zero_bytes(write):
    path = write("empty.jpg", b"")
    with pytest.raises(data.ImageError) as info:
        data.load_image(path)
    assert info.value.reason == "empty file (0 bytes)"
    assert path in str(info.value), "the message must name the file"


def test_load_image_reports_not_image_when_garbage_jpg(write, rng):
    path = write("garbage.jpg", rng.bytes(2000))
    assert "not an image" in _reason(path)


def test_load_image_reports_text_when_text_file(write):
    path = write("notes.png", b"hello, these are my holiday notes\n")
    assert "text file" in _reason(path)


def test_load_image_reports_missing_when_no_file(tmp_path):
    assert "not found" in _reason(str(tmp_path / "nope.jpg"))


def test_load_image_refuses_bomb_before_decoding():
    # 20000 x 20000 declared, no pixel data at all: decoding would fail
    # with "truncated", so a bomb reason proves the header check came first.
    for size in (11_000, 20_000):  # over our cap; over Pillow's too
        reason = _reason(png_header_only(size, size))
        assert "decompression bomb" in reason, reason


def test_load_image_refuses_over_cap_when_max_pixels_configured():
    blob = encode(solid(RED, (100, 100)), "JPEG")
    assert "max_pixels=5000" in _reason(blob, max_pixels=5000)
    assert data.load_image(blob, max_pixels=10_000).shape == (100, 100, 3)


def test_image_error_is_value_error_naming_file(write):
    path = write("x.jpg", b"")
    with pytest.raises(ValueError, match="x.jpg: empty file"):
        data.load_image(path)


def _wide(fmt):
    """40 wide, 20 tall: blue left and right quarters, red middle half."""
    array = np.zeros((20, 40, 3), np.uint8)
    array[:] = BLUE
    array[:, 10:30] = RED
    return encode(array, fmt, **({"quality": 100} if fmt == "JPEG" else {}))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_load_image_keeps_centre_when_crop(fmt):
    image = data.load_image(_wide(fmt), image_size=(10, 10), resize="crop")
    assert image.shape == (10, 10, 3)
    _assert_colour(image[:, 2:8], RED, what=f"{fmt} centre crop")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_load_image_letterboxes_when_pad(fmt):
    image = data.load_image(_wide(fmt), image_size=(20, 20), resize="pad")
    assert image.shape == (20, 20, 3)
    bars = np.concatenate([image[:4], image[-4:]])
    assert np.allclose(bars, data.PAD_VALUE, atol=0.02), (
        f"{fmt}: letterbox bars must be {data.PAD_VALUE}"
    )
    _assert_colour(image[7:13, 7:13], RED, what=f"{fmt} padded content")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_load_image_stretches_when_stretch(fmt):
    image = data.load_image(_wide(fmt), image_size=(10, 10))
    _assert_colour(image[:, :2], BLUE, what=f"{fmt} stretched left edge")
    _assert_colour(image[:, 3:7], RED, what=f"{fmt} stretched middle")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_load_image_antialiases_when_shrinking(fmt):
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    blob = encode(
        Image.fromarray(board, "L"),
        fmt,
        **({"quality": 100} if fmt == "JPEG" else {}),
    )
    image = data.load_image(blob, image_size=(8, 8))
    # Without antialiasing each output pixel samples a few input pixels
    # and lands near 0 or 1; with it every pixel averages to about 0.5.
    assert np.all(np.abs(image - 0.5) < 0.1), (
        f"{fmt}: expected ~0.5 everywhere, got {image.min()}..{image.max()}"
    )


def test_load_image_rejects_bad_resize():
    with pytest.raises(ValueError, match="resize='zoom'.*stretch"):
        data.load_image(encode(solid(RED), "PNG"), 8, resize="zoom")


def test_load_image_same_when_path_or_bytes(write):
    blob = exif_jpeg(solid(RED, (9, 13)), 6)
    path = write("turned.jpg", blob)
    assert np.array_equal(
        data.load_image(path, (7, 5)), data.load_image(blob, (7, 5))
    )


def test_load_image_antialiases_when_fast_path_shrinks_over_2x():
    from imagehub.data import _fastjpeg

    # 1-pixel stripes, 1000 wide: shrunk 4.5x across but stretched along,
    # so no DCT reduction applies and the resampler alone must smooth.
    stripes = np.zeros((100, 1000), np.uint8)
    stripes[:, ::2] = 255
    blob = encode(Image.fromarray(stripes, "L"), "JPEG", quality=100)
    assert _fastjpeg.inspect_plain_jpeg(blob, 10**9) == (1000, 100)
    assert _fastjpeg.plan((1000, 100), (224, 224), "stretch") == 1, (
        "expected DCT ratio 1 with the antialiased kernel"
    )
    image = data.load_image(blob, image_size=(224, 224))
    assert np.all(np.abs(image - 0.5) < 0.1), (
        f"expected ~0.5 everywhere, got {image.min()}..{image.max()}"
    )


def test_plan_reduces_by_dct_when_target_allows():
    from imagehub.data._fastjpeg import RATIOS
    from imagehub.data._fastjpeg import plan

    def ratio_and_aa(size, target, resize="stretch"):
        k = plan(size, target, resize)
        return RATIOS[k // 2], bool(k % 2)

    assert ratio_and_aa((640, 480), (224, 224)) == (2, False)
    assert ratio_and_aa((4000, 3000), (224, 224)) == (8, True)
    assert ratio_and_aa((200, 200), (224, 224)) == (1, False)
    assert ratio_and_aa((1000, 500), (100, 100), "crop") == (4, False)
    assert ratio_and_aa((1000, 500), (100, 100), "pad") == (8, False)
    assert ratio_and_aa((640, 480), None) == (1, False)
