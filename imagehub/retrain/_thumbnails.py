"""Misclassified images as thumbnails: the JPEGs and their HTML figures,
shared by retrain's report.html and `imagehub evaluate --out`'s
misclassified.html."""

from __future__ import annotations

import html
import logging
import os
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

THUMB_SIZE = 96


def write_thumbnails(
    folder: str, items: list[dict[str, Any]], resize: str, prefix: str
) -> None:
    """Writes a JPEG thumbnail of each item's ``path`` into `folder`
    (which must exist) and sets its ``thumbnail`` to ``prefix/NNN.jpg``;
    an image that cannot be read gets a warning and no thumbnail."""
    from PIL import Image

    from imagehub.data import ImageError
    from imagehub.data import load_image

    for i, item in enumerate(items):
        name = f"{i:03d}.jpg"
        try:
            pixels = load_image(
                item["path"], image_size=(THUMB_SIZE, THUMB_SIZE), resize=resize
            )
        except (ImageError, OSError) as e:
            logger.warning("no thumbnail for %s: %s", item["path"], e)
            continue
        array = np.clip(np.asarray(pixels) * 255.0 + 0.5, 0, 255)
        Image.fromarray(array.astype(np.uint8)).save(
            os.path.join(folder, name), format="JPEG", quality=85
        )
        item["thumbnail"] = f"{prefix}/{name}"


def thumbnail_figures(items: list[dict[str, Any]]) -> str:
    """One HTML ``<figure>`` per item with a ``thumbnail``: true class
    -> predicted, an optional ``detail`` line, the file name; every text
    HTML-escaped (file names are user input)."""
    e = html.escape
    return "\n".join(
        f'<figure><img src="{e(m["thumbnail"])}" alt="{e(m["path"])}">'
        f"<figcaption>{e(m['true'])} &rarr; <b>{e(m['predicted'])}</b>"
        + (f"<br>{e(m['detail'])}" if m.get("detail") else "")
        + f"<br><small>{e(os.path.basename(m['path']))}</small></figcaption>"
        "</figure>"
        for m in items
        if "thumbnail" in m
    )
