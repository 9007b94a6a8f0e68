"""Property: any file yields (H, W, 3) float32 in [0, 1] or an ImageError."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from PIL import Image

from imagehub import data

MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "I;16", "I", "F"]
FORMATS = ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"]
SIZES = [None, (5, 7), (16, 16)]


def _make(mode, size, seed) -> Image.Image:
    blank = Image.new(mode, size)
    raw = np.random.default_rng(seed).bytes(len(blank.tobytes()))
    im = Image.frombytes(mode, size, raw)
    if mode in ("P", "PA"):
        im.putpalette(list(np.random.default_rng(seed).bytes(768)))
    return im


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(
    mode=st.sampled_from(MODES),
    width=st.integers(1, 24),
    height=st.integers(1, 24),
    fmt=st.sampled_from(FORMATS),
    seed=st.integers(0, 2**16),
    damage=st.sampled_from(["none", "truncate", "flip"]),
    cut=st.floats(0.0, 1.0),
    image_size=st.sampled_from(SIZES),
    resize=st.sampled_from(data.RESIZE_MODES),
)
def test_load_image_returns_rgb_or_image_error_when_any_input(
    mode, width, height, fmt, seed, damage, cut, image_size, resize
):
    buf = io.BytesIO()
    try:
        _make(mode, (width, height), seed).save(buf, fmt)
    except (OSError, ValueError, KeyError, TypeError):
        assume(False)  # Pillow cannot write this mode in this format
    blob = bytearray(buf.getvalue())
    if damage == "truncate":
        blob = blob[: int(len(blob) * cut)]
    elif damage == "flip" and blob:
        at = int((len(blob) - 1) * cut)
        blob[at] ^= 0xFF
    try:
        image = data.load_image(bytes(blob), image_size, resize)
    except data.ImageError as e:
        assert e.reason and str(e).startswith("<bytes>: "), str(e)
        return
    expected = image_size or (height, width)
    if image_size is None and damage == "none":
        assert image.shape[:2] in (expected, expected[::-1])
    elif image_size is not None:
        assert image.shape[:2] == expected, (image.shape, expected)
    assert image.ndim == 3 and image.shape[2] == 3, image.shape
    assert image.dtype == np.float32
    assert np.all(np.isfinite(image)), "no NaN or inf"
    assert image.min() >= 0.0 and image.max() <= 1.0, (
        image.min(),
        image.max(),
    )
