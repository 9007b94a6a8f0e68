"""Turns the `inputs` argument into a list of image paths."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

# Inputs to hand to `imagehub.data.scan` rather than take as one image.
_LIST_FILE_SUFFIXES = (".txt", ".lst", ".list")


def _needs_scan(item: str) -> bool:
    return (
        os.path.isdir(item)
        or glob.has_magic(item)
        or item.lower().endswith(_LIST_FILE_SUFFIXES)
    )


def list_inputs(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[list[str], list[tuple[str, str]]]:
    """Lists the images `inputs` names, in a stable order.

    Args:
        inputs: A folder, a glob pattern, a text file with one path a line,
            one image path, or a sequence of any of these.

    Returns:
        (paths, skipped): the image paths, without duplicates, and the
        (path, reason) pairs `imagehub.data.scan` skipped.

    Raises:
        FileNotFoundError: An input names nothing that exists.
    """
    from imagehub import data

    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    paths: list[str] = []
    skipped: list[tuple[str, str]] = []
    for item in items:
        item = os.fspath(item)
        if _needs_scan(item):
            index = data.scan(item)
            paths.extend(index.paths)
            skipped.extend(index.skipped)
        else:
            # A single image: a missing or broken one is a per-file error
            # reported by the decoder, like any other bad file.
            paths.append(item)
    return list(dict.fromkeys(paths)), skipped
