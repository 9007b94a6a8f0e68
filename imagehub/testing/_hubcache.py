"""Inspecting an imagehub cache directory in tests."""

from __future__ import annotations

import os

from imagehub.testing._paths import TFHUB_CLASSIFIER_DIR


def cache_leftovers(root: str) -> list[str]:
    """Names in the cache root that are not entries: temp dirs, locks."""
    if not os.path.isdir(root):
        return []
    return sorted(
        n for n in os.listdir(root) if n.startswith(".") or n.endswith(".lock")
    )


def cache_entries(root: str) -> list[str]:
    """Names of the entry directories in the cache root (not `refs/`,
    where resolved versions are recorded)."""
    if not os.path.isdir(root):
        return []
    return sorted(
        n
        for n in os.listdir(root)
        if not n.startswith(".") and not n.endswith(".lock") and n != "refs"
    )


def same_files(model_dir: str, reference: str = TFHUB_CLASSIFIER_DIR) -> bool:
    """True if model_dir holds exactly reference's files, byte for byte."""

    def listing(root: str) -> dict[str, bytes]:
        found = {}
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, root)] = f.read()
        return found

    return listing(model_dir) == listing(reference)
