"""The TensorFlow decoder for plain JPEGs: the fast path.

Most photos are baseline or progressive JPEGs in RGB (YCbCr) or grayscale
with no EXIF rotation. For those, TensorFlow's own decoder runs inside the
tf.data graph, in parallel and without Python, at a reduced DCT scale when
that scale is still at least the target size. Everything else goes through
Pillow (`imagehub.data._decode`).

Every reader (`dataset`, `validate`, `load_image`) routes a given file the
same way (`is_plain_jpeg` on its header), so training and inference see
the same pixels. The two decoders agree within a few 8-bit levels; what
they share exactly: output uint16 RGB on the 8-bit grid (v * 257), the
resize modes, bilinear antialiased resampling, black letterbox bars.
"""

from __future__ import annotations

import functools
import io

from imagehub.data._formats import HEADER_BYTES
from imagehub.data._formats import sniff

# EXIF tag 0x0112; values other than 1 need Pillow's transpose.
_ORIENTATION_TAG = 0x0112
_PLAIN_MODES = ("RGB", "L")
_RATIOS = (1, 2, 4, 8)
# Shrink factor (after the DCT reduction) from which the fast path uses
# the antialiased resampling kernel; see `_resize`.
_ANTIALIAS_FROM = 2.0


def is_plain_jpeg_image(im, max_pixels: int) -> bool:
    """Whether an opened (not loaded) Pillow image can take the fast path.

    True for JPEGs whose pixels TensorFlow decodes the way Pillow does:
    RGB or grayscale (not CMYK or YCCK), without an EXIF orientation that
    turns the image, and within `max_pixels` (else Pillow's path refuses
    it with the reason).
    """
    from PIL import JpegImagePlugin

    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return False
    if im.mode not in _PLAIN_MODES:
        return False
    if im.size[0] * im.size[1] > max_pixels:
        return False
    try:
        orientation = im.getexif().get(_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - unreadable EXIF: let Pillow decide
        return False
    return orientation in (None, 1)


def is_plain_jpeg(data_or_path: bytes | str, max_pixels: int) -> bool:
    """Like `is_plain_jpeg_image`, from bytes or a path (header only)."""
    from PIL import Image

    try:
        if isinstance(data_or_path, bytes):
            source = io.BytesIO(data_or_path)
            header = data_or_path[:HEADER_BYTES]
        else:
            source = data_or_path
            with open(source, "rb") as f:
                header = f.read(HEADER_BYTES)
        if sniff(header) != "JPEG":
            return False
        with Image.open(source, formats=["JPEG"]) as im:
            return is_plain_jpeg_image(im, max_pixels)
    except Exception:  # noqa: BLE001 - Pillow reports it properly later
        return False


def decode_plain_jpeg(data, image_size, resize):
    """TensorFlow ops: plain JPEG bytes to uint16 (H, W, 3) (v * 257).

    Args:
        data: Scalar string tensor of the encoded JPEG.
        image_size: (height, width) or None for the native size.
        resize: One of RESIZE_MODES.

    Returns:
        A uint16 tensor; the decoder fails (InvalidArgumentError) on a
        truncated or corrupt file rather than padding it.
    """
    import tensorflow as tf

    if image_size is None:
        pixels = tf.io.decode_jpeg(data, channels=3)
        return tf.cast(pixels, tf.uint16) * 257
    th, tw = image_size
    shape = tf.io.extract_jpeg_shape(data)
    h = tf.cast(shape[0], tf.float64)
    w = tf.cast(shape[1], tf.float64)
    fx, fy = _scale_factors(w, h, tw, th, resize, tf)
    need_w = tf.math.ceil(w * fx)
    need_h = tf.math.ceil(h * fy)
    # Pillow's draft rule: the largest DCT ratio r <= min(w // nw, h // nh).
    scale = tf.minimum(tf.math.floordiv(w, need_w), tf.math.floordiv(h, need_h))
    branch = tf.reduce_sum(
        tf.cast(scale >= tf.constant(_RATIOS[1:], tf.float64), tf.int32)
    )
    pixels = tf.switch_case(
        branch,
        [
            functools.partial(tf.io.decode_jpeg, data, channels=3, ratio=r)
            for r in _RATIOS
        ],
    )
    pixels.set_shape((None, None, 3))
    out = _fit(pixels, th, tw, resize, tf)
    out = tf.round(tf.clip_by_value(out, 0.0, 255.0))
    return tf.cast(out, tf.uint16) * 257


def _scale_factors(w, h, tw, th, resize, tf):
    if resize == "stretch":
        return tw / w, th / h
    if resize == "crop":
        f = tf.maximum(tw / w, th / h)
    else:
        f = tf.minimum(tw / w, th / h)
    return f, f


def _fit(pixels, th, tw, resize, tf):
    """Resizes uint8 (h, w, 3) to float (th, tw, 3) per `resize`."""
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
    if resize in ("stretch", "crop"):
        return _resize(pixels, (th, tw), tf)
    f = tf.minimum(tw / w, th / h)
    nw = tf.cast(tf.clip_by_value(tf.round(w * f), 1.0, float(tw)), tf.int32)
    nh = tf.cast(tf.clip_by_value(tf.round(h * f), 1.0, float(th)), tf.int32)
    inner = _resize(pixels, tf.stack([nh, nw]), tf)
    return tf.image.pad_to_bounding_box(
        inner, (th - nh) // 2, (tw - nw) // 2, th, tw
    )


def _resize(pixels, size, tf):
    """Bilinear resize; the antialiased kernel only when shrinking >= 2x.

    The DCT reduction has already shrunk the image by 2, 4 or 8 with a
    proper low-pass (dropping the high DCT coefficients), so what is left
    is a factor below 2 unless the image is over 16 times the target.
    Below 2x, plain bilinear interpolation still draws on every source
    pixel; TensorFlow's antialiased kernel (ScaleAndTranslate) would add
    about 1.5 ms of CPU per 224x224 image, more than the DCT reduction
    saves (measured for bench/data.py), so it is kept for the >= 2x case
    where bilinear interpolation would skip pixels.
    """
    shape = tf.cast(tf.shape(pixels)[:2], tf.float32)
    out = tf.cast(size, tf.float32)
    shrink = tf.reduce_max(shape / out)

    def smooth():
        return tf.image.resize(pixels, size, "bilinear", antialias=True)

    def plain():
        return tf.image.resize(pixels, size, "bilinear", antialias=False)

    return tf.cond(shrink >= _ANTIALIAS_FROM, smooth, plain)


@functools.lru_cache(maxsize=32)
def plain_jpeg_decoder(image_size, resize):
    """A tf.function (string scalar -> uint16) for eager callers."""
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec([], tf.string)], autograph=False
    )
    def decode(data):
        return decode_plain_jpeg(data, image_size, resize)

    return decode
