"""`dataset`: a tf.data pipeline of decoded, resized image batches."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from imagehub.data._decode import INV_255
from imagehub.data._decode import RAW_TO_255
from imagehub.data._decode import DecodeTarget
from imagehub.data._decode import ImageSize
from imagehub.data._decode import check_resize
from imagehub.data._decode import decode_pillow
from imagehub.data._errors import ImageError
from imagehub.data._fastjpeg import decode_plain_jpeg
from imagehub.data._fastjpeg import inspect_plain_jpeg
from imagehub.data._fastjpeg import plan
from imagehub.data._formats import special_file_reason
from imagehub.data._index import ImageIndex
from imagehub.data._index import split
from imagehub.spec import parse_image_size

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)

SUBSETS = ("training", "validation")
# Shuffle buffer (in decoded images) used after a cache.
_CACHED_SHUFFLE_BUFFER = 1024
# Batches decoded ahead of the consumer: enough to hide decoding behind a
# model step, and a bound on memory (one batch of 224x224 images is 19 MB).
PREFETCH_BATCHES = 2


def decode_parallelism() -> int:
    """Images decoded at once: one per CPU core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def dataset_options() -> tf.data.Options:
    """The `tf.data.Options` of every imagehub input pipeline.

    Autotuning is off; the pipeline's parallelism and prefetch are fixed
    instead (`decode_parallelism`, `PREFETCH_BATCHES`). With autotuning on,
    TensorFlow 2.21 deletes an exhausted iterator only once its autotuning
    thread wakes up: measured here, 9 of 40 deletions took 0.1 to 1.2 s
    and one took 23 s, a stall at the end of every epoch, embed or
    classify run. Apply them with ``ds.with_options(dataset_options())``
    to pipelines built by hand (retrain's feature cache does).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def dataset(
    index: ImageIndex,
    image_size: ImageSize,
    batch_size: int = 32,
    resize: str = "stretch",
    shuffle: bool = False,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    cache: bool | str | None = None,
    with_paths: bool = False,
) -> tf.data.Dataset:
    """Builds a `tf.data.Dataset` of image batches from an index.

    Each file is decoded exactly as `load_image` decodes it (same route:
    TensorFlow's decoder in the graph for plain JPEGs, Pillow through
    `tf.numpy_function` for everything else; same colour, EXIF and resize
    rules), one file per CPU core at a time, with `PREFETCH_BATCHES`
    batches prefetched (tf.data's autotuning is off: `dataset_options`).

    Bad files: a file that fails to decode is dropped from the epoch with
    a logged warning (its label or path goes with it, so images and labels
    stay aligned); the epoch never stops. Pillow-path warnings name the
    file and the reason; a corrupt plain JPEG is dropped with TensorFlow's
    "Skipping a bad element" warning. Batches then hold fewer images than
    `len(index)`. Run `validate` first (retrain and embed do) to know the
    exact count and the names beforehand.

    Args:
        index: Images to read, from `scan` (and optionally `validate`).
        image_size: Output (height, width), or an int for a square.
        batch_size: Images per batch; the last batch may be smaller.
        resize: One of ``RESIZE_MODES``: ``"stretch"``, ``"crop"``,
            ``"pad"``.
        shuffle: Shuffle the images, in a new order every epoch.
        seed: Makes the shuffle order reproducible: two datasets built
            with the same seed yield the same batches, epoch after epoch.
            Also seeds the validation split.
        validation_split: Fraction of images held out, in (0, 1); requires
            `subset`. The split is `split(index, validation_split, seed)`:
            deterministic even when seed is None (then seed 0), so the
            "training" and "validation" datasets of two calls are disjoint
            and together cover the index.
        subset: ``"training"`` or ``"validation"``: which side of the
            split to read.
        cache: None (no cache), True (keep decoded images in memory) or a
            file path prefix (cache on disk). With a cache the files are
            decoded once; the order is then shuffled with a buffer of
            1024 images on top of a seeded order fixed at the first epoch.
        with_paths: Yield ``(images, paths)`` even for a labelled index.

    Returns:
        A dataset of ``(images, labels)`` for labelled indexes, else (or
        with `with_paths`) ``(images, paths)``. images is float32
        ``[batch, height, width, 3]`` RGB in [0, 1]; labels int32
        ``[batch]``; paths string ``[batch]``.

    Raises:
        ValueError: An argument is invalid (the message names it).
    """
    import tensorflow as tf

    size = parse_image_size(image_size)
    if size is None:
        raise ValueError("image_size=None; dataset needs a (height, width)")
    check_resize(resize)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size={batch_size!r}; expected an int >= 1")
    index = _select_subset(index, validation_split, subset, seed)
    if index.plain_jpeg is None:  # built by hand: never read a FIFO
        index = _regular_files_only(index)
    if len(index) == 0:
        raise ValueError(
            "the index has no images (skipped: "
            f"{len(index.skipped)}); nothing to read"
        )
    max_pixels = index.max_pixels
    plain = index.plain_jpeg
    if plain is None:  # an index built by hand: read the headers now
        plain = [inspect_plain_jpeg(p, max_pixels) for p in index.paths]
    # Route 0: Pillow; route 1 + k: the fast path with plan k. Only the
    # routes in use are built into the graph (tracing each costs time).
    routes = [0 if s is None else 1 + plan(s, size, resize) for s in plain]
    used = sorted(set(routes))
    has_pillow = 0 in used
    branch_of = np.asarray([used.index(r) for r in routes], dtype=np.int32)

    fit = DecodeTarget(size, resize, max_pixels)

    def load_pillow(data: bytes, path: bytes) -> tuple[np.ndarray, np.bool_]:
        name = path.decode("utf-8", "surrogateescape")
        try:
            raw = decode_pillow(data, name, fit)
            return raw, np.bool_(True)
        except ImageError as e:
            logger.warning("skipping an image that does not decode: %s", e)
        except Exception as e:  # noqa: BLE001 - never stop an epoch
            logger.warning("skipping %s: unexpected %r", name, e)
        return np.zeros((*size, 3), np.uint16), np.bool_(False)

    def load(path: Any, target: Any, branch: Any) -> tuple[Any, ...]:
        data = tf.io.read_file(path)

        def pillow() -> tuple[Any, Any]:
            raw, ok = tf.numpy_function(
                load_pillow, [data, path], [tf.uint16, tf.bool], stateful=False
            )
            # The same float32 ops as load_image, then finalize per batch.
            return tf.cast(raw, tf.float32) * RAW_TO_255, ok

        def fast(plan_index: int) -> tuple[Any, Any]:
            image = decode_plain_jpeg(data, size, resize, plan_index)
            return image, tf.constant(True)

        branches = [
            pillow if r == 0 else functools.partial(fast, r - 1) for r in used
        ]
        if len(branches) == 1:
            image, ok = branches[0]()
        else:
            image, ok = tf.switch_case(branch, branches)
        image = tf.ensure_shape(image, (*size, 3))
        if not has_pillow:  # only the fast path, which never flags
            return image, target
        return image, target, tf.ensure_shape(ok, ())

    # os.fsencode, not numpy's bytes cast: that one is ASCII-only and
    # fails on names such as "café.jpg".
    paths = np.array([os.fsencode(p) for p in index.paths], dtype=object)
    labelled_output = index.labels is not None and not with_paths
    targets = (
        np.asarray(index.labels, dtype=np.int32) if labelled_output else paths
    )
    ds = tf.data.Dataset.from_tensor_slices((paths, targets, branch_of))
    n = len(index)
    if cache:
        if shuffle:
            # One seeded permutation before the cache, so the buffered
            # shuffle after it mixes classes even when files are sorted.
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=False)
        ds = _decode_map(ds, load, has_pillow, tf)
        ds = ds.cache() if cache is True else ds.cache(str(cache))
        if shuffle:
            ds = ds.shuffle(
                min(n, _CACHED_SHUFFLE_BUFFER),
                seed=seed,
                reshuffle_each_iteration=True,
            )
    else:
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = _decode_map(ds, load, has_pillow, tf)
    ds = ds.batch(int(batch_size))
    # `finalize` of load_image, on whole batches: 0-255 floats to [0, 1].
    ds = ds.map(
        _as_graph(
            lambda images, targets: (
                tf.minimum(images, 255.0) * INV_255,
                targets,
            )
        )
    )
    return ds.prefetch(PREFETCH_BATCHES).with_options(dataset_options())


def _decode_map(
    ds: Any, load: Callable[..., Any], has_pillow: bool, tf: Any
) -> Any:
    ds = ds.map(
        _as_graph(load),
        num_parallel_calls=decode_parallelism(),
        deterministic=True,
    )
    # The fast path's decoder raises on a corrupt JPEG (the Pillow path
    # flags it instead); either way the file is dropped, never the epoch.
    ds = ds.ignore_errors(log_warning=True)
    if not has_pillow:
        return ds
    ds = ds.filter(_as_graph(lambda image, target, ok: ok))
    return ds.map(_as_graph(lambda image, target, ok: (image, target)))


def _as_graph(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` traced as written, without AutoGraph's conversion.

    The pipeline's functions branch on Python values only (tensor-valued
    choices go through `tf.switch_case`), so AutoGraph has nothing to
    convert, yet rewriting their source took 1.5 s of every run's start
    (4 s on a busy machine; bench/embed.py's pipeline section).
    """
    import tensorflow as tf

    converted: Callable[..., Any] = tf.autograph.experimental.do_not_convert(fn)
    return converted


def _regular_files_only(index: ImageIndex) -> ImageIndex:
    """Drops paths that are FIFOs, devices or sockets, with a warning.

    tf.io.read_file would block forever on a FIFO; an index from `scan`
    never holds one, but an index built by hand may.
    """
    keep = []
    for i, path in enumerate(index.paths):
        try:
            reason = special_file_reason(os.stat(path).st_mode)
        except OSError:
            reason = None  # missing: the reader reports it like any other
        if reason is None:
            keep.append(i)
        else:
            logger.warning("skipping %s: %s", path, reason)
    return index if len(keep) == len(index) else index.subset(keep)


def _select_subset(
    index: ImageIndex,
    validation_split: float | None,
    subset: str | None,
    seed: int | None,
) -> ImageIndex:
    if validation_split is None:
        if subset is not None:
            raise ValueError(
                f"subset={subset!r} needs validation_split; pass "
                "validation_split=0.2 (for example) or subset=None"
            )
        return index
    if subset not in SUBSETS:
        raise ValueError(
            f"subset={subset!r}; with validation_split expected one of "
            f"{SUBSETS}"
        )
    train, val = split(index, validation_split, seed)
    return train if subset == "training" else val
