"""Decoding one image file into float32 RGB in [0, 1].

`dataset` (training), `validate` and `load_image` (inference) route every
file the same way (`decode_bytes`): plain RGB/gray JPEGs without EXIF
rotation through TensorFlow's decoder (`imagehub.data._fastjpeg`, the
fast path), every other file through Pillow here. So a given file looks
the same to a model in training and in inference.

Rules, each applied in this order:

1. The format is recognised from the first bytes (not the file name);
   only JPEG, PNG, GIF, BMP, WebP and TIFF are decoded, other images
   (HEIC, AVIF, ...) raise `ImageError` "unsupported image format".
2. The header's width x height is checked against `max_pixels` before any
   pixel is decoded (decompression bombs). Pillow's own limit (twice
   `PIL.Image.MAX_IMAGE_PIXELS`) applies on top.
3. Pixels are decoded (Pillow, or TensorFlow on the fast path); a
   truncated or corrupt file raises `ImageError`, it is never padded or
   repaired.
4. EXIF orientation is applied (the image is turned the way a viewer
   shows it).
5. Colour: grayscale becomes three equal channels; CMYK and YCCK JPEGs are
   converted to RGB; 16-bit images are scaled by 1/65535 (not clipped to
   8 bits); float images are clipped to [0, 1]; alpha and palette
   transparency are composited on `DEFAULT_BACKGROUND` (white). GIFs and
   other animations give their first frame. ICC profiles are ignored.
6. Resizing to `image_size` (height, width), when given: ``"stretch"``
   ignores the aspect ratio (as tensorflow_hub's examples do), ``"crop"``
   takes the central region of the target aspect ratio then resizes,
   ``"pad"`` fits the whole image inside and letterboxes with black (0.0,
   like ``tf.image.resize_with_pad``). Shrinking is antialiased: Pillow's
   bilinear filter widens with the scale; JPEGs are first decoded at a
   reduced DCT scale (1/2, 1/4, 1/8: a low-pass in the DCT domain) when
   that scale is still at least the target size. On the TensorFlow fast
   path the remaining factor, below 2 except for images over 16 times the
   target, is resampled bilinearly, with TensorFlow's antialiased kernel
   from 2x on (see `imagehub.data._fastjpeg` for the measured reason).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import numpy as np

from imagehub.data._errors import ImageError
from imagehub.data._fastjpeg import inspect_plain_jpeg
from imagehub.data._fastjpeg import plain_jpeg_decoder
from imagehub.data._fastjpeg import plan
from imagehub.data._formats import HEADER_BYTES
from imagehub.data._formats import SUPPORTED_FORMATS
from imagehub.data._formats import NotRegularFileError
from imagehub.data._formats import open_regular
from imagehub.data._formats import sniff
from imagehub.data._formats import unrecognised_reason
from imagehub.spec import RESIZE_MODES
from imagehub.spec import parse_image_size

# RGB in [0, 1] that transparent pixels are composited onto.
DEFAULT_BACKGROUND = (1.0, 1.0, 1.0)
# Images whose header declares more pixels are refused undecoded.
DEFAULT_MAX_PIXELS = 100_000_000
# Value of the letterbox bars of resize="pad".
PAD_VALUE = 0.0
# Full scale of the uint16 pixels of decode_pillow (white).
RAW_MAX = 65535
# decode_pillow's uint16 to the fast path's 0-255 scale.
RAW_TO_255 = np.float32(255.0 / RAW_MAX)
# float32(1 / 255); float32(255) * INV_255 == 1.0 exactly.
INV_255 = np.float32(1.0 / 255.0)

_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

ImageSize = int | Sequence[int]


class DecodeTarget(NamedTuple):
    """What a file is decoded to: the three settings every reader passes
    from its arguments down to the decoder.

    Attributes:
        image_size: (height, width) to resize to, or None for the image's
            own size.
        resize: One of RESIZE_MODES.
        max_pixels: Largest width * height accepted.
    """

    image_size: tuple[int, int] | None
    resize: str = "stretch"
    max_pixels: int = DEFAULT_MAX_PIXELS


def check_resize(resize: str) -> str:
    """Returns `resize` if it is one of RESIZE_MODES, else raises."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize={resize!r}; expected one of {RESIZE_MODES}")
    return resize


