"""Feature caching: run the frozen module once per image, not every epoch.

make_image_classifier recomputed the module's features for every image at
every step. When the module is frozen and the images are not augmented those
features never change, so imagehub computes them once, keeps them in memory
and in a ``.npy`` file (with a key that says what they were computed from),
and trains the classification head on them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from imagehub.retrain._atomic import atomic_path
from imagehub.retrain._progress import STAGE_FEATURES
from imagehub.retrain._progress import ProgressFn
from imagehub.retrain._progress import report

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def cache_key(
    module: str,
    image_size: tuple[int, int],
    resize: str,
    paths: list[str],
) -> str:
    """A digest of everything the features depend on.

    Files are identified by path, size and modification time, so editing an
    image, or re-exporting the module in place, invalidates the cache.
    """
    digest = hashlib.sha256()
    module_files = (
        [
            os.path.join(module, "saved_model.pb"),
            os.path.join(module, "variables", "variables.index"),
        ]
        if os.path.isdir(module)
        else []
    )
    head = {
        "format": CACHE_FORMAT_VERSION,
        "module": module,
        "module_files": [_stamp(p) for p in module_files],
        "image_size": list(image_size),
        "resize": resize,
    }
    digest.update(json.dumps(head, sort_keys=True).encode())
    for path in paths:
        digest.update(f"\n{path}\0{_stamp(path)}".encode())
    return digest.hexdigest()


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


class FeatureCache:
    """Features of one image subset, stored as ``<prefix>.npy`` with a
    ``<prefix>.json`` that holds the key and the kept positions.

    Args:
        directory: Folder of the cache files (created on save).
        name: Subset name, e.g. ``"train"`` or ``"validation"``.
    """

    def __init__(self, directory: str | os.PathLike[str], name: str):
        self.npy_path = os.path.join(os.fspath(directory), f"{name}.npy")
        self.meta_path = os.path.join(os.fspath(directory), f"{name}.json")

    def load(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Returns ``(features, positions)`` if cached under `key`."""
        try:
            with open(self.meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            if meta.get("key") != key:
                logger.info("feature cache %s is stale", self.npy_path)
                return None
            features = np.load(self.npy_path, allow_pickle=False)
        except (OSError, ValueError) as e:
            logger.debug("no usable feature cache %s: %s", self.npy_path, e)
            return None
        positions = np.asarray(meta["positions"], dtype=np.int64)
        if features.shape[0] != len(positions):
            return None
        logger.info("features loaded from %s", self.npy_path)
        return features, positions

    def save(
        self, key: str, features: np.ndarray, positions: np.ndarray
    ) -> None:
        """Writes the features atomically (the key file last)."""
        os.makedirs(os.path.dirname(self.npy_path) or ".", exist_ok=True)
        with atomic_path(self.npy_path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, features, allow_pickle=False)
        meta = {"key": key, "positions": [int(p) for p in positions]}
        with atomic_path(self.meta_path) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(meta, f)


def decode_paths(batch_paths: Any) -> list[str]:
    """The file paths of a batch of the reader's path tensor."""
    return [p.decode("utf-8", "surrogateescape") for p in batch_paths.numpy()]


def compute_features(
    backbone: Callable[[Any], Any],
    batches: Any,
    paths: list[str],
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs `backbone` once over every image.

    Args:
        backbone: Maps a float32 image batch to a feature batch (the frozen
            module in inference mode).
        batches: A dataset of ``(images, paths)`` batches in the order of
            `paths` (files that fail to decode are left out by the reader).
        paths: The paths the dataset reads, in order.
        progress: Receives ``features`` events (images done / total).

    Returns:
        ``(features, positions)``: float32 [n, num_features] and, for each
        row, its position in `paths`.
    """
    start = time.perf_counter()
    where = {p: i for i, p in enumerate(paths)}
    chunks, positions = [], []
    total = len(paths)
    report(progress, STAGE_FEATURES, 0, total)
    for images, batch_paths in batches:
        chunks.append(np.asarray(backbone(images), dtype=np.float32))
        positions += [where[p] for p in decode_paths(batch_paths)]
        report(progress, STAGE_FEATURES, len(positions), total)
    if not chunks:
        raise ValueError("no image could be read; nothing to compute")
    logger.info(
        "features of %d images in %.1f s",
        len(positions),
        time.perf_counter() - start,
    )
    return np.concatenate(chunks), np.asarray(positions, dtype=np.int64)


def cached_features(
    cache: FeatureCache | None,
    key: str,
    compute: Callable[[], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Features from `cache` under `key`, else computed (and cached)."""
    if cache is not None:
        hit = cache.load(key)
        if hit is not None:
            return hit
    features, positions = compute()
    if cache is not None:
        cache.save(key, features, positions)
    return features, positions
