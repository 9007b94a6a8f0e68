"""The TensorFlow decoder for plain JPEGs: the fast path.

Most photos are baseline or progressive JPEGs in RGB (YCbCr) or grayscale
with no EXIF rotation. For those, TensorFlow's own decoder runs inside the
tf.data graph, in parallel and without Python, at a reduced DCT scale
(1/2, 1/4, 1/8) when that scale is still at least the target size.
Everything else goes through Pillow (`imagehub.data._decode`).

The plan for a file (DCT ratio, resampling kernel) is worked out in
Python from its header (`plan`), once, by whichever reader meets it:
`dataset` passes it into the graph as a branch index, `load_image` and
`validate` pick the matching traced function. Every reader therefore runs
the same TensorFlow ops on a given file, and training and inference see
identical pixels.

Resampling: the DCT reduction is itself a low-pass (it drops the high
frequency coefficients). What remains is a factor below 2 unless the
image is over 16 times the target (or stretched very unevenly); below 2x
plain bilinear interpolation still draws on every source pixel, from 2x
on TensorFlow's antialiased kernel is used. The antialiased kernel
(ScaleAndTranslate) costs about 1.5 ms of CPU per 224x224 image, more
than the DCT reduction saves: measured on bench/data.py's images, it put
the fast path behind Keras's reader.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from typing import IO
from typing import Any

from imagehub.data._formats import HEADER_BYTES
from imagehub.data._formats import open_regular
from imagehub.data._formats import sniff

# EXIF tag 0x0112; values other than 1 need Pillow's transpose.
_ORIENTATION_TAG = 0x0112
_PLAIN_MODES = ("RGB", "L")
RATIOS = (1, 2, 4, 8)
# Shrink factor (after the DCT reduction) from which the antialiased
# resampling kernel is used.
ANTIALIAS_FROM = 2.0
# Number of fast-path plans: each ratio, with and without antialiasing.
NUM_PLANS = 2 * len(RATIOS)


def plain_jpeg_size(im: Any, max_pixels: int) -> tuple[int, int] | None:
    """(width, height) if an opened Pillow image can take the fast path.

    That is a JPEG whose pixels TensorFlow decodes as Pillow would: RGB or
    grayscale (not CMYK or YCCK), without an EXIF orientation that turns
    it, and within `max_pixels` (else Pillow's path refuses it with the
    reason). None otherwise. Reads the header only.
    """
    from PIL import JpegImagePlugin

    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return None
    if im.mode not in _PLAIN_MODES:
        return None
    if im.size[0] * im.size[1] > max_pixels:
        return None
    try:
        orientation = im.getexif().get(_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - unreadable EXIF: let Pillow decide
        return None
    return im.size if orientation in (None, 1) else None


def inspect_plain_jpeg(
    data_or_path: bytes | str, max_pixels: int
) -> tuple[int, int] | None:
    """Like `plain_jpeg_size`, from encoded bytes or a path."""
    from PIL import Image

    try:
        source: IO[bytes] = (
            io.BytesIO(data_or_path)
            if isinstance(data_or_path, bytes)
            else open_regular(data_or_path)
        )
        with source:
            if sniff(source.read(HEADER_BYTES)) != "JPEG":
                return None
            source.seek(0)
            with Image.open(source, formats=["JPEG"]) as im:
                return plain_jpeg_size(im, max_pixels)
    except Exception:  # noqa: BLE001 - Pillow reports it properly later
        return None


def plan(
    size: tuple[int, int],
    image_size: tuple[int, int] | None,
    resize: str,
) -> int:
    """The fast-path plan of a plain JPEG of `size` (width, height).

    Returns:
        An index in [0, NUM_PLANS): ratio ``RATIOS[plan // 2]``,
        antialiased when ``plan % 2``.
    """
    if image_size is None:
        return 0
    w, h = size
    th, tw = image_size
    fx, fy = scale_factors(w, h, th, tw, resize)
    need_w = max(1, math.ceil(w * fx))
    need_h = max(1, math.ceil(h * fy))
    # Pillow's draft rule: the largest ratio r <= min(w // nw, h // nh).
    scale = min(w // need_w, h // need_h)
    ratio = max(r for r in RATIOS if r <= max(scale, 1))
    shrink = max(math.ceil(w / ratio) / need_w, math.ceil(h / ratio) / need_h)
    return 2 * RATIOS.index(ratio) + int(shrink >= ANTIALIAS_FROM)


def scale_factors(
    w: float, h: float, th: float, tw: float, resize: str
) -> tuple[float, float]:
    """Per-axis scale from a (w, h) source to the output region used."""
    if resize == "stretch":
        return tw / w, th / h
    f = max(tw / w, th / h) if resize == "crop" else min(tw / w, th / h)
    return f, f


def decode_plain_jpeg(
    data: Any,
    image_size: tuple[int, int] | None,
    resize: str,
    plan_index: int,
) -> Any:
    """TensorFlow ops: plain JPEG bytes to float32 (H, W, 3) in [0, 255].

    `imagehub.data._decode.finalize` (or the same ops on a batch) brings
    the values to [0, 1].

    Args:
        data: Scalar string tensor of the encoded JPEG.
        image_size: (height, width) or None for the native size.
        resize: One of RESIZE_MODES.
        plan_index: From `plan` (a Python int).

    Returns:
        A float32 tensor. The decoder fails (InvalidArgumentError) on a
        truncated or corrupt file rather than padding it.
    """
    import tensorflow as tf

    ratio = RATIOS[plan_index // 2]
    pixels = tf.io.decode_jpeg(data, channels=3, ratio=ratio)
    if image_size is not None:
        return _fit(pixels, image_size, resize, bool(plan_index % 2), tf)
    return tf.cast(pixels, tf.float32)


def _fit(
    pixels: Any,
    image_size: tuple[int, int],
    resize: str,
    antialias: bool,
    tf: Any,
) -> Any:
    """Resizes uint8 (h, w, 3) to float (th, tw, 3) per `resize`."""
    th, tw = image_size
    if resize == "stretch":
        return _resize(pixels, image_size, antialias, tf)
    size = tf.shape(pixels)
    h = tf.cast(size[0], tf.float64)
    w = tf.cast(size[1], tf.float64)
    if resize == "crop":
        aspect = tw / th
        cw = tf.minimum(w, tf.maximum(tf.round(h * aspect), 1.0))
        ch = tf.minimum(h, tf.maximum(tf.round(w / aspect), 1.0))
        wide = w / h > aspect
        cw = tf.where(wide, cw, w)
        ch = tf.where(wide, h, ch)
        x0 = tf.cast(tf.math.floordiv(w - cw, 2.0), tf.int32)
        y0 = tf.cast(tf.math.floordiv(h - ch, 2.0), tf.int32)
        pixels = pixels[
            y0 : y0 + tf.cast(ch, tf.int32), x0 : x0 + tf.cast(cw, tf.int32)
        ]
        return _resize(pixels, image_size, antialias, tf)
    f = tf.minimum(tw / w, th / h)
    nw = tf.cast(tf.clip_by_value(tf.round(w * f), 1.0, float(tw)), tf.int32)
    nh = tf.cast(tf.clip_by_value(tf.round(h * f), 1.0, float(th)), tf.int32)
    inner = _resize(pixels, tf.stack([nh, nw]), antialias, tf)
    return tf.image.pad_to_bounding_box(
        inner, (th - nh) // 2, (tw - nw) // 2, th, tw
    )


def _resize(pixels: Any, size: Any, antialias: bool, tf: Any) -> Any:
    return tf.image.resize(pixels, size, "bilinear", antialias=antialias)


@functools.lru_cache(maxsize=64)
def plain_jpeg_decoder(
    image_size: tuple[int, int] | None, resize: str, plan_index: int
) -> Callable[[Any], Any]:
    """A traced `decode_plain_jpeg` (string scalar -> float32) for eager
    callers; `dataset` builds the same ops into its graph."""
    import tensorflow as tf

    def decode(data: Any) -> Any:
        return decode_plain_jpeg(data, image_size, resize, plan_index)

    traced: Callable[[Any], Any] = tf.function(
        decode, input_signature=[tf.TensorSpec([], tf.string)], autograph=False
    )
    return traced
