"""Turns the `inputs` argument into a list of image paths."""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagehub.data import ImageIndex

logger = logging.getLogger(__name__)

# Inputs to hand to `imagehub.data.scan` rather than take as one image.
_LIST_FILE_SUFFIXES = (".txt", ".lst", ".list")


def _needs_scan(item: str) -> bool:
    return (
        os.path.isdir(item)
        or glob.has_magic(item)
        or item.lower().endswith(_LIST_FILE_SUFFIXES)
    )


def _items(inputs) -> list[str]:
    if isinstance(inputs, (str, os.PathLike)):
        return [os.fspath(inputs)]
    return [os.fspath(item) for item in inputs]


def check_inputs_exist(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> None:
    """Raises FileNotFoundError for an input path that does not exist.

    A missing folder, list file or lone image is a mistake in the command
    (``--input phtoos/``), not a file that failed: nothing would be
    embedded. A missing image among several named ones stays a per-file
    error, like a broken one. Cheap (no folder is listed), so callers run
    it before loading a model. Glob patterns and remote URLs
    (``gs://...``) are left to the listing, which raises for a pattern
    matching nothing.

    Raises:
        FileNotFoundError: An input names nothing that exists.
    """
    from imagehub.data import meant_as_image

    items = _items(inputs)
    for item in items:
        if glob.has_magic(item) or "://" in item:
            continue
        if not os.path.lexists(item) and not (
            len(items) > 1 and meant_as_image(item)
        ):
            raise FileNotFoundError(
                f"Input {item!r} does not exist; expected a folder, an "
                "image, a glob pattern or a text file of image paths"
            )


def list_inputs(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> ImageIndex:
    """Lists the images `inputs` names, in a stable order.

    A folder is searched recursively, every image in it and below (class
    subfolders mean nothing here). Of the files `imagehub.data.scan`
    skips, those meant as images (`imagehub.data.meant_as_image`: named or
    starting like one) and every path a list file names are returned as
    errors; other files in a folder or glob match (``LICENSE.txt``,
    ``.DS_Store``) are passed over with a log line.

    Args:
        inputs: A folder, a glob pattern, a text file with one path a line,
            one image path, or a sequence of any of these.

    Returns:
        An unlabelled `imagehub.data.ImageIndex`: the image paths, without
        duplicates; as `skipped`, the (path, reason) pairs of the files
        that are errors; and what the scan read in the headers
        (`plain_jpeg`), so that the reader does not open them again (None
        when a single image path was given: its header was not read).

    Raises:
        FileNotFoundError: An input names nothing that exists.
    """
    from imagehub import data

    check_inputs_exist(inputs)
    items = _items(inputs)
    # path -> its header finding; a path not scanned has none yet.
    headers: dict[str, tuple[int, int] | None] = {}
    unread = False  # a single image path given: header not read
    skipped: list[tuple[str, str]] = []
    for item in items:
        if _needs_scan(item):
            index = data.scan(item, labels=None)
            for path, plain in zip(
                index.paths, index.plain_jpeg or (), strict=True
            ):
                headers.setdefault(path, plain)
            # A list file names each of its paths on purpose.
            named = os.path.isfile(item)
            passed_over = []
            for path, reason in index.skipped:
                if named or data.meant_as_image(path):
                    skipped.append((path, reason))
                else:
                    passed_over.append(path)
            if passed_over:
                logger.info(
                    "%s: passed over %d files that are not images (%s)",
                    item,
                    len(passed_over),
                    ", ".join(os.path.basename(p) for p in passed_over[:3])
                    + (", ..." if len(passed_over) > 3 else ""),
                )
        else:
            # A single image: a broken one is a per-file error reported by
            # the decoder, like any other bad file.
            if item not in headers:
                headers[item] = None
                unread = True
    return data.ImageIndex(
        paths=list(headers),
        labels=None,
        class_names=[],
        skipped=skipped,
        plain_jpeg=None if unread else list(headers.values()),
    )
