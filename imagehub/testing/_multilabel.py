"""Generated multi-label images: two coloured shapes each, with a CSV of
their labels (the `--labels_csv` form of `retrain --multi_label`)."""

from __future__ import annotations

import itertools
import os

import numpy as np

from imagehub.testing._images import CLASS_COLOURS

MULTI_LABEL_NAMES = ("cyan", "magenta", "yellow")


def write_two_shape_images(
    root: str | os.PathLike[str],
    per_pair: int = 8,
    size: int = 16,
    seed: int = 0,
) -> str:
    """Writes images under `root`/img and their labels to `root`/labels.csv.

    Each image: a square of one class's colour on the left half and a disc
    of the same or another class's colour on the right, on grey, with
    noise; its labels are the one or two colours shown
    (`MULTI_LABEL_NAMES`). Image "img/ab_jj.png" shows colours a and b.

    Returns:
        The CSV's path.
    """
    from pathlib import Path

    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True)
    yy, xx = np.mgrid[:size, :size]
    square = xx < size // 2
    disc = (yy - size / 2) ** 2 + (xx - 3 * size / 4) ** 2 < (size / 4) ** 2
    rows = ["path,labels"]
    names = MULTI_LABEL_NAMES
    for a, b in itertools.combinations_with_replacement(range(len(names)), 2):
        for j in range(per_pair):
            first, second = (a, b) if j % 2 else (b, a)
            img = np.full((size, size, 3), 128.0)
            img[square] = CLASS_COLOURS[first]
            img[disc] = CLASS_COLOURS[second]
            img += rng.normal(0, 20, img.shape)
            name = f"img/{a}{b}_{j:02d}.png"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                root / name
            )
            labels = ";".join(sorted({names[a], names[b]}))
            rows.append(f"{name},{labels}")
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    return str(csv_path)