def load_image(
    path_or_bytes: str | os.PathLike[str] | bytes,
    image_size: ImageSize | None = None,
    resize: str = "stretch",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Reads one image as float32 RGB in [0, 1].

    Args:
        path_or_bytes: A file path, or the encoded bytes of an image.
        image_size: Output (height, width), or an int for a square; None
            keeps the image's own size.
        resize: How to reach `image_size`: one of `RESIZE_MODES`.
        max_pixels: Refuse images whose header declares more pixels.

    Returns:
        A float32 array of shape (height, width, 3) with values in [0, 1].

    Raises:
        ImageError: The file is missing, not an image, of an unsupported
            format, too large, truncated or corrupt. The message names the
            file and the reason.
        ValueError: `image_size` or `resize` is invalid.

    Example:
        >>> img = load_image("cat.jpg", image_size=(224, 224))
        >>> img.shape
        (224, 224, 3)
    """
    size = parse_image_size(image_size)
    check_resize(resize)
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, source = bytes(path_or_bytes), "<bytes>"
    else:
        source = os.fspath(path_or_bytes)
        data = read_file(source)
    return decode_bytes(data, source, DecodeTarget(size, resize, max_pixels))


def read_file(path: str) -> bytes:
    """Reads a file's bytes, raising ImageError when it cannot be read."""
    try:
        with open_regular(path) as f:
            return f.read()
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except NotRegularFileError as e:
        raise ImageError(path, e.strerror or str(e)) from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not a file") from None
    except OSError as e:
        raise ImageError(path, f"cannot read file: {e.strerror}") from None


def decode_bytes(data: bytes, source: str, target: DecodeTarget) -> np.ndarray:
    """Decodes encoded bytes by the route every reader takes for them.

    Plain JPEGs (see `imagehub.data._fastjpeg`) go through TensorFlow's
    decoder, everything else through Pillow (`decode_pillow`); `dataset`
    routes each file the same way inside its graph.

    Args:
        data: The encoded file.
        source: Name of the file for error messages.
        target: Its output size, resize mode and pixel limit.

    Returns:
        float32 (height, width, 3) in [0, 1].

    Raises:
        ImageError: For any file that does not decode.
    """
    size = inspect_plain_jpeg(data, target.max_pixels)
    if size is None:
        raw = decode_pillow(data, source, target)
        return finalize(raw.astype(np.float32) * RAW_TO_255)
    import tensorflow as tf

    image_size, resize = target.image_size, target.resize
    try:
        decoder = plain_jpeg_decoder(
            image_size, resize, plan(size, image_size, resize)
        )
        return finalize(decoder(tf.constant(data)).numpy())
    except tf.errors.OpError as e:
        tf_reason = str(e.message).strip().splitlines()[0]
    # Pillow usually names the problem better ("truncated"); if it accepts
    # the file the error stands anyway, so every reader drops this file.
    decode_pillow(data, source, target)
    raise ImageError(source, f"corrupt JPEG file: {tf_reason}")


def finalize(pixels: np.ndarray) -> np.ndarray:
    """Float pixels on a 0-255 scale to float32 in [0, 1].

    `dataset` applies the same two float32 operations in TensorFlow, on
    whole batches, and the Pillow route's ``raw * RAW_TO_255`` before it,
    so every reader gets bit-identical values. Multiplies, not divisions:
    graph optimizers may rewrite a division by a constant in one graph and
    not in another. Resampling weights are >= 0 and sum to 1, so only
    rounding can push a value past 255; the minimum takes it back.
    """
    out: np.ndarray = np.minimum(pixels, np.float32(255.0)) * INV_255
    return out


def decode_pillow(data: bytes, source: str, target: DecodeTarget) -> np.ndarray:
    """Decodes with Pillow; see the module docstring for the rules.

    Returns uint16 RGB (0 to RAW_MAX): sixteen bits keep 16-bit sources
    exact, and 8-bit values v map to v * 257 so that v * 257 / 65535 ==
    v / 255. Half the bytes of float32 to carry out of Python.

    Raises:
        ImageError: For any file that does not decode.
    """
    from PIL import Image

    fmt = sniff(data[:HEADER_BYTES])
    if fmt not in SUPPORTED_FORMATS:
        raise ImageError(source, unrecognised_reason(data[:HEADER_BYTES]))
    # No warnings.catch_warnings here: it is not thread-safe, and tf.data
    # and validate call this from several threads. Pillow's rare
    # DecompressionBombWarning (over 89 megapixels) is let through.
    try:
        im = Image.open(io.BytesIO(data), formats=[fmt])
        check_pixels(im.size, target.max_pixels, source)
        return _decode_opened(im, target.image_size, target.resize)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(source, bomb_reason(e)) from None
    except Exception as e:  # noqa: BLE001 - any decoder failure is reported
        raise ImageError(source, describe_failure(e, fmt)) from None


def check_pixels(size: tuple[int, int], max_pixels: int, source: str) -> None:
    """Raises ImageError when a header's size exceeds `max_pixels`."""
    w, h = size
    if w * h > max_pixels:
        raise ImageError(
            source,
            f"image declares {w}x{h} = {w * h / 1e6:.1f} megapixels, more "
            f"than max_pixels={max_pixels} (decompression bomb guard); "
            "raise max_pixels if the image is genuine",
        )
    if w < 1 or h < 1:
        raise ImageError(source, f"image declares an empty size {w}x{h}")


def bomb_reason(error: Exception) -> str:
    """Reason for an image refused by Pillow's own pixel limit.

    Pillow refuses, in `Image.open`, headers declaring more than twice
    `PIL.Image.MAX_IMAGE_PIXELS` (about 179 megapixels by default), so a
    `max_pixels` above that also needs `PIL.Image.MAX_IMAGE_PIXELS` raised.
    """
    return (
        f"decompression bomb guard: {error} Raise max_pixels and "
        "PIL.Image.MAX_IMAGE_PIXELS if the image is genuine"
    )


def describe_failure(error: Exception, fmt: str) -> str:
    """Turns a decoder exception into a short reason for people."""
    text = str(error) or type(error).__name__
    if "truncated" in text.lower():
        return f"truncated {fmt} file (image data ends early): {text}"
    if type(error).__name__ == "UnidentifiedImageError":
        return f"corrupt {fmt} file: header not readable"
    return f"corrupt {fmt} file: {type(error).__name__}: {text}"


def _decode_opened(
    im: Any, image_size: tuple[int, int] | None, resize: str
) -> np.ndarray:
    orientation = _orientation(im)
    if image_size is not None and _is_jpeg(im):
        _draft(im, image_size, resize, orientation)
    im.load()
    if orientation not in (None, 1):
        from PIL import ImageOps

        im = ImageOps.exif_transpose(im)
    return _to_array(im, image_size, resize)


def _is_jpeg(im: Any) -> bool:
    from PIL import JpegImagePlugin

    return isinstance(im, JpegImagePlugin.JpegImageFile)


def _orientation(im: Any) -> int | None:
    try:
        value = im.getexif().get(_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - a broken EXIF block is ignored
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _draft(
    im: Any,
    image_size: tuple[int, int],
    resize: str,
    orientation: int | None,
) -> None:
    """Asks libjpeg for the smallest DCT scale still >= the needed size."""
    w, h = im.size
    if orientation in _SWAPPING_ORIENTATIONS:
        w, h = h, w
    fx, fy = _scale_factors((w, h), image_size, resize)
    need = (math.ceil(w * fx), math.ceil(h * fy))
    if orientation in _SWAPPING_ORIENTATIONS:
        need = (need[1], need[0])
    if need[0] < im.size[0] and need[1] < im.size[1]:
        im.draft(None, need)


def _scale_factors(
    size: tuple[int, int], image_size: tuple[int, int], resize: str
) -> tuple[float, float]:
    """Per-axis scale from the source (w, h) to the used output region."""
    w, h = size
    th, tw = image_size
    if resize == "stretch":
        return tw / w, th / h
    if resize == "crop":
        f = max(tw / w, th / h)
    else:
        f = min(tw / w, th / h)
    return f, f


def _to_array(
    im: Any, image_size: tuple[int, int] | None, resize: str
) -> np.ndarray:
    """Converts a loaded, upright Pillow image to uint16 RGB."""
    from PIL import Image

    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        scale = 1.0 if mode == "F" else 1.0 / RAW_MAX
        gray = np.asarray(im, dtype=np.float32) * np.float32(scale)
        gray = np.clip(np.nan_to_num(gray), 0.0, 1.0)
        channel = _fit(Image.fromarray(gray), image_size, resize)
        out = np.asarray(channel, dtype=np.float32) * np.float32(RAW_MAX)
        out = np.rint(np.clip(out, 0.0, RAW_MAX)).astype(np.uint16)
        return np.repeat(out[:, :, None], 3, axis=2)
    has_alpha = mode in _ALPHA_MODES or "transparency" in im.info
    if has_alpha:
        im = _composite(im.convert("RGBA"))
    elif mode != "RGB":
        im = im.convert("RGB")
    im = _fit(im, image_size, resize)
    wide: np.ndarray = np.multiply(np.asarray(im), 257, dtype=np.uint16)
    return wide


def _composite(rgba: Any) -> Any:
    from PIL import Image

    bg = tuple(round(c * 255) for c in DEFAULT_BACKGROUND) + (255,)
    base = Image.new("RGBA", rgba.size, bg)
    return Image.alpha_composite(base, rgba).convert("RGB")


def _fit(im: Any, image_size: tuple[int, int] | None, resize: str) -> Any:
    """Resizes a Pillow image (RGB or F) to image_size per `resize`."""
    from PIL import Image

    if image_size is None:
        return im
    th, tw = image_size
    w, h = im.size
    if (w, h) == (tw, th):
        return im
    bilinear = Image.Resampling.BILINEAR
    if resize == "stretch":
        return im.resize((tw, th), bilinear, reducing_gap=3.0)
    if resize == "crop":
        target = tw / th
        if w / h > target:
            cw = h * target
            box = ((w - cw) / 2, 0.0, (w + cw) / 2, float(h))
        else:
            ch = w / target
            box = (0.0, (h - ch) / 2, float(w), (h + ch) / 2)
        return im.resize((tw, th), bilinear, box=box, reducing_gap=3.0)
    f = min(tw / w, th / h)
    nw = min(tw, max(1, round(w * f)))
    nh = min(th, max(1, round(h * f)))
    inner = im.resize((nw, nh), bilinear, reducing_gap=3.0)
    fill = PAD_VALUE if im.mode == "F" else (round(PAD_VALUE * 255),) * 3
    canvas = Image.new(im.mode, (tw, th), fill)
    canvas.paste(inner, ((tw - nw) // 2, (th - nh) // 2))
    return canvas
