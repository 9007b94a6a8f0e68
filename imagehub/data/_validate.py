"""Decoding every image of an index once, before a job starts."""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections.abc import Callable

from imagehub.data._decode import DecodeTarget
from imagehub.data._decode import decode_bytes
from imagehub.data._decode import read_file
from imagehub.data._errors import ImageError
from imagehub.data._index import ImageIndex

logger = logging.getLogger(__name__)

# Size decoded to: small, so JPEGs use a reduced DCT scale, but every
# byte of the file is still read and checked, by the decoder (TensorFlow
# or Pillow) that `dataset` will use for it.
_CHECK_SIZE = (32, 32)


def validate(
    index: ImageIndex,
    progress: Callable[[int, int], None] | None = None,
    *,
    workers: int | None = None,
) -> ImageIndex:
    """Decodes every image once and moves the bad ones to `skipped`.

    Run it before a long job (retrain and embed do by default) so a
    corrupt file is reported up front instead of being dropped mid-epoch.
    Decoding uses the same function as `dataset` and `load_image`.

    Args:
        index: The index to check (from `scan`).
        progress: Called as ``progress(done, total)`` after each file, from
            the calling thread, e.g. to advance a progress bar.
        workers: Decoding threads; None uses one per CPU core.

    Returns:
        A new index holding the images that decode, in the same order,
        with the failures appended to `skipped` as ``(path, reason)``.
    """
    total = len(index)
    workers = workers or min(8, os.cpu_count() or 1)
    ok = [False] * total
    reasons: dict[int, str] = {}
    fit = DecodeTarget(_CHECK_SIZE, "stretch", index.max_pixels)

    def check(i: int) -> None:
        path = index.paths[i]
        try:
            decode_bytes(read_file(path), path, fit)
        except ImageError as e:
            reasons[i] = e.reason
        else:
            ok[i] = True

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(check, i) for i in range(total)]
        for done, future in enumerate(
            concurrent.futures.as_completed(futures), start=1
        ):
            future.result()
            if progress is not None:
                progress(done, total)
    good = [i for i in range(total) if ok[i]]
    result = index.subset(good)
    result.skipped = list(index.skipped) + [
        (index.paths[i], reasons[i]) for i in sorted(reasons)
    ]
    if reasons:
        logger.warning(
            "%d of %d images do not decode and were left out",
            len(reasons),
            total,
        )
    return result
