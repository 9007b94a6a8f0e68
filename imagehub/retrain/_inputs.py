"""The training images: scanning the folder, checking its classes, and
leaving out (with a warning) the images that do not decode."""

from __future__ import annotations

import logging

import numpy as np

from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._errors import FlagValueError
from imagehub.retrain._errors import RetrainError
from imagehub.retrain._paths import image_dir as resolved_image_dir
from imagehub.retrain._progress import STAGE_VALIDATE
from imagehub.retrain._progress import ProgressFn
from imagehub.retrain._progress import report

logger = logging.getLogger(__name__)


def check_classes(index, image_dir: str) -> None:
    """Raises if a class folder has no usable image in `index`."""
    counts = np.bincount(
        np.asarray(index.labels, np.int64), minlength=len(index.class_names)
    )
    empty = [n for n, c in zip(index.class_names, counts, strict=True) if not c]
    if empty:
        raise RetrainError(
            f"class folders without usable images: {', '.join(empty)} "
            f"(in {image_dir}); add images or remove the folders"
        )


def scan(config: RetrainConfig, progress: ProgressFn | None, validate: bool):
    """The labelled images of --image_dir (an `imagehub.data.ImageIndex`),
    decoded once first when `validate`.

    Raises:
        RetrainError: The folder is missing, has fewer than two class
            folders, or a class has no usable image.
    """
    from imagehub import data

    image_dir = resolved_image_dir(config)
    try:
        index = data.scan(image_dir)
    except FileNotFoundError as e:
        raise FlagValueError(f"--image_dir: {e}") from e
    if not index.labelled or len(index.class_names) < 2:
        raise FlagValueError(
            f"--image_dir {image_dir!r} must hold one subfolder of images "
            f"per class, and at least two classes; found "
            f"{len(index.class_names)} class folders"
        )
    # Files that are not images (a LICENSE.txt, .DS_Store) are noted;
    # images that do not decode are warned about.
    for path, reason in index.skipped:
        logger.info("not used: %s: %s", path, reason)
    scanned = len(index.skipped)
    if validate:
        index = data.validate(
            index,
            progress=lambda done, total: report(
                progress, STAGE_VALIDATE, done, total
            ),
        )
    for path, reason in index.skipped[scanned:]:
        _warn_left_out(path, reason)
    check_classes(index, image_dir)
    return index


def record_undecodable(index, bad_index) -> None:
    """Adds the images of `bad_index`, which did not decode in the feature
    pass, to ``index.skipped`` with the reason, and warns about each."""
    from imagehub import data

    checked = data.validate(bad_index)
    reasons = dict(checked.skipped)
    for path in bad_index.paths:
        reason = reasons.get(path, "did not decode in the feature pass")
        _warn_left_out(path, reason)
        index.skipped.append((path, reason))


def _warn_left_out(path: str, reason: str) -> None:
    logger.warning("left out %s: %s", path, reason)
