"""Decodes images into batches ahead of the model.

Decoding, not the model, is what usually limits a feature extraction loop.
The local runner reads through `imagehub.data.dataset` (`dataset_batches`):
plain JPEGs are decoded inside a tf.data graph, in parallel and without a
Python call per file, which costs less CPU than `load_image` per file on
threads (measured in bench/embed.py); the pixels are the same. Beam's
workers decode whole batches with `imagehub.data.decode_batch` (the same
ops, one TensorFlow call per batch).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

if TYPE_CHECKING:
    from imagehub.data import ImageIndex

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Batch:
    """Decoded images in input order, and the files that failed.

    Attributes:
        paths: Paths of the decoded images.
        images: float32 tensor (len(paths), height, width, 3), or None.
            Kept as the `tf.Tensor` tf.data made: the model takes it as
            is (a NumPy round trip copies 19 MB per batch of 32 at
            224x224, twice).
        errors: (path, reason) of the files in this stretch that failed.
    """

    paths: list[str]
    images: Any
    errors: list[tuple[str, str]]

    @property
    def size(self) -> int:
        """Number of files this batch accounts for, good and bad."""
        return len(self.paths) + len(self.errors)


def read_bytes(path: str) -> bytes:
    """Reads a whole file (local path); refuses FIFOs and devices."""
    from imagehub.data import open_regular

    with open_regular(path) as f:
        return f.read()


def decode_one(
    path: str,
    data: bytes,
    image_size: tuple[int, int],
    resize: str,
) -> tuple[np.ndarray | None, str | None]:
    """Decodes one image with `imagehub.data.load_image`.

    The local loop's reason for a file `dataset` dropped. Returns
    (image, None), or (None, reason) for a bad file.
    """
    from imagehub.data import ImageError
    from imagehub.data import load_image

    try:
        return load_image(data, image_size=image_size, resize=resize), None
    except ImageError as e:
        return None, e.reason
    except Exception as e:  # noqa: BLE001  one bad file must not stop a run
        logger.warning("Unexpected error decoding %s: %r", path, e)
        return None, f"{type(e).__name__}: {e}"


def _load(
    path: str, image_size: tuple[int, int], resize: str
) -> tuple[np.ndarray | None, str | None]:
    try:
        data = read_bytes(path)
    except OSError as e:
        return None, f"cannot read the file: {e.strerror or e}"
    return decode_one(path, data, image_size, resize)


def dataset_batches(
    index: ImageIndex,
    image_size: tuple[int, int],
    resize: str = "stretch",
    batch_size: int = 32,
    workers: int | None = None,
) -> Iterator[Batch]:
    """Yields batches of decoded images in input order, through tf.data.

    Uses `imagehub.data.dataset` (bounded: it prefetches a few batches).
    `dataset` drops files that do not decode; they are found as the paths
    missing between two yielded ones, and decoded once more with
    `load_image` for their reason, so every bad file is reported by name.

    Args:
        index: The images (paths without duplicates), e.g. from
            `list_inputs`; its header findings (`plain_jpeg`) spare the
            reader a second look at each file.
        image_size: (height, width) every image is resized to.
        resize: A mode of `imagehub.data.RESIZE_MODES`.
        batch_size: Images per batch (bad files do not count).
        workers: Size of tf.data's thread pool (default: TensorFlow's).

    Yields:
        `Batch`es; every input path appears in exactly one, as an image or
        as an error.
    """
    import tensorflow as tf

    from imagehub.data import dataset

    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    paths = index.paths
    if not paths:
        return
    ds = dataset(index, image_size, batch_size, resize=resize, with_paths=True)
    if workers:
        options = tf.data.Options()
        options.threading.private_threadpool_size = int(workers)
        ds = ds.with_options(options)
    position = 0  # next input path not yet accounted for

    def errors_until(stop: int) -> list[tuple[str, str]]:
        found = []
        for path in paths[position:stop]:
            _, reason = _load(path, image_size, resize)
            # dataset dropped it; if it decodes now, it changed meanwhile.
            found.append((path, reason or "could not be decoded"))
        return found

    for images, names in ds:
        good = [n.decode("utf-8", "surrogateescape") for n in names.numpy()]
        errors: list[tuple[str, str]] = []
        for name in good:
            stop = paths.index(name, position)
            errors.extend(errors_until(stop))
            position = stop + 1
        yield Batch(good, images, errors)
    if position < len(paths):
        yield Batch([], None, errors_until(len(paths)))
