"""`decode_batch`: many encoded images to one batch, outside tf.data.

For readers that get the bytes themselves (Beam workers read through
Beam's filesystems), at the CPU cost of `dataset`: the plain JPEGs of a
batch that share a fast-path plan are decoded by one traced TensorFlow
call (the ops `dataset` builds into its graph, one `tf.map_fn` over the
batch), so there is no Python or eager dispatch per image. The other
files go through `decode_bytes` (Pillow) one by one, as in `dataset`.

A corrupt plain JPEG fails its whole group's call; the group is then
decoded file by file, so only that file is reported, with the reason
`load_image` gives. The pixels are those of `dataset` and `load_image`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import numpy as np

from imagehub.data._decode import DEFAULT_MAX_PIXELS
from imagehub.data._decode import INV_255
from imagehub.data._decode import DecodeTarget
from imagehub.data._decode import ImageSize
from imagehub.data._decode import check_resize
from imagehub.data._decode import decode_bytes
from imagehub.data._errors import ImageError
from imagehub.data._fastjpeg import decode_plain_jpeg
from imagehub.data._fastjpeg import inspect_plain_jpeg
from imagehub.data._fastjpeg import plan
from imagehub.spec import parse_image_size

# `plain_sizes` entry meaning "read the header here".
HEADER_UNKNOWN = "unknown"


class DecodedBatch(NamedTuple):
    """The result of `decode_batch`.

    Attributes:
        images: float32 (len(ok), height, width, 3) in [0, 1].
        ok: Indexes (into the input) of the decoded images, in order.
        errors: (index, reason) of the inputs that did not decode.
    """

    images: np.ndarray
    ok: list[int]
    errors: list[tuple[int, str]]


def decode_batch(
    datas: Sequence[bytes],
    image_size: ImageSize,
    resize: str = "stretch",
    *,
    plain_sizes: Sequence[tuple[int, int] | None | str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    names: Sequence[str] | None = None,
) -> DecodedBatch:
    """Decodes encoded images into one float32 batch, as `dataset` does.

    Args:
        datas: The encoded files.
        image_size: Output (height, width), or an int for a square.
        resize: One of ``RESIZE_MODES``.
        plain_sizes: Per file, what a scan found in its header: (width,
            height) of a plain JPEG, None for any other file, or
            ``"unknown"``; default: read every header here.
        max_pixels: Largest width * height accepted.
        names: File names for the error reasons.

    Returns:
        A `DecodedBatch`; every input is either in `ok` or in `errors`.

    Raises:
        ValueError: `image_size`, `resize` or `plain_sizes` is invalid.
    """
    size = parse_image_size(image_size)
    if size is None:
        raise ValueError("image_size=None; decode_batch needs (height, width)")
    check_resize(resize)
    n = len(datas)
    if plain_sizes is None:
        plain_sizes = [HEADER_UNKNOWN] * n
    if len(plain_sizes) != n:
        raise ValueError(
            f"plain_sizes has {len(plain_sizes)} entries for {n} files"
        )
    names = names if names is not None else ["<bytes>"] * n
    fit = DecodeTarget(size, resize, max_pixels)
    images = np.empty((n, *size, 3), np.float32)
    failed: dict[int, str] = {}
    groups: dict[int, list[int]] = {}
    for i, (data, found) in enumerate(zip(datas, plain_sizes, strict=True)):
        header = (
            inspect_plain_jpeg(bytes(data), max_pixels)
            if isinstance(found, str)  # HEADER_UNKNOWN
            else found
        )
        if header is None:
            reason = _decode_one(data, names[i], fit)
            if isinstance(reason, str):
                failed[i] = reason
            else:
                images[i] = reason
        else:
            groups.setdefault(plan(header, size, resize), []).append(i)
    for plan_index, members in groups.items():
        decode = _batch_decoder(size, resize, plan_index)
        try:
            decoded = decode(np.array([datas[i] for i in members], object))
            images[members] = decoded.numpy()
        except Exception:  # noqa: BLE001 - find the bad file(s) one by one
            for i in members:
                one = _decode_one(datas[i], names[i], fit)
                if isinstance(one, str):
                    failed[i] = one
                else:
                    images[i] = one
    ok = [i for i in range(n) if i not in failed]
    return DecodedBatch(
        images=images if len(ok) == n else images[ok],
        ok=ok,
        errors=sorted(failed.items()),
    )


def _decode_one(data: bytes, name: str, fit: DecodeTarget) -> np.ndarray | str:
    """One file by `decode_bytes`: its image, or the reason it failed."""
    try:
        return decode_bytes(bytes(data), name, fit)
    except ImageError as e:
        return e.reason
    except Exception as e:  # noqa: BLE001 - one bad file never stops a batch
        return f"{type(e).__name__}: {e}"


@functools.lru_cache(maxsize=64)
def _batch_decoder(
    size: tuple[int, int], resize: str, plan_index: int
) -> Callable[[Any], Any]:
    """A traced call: string [n] -> float32 [n, height, width, 3] in [0, 1].

    The ops of `dataset`'s fast path, then its per-batch finalize.
    """
    import tensorflow as tf

    spec = tf.TensorSpec((*size, 3), tf.float32)

    def one(data: Any) -> Any:
        image = decode_plain_jpeg(data, size, resize, plan_index)
        return tf.ensure_shape(image, (*size, 3))

    def decode(datas: Any) -> Any:
        images = tf.map_fn(one, datas, fn_output_signature=spec)
        return tf.minimum(images, 255.0) * INV_255

    traced: Callable[[Any], Any] = tf.function(
        decode,
        input_signature=[tf.TensorSpec([None], tf.string)],
        autograph=False,
    )
    return traced
