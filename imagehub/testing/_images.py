"""Generated image folders for tests and benchmarks (no downloads).

Like tensorflow_hub's old `_write_cmy_dataset`: each class has its own
colour, so a tiny model separates them, with noise so images differ.
"""

from __future__ import annotations

import os

import numpy as np

# Cyan, magenta, yellow, then more distinct colours for more classes.
CLASS_COLOURS = (
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 0),
    (255, 0, 0),
    (0, 0, 255),
    (0, 160, 0),
)


def random_image(
    rng: np.random.Generator,
    size: tuple[int, int] = (32, 32),
    colour: tuple[int, int, int] | None = None,
    noise: float = 30.0,
) -> np.ndarray:
    """Returns a uint8 (H, W, 3) image: a colour (or random) plus noise."""
    h, w = size
    base = (
        np.array(colour, np.float32)
        if colour is not None
        else rng.uniform(0, 255, size=3)
    )
    img = base + rng.normal(0.0, noise, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_image_folder(
    root: str | os.PathLike[str],
    num_classes: int = 3,
    per_class: int = 10,
    size: tuple[int, int] = (32, 32),
    fmt: str = "jpg",
    seed: int = 0,
    random_labels: bool = False,
) -> list[str]:
    """Writes a class-per-subfolder image dataset and returns the classes.

    Args:
        root: Folder to create (may exist).
        num_classes: Number of classes (at most len(CLASS_COLOURS)).
        per_class: Images per class.
        size: (height, width) of every image.
        fmt: File format: ``"jpg"``, ``"png"``, ...
        seed: Seed of the noise.
        random_labels: Put images of random colours in each class, so the
            labels cannot be learned.

    Returns:
        The class names, sorted.
    """
    from PIL import Image

    if num_classes > len(CLASS_COLOURS):
        raise ValueError(
            f"num_classes={num_classes}; at most {len(CLASS_COLOURS)}"
        )
    rng = np.random.default_rng(seed)
    names = [f"class_{i}" for i in range(num_classes)]
    for i, name in enumerate(names):
        folder = os.path.join(os.fspath(root), name)
        os.makedirs(folder, exist_ok=True)
        for j in range(per_class):
            colour = (
                CLASS_COLOURS[rng.integers(num_classes)]
                if random_labels
                else CLASS_COLOURS[i]
            )
            img = random_image(rng, size, colour)
            Image.fromarray(img).save(os.path.join(folder, f"{j:04d}.{fmt}"))
    return names


def write_flat_folder(
    root: str | os.PathLike[str],
    count: int,
    size: tuple[int, int] = (32, 32),
    fmt: str = "jpg",
    seed: int = 0,
) -> list[str]:
    """Writes `count` random images in one folder; returns their paths."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    paths = []
    for j in range(count):
        path = os.path.join(os.fspath(root), f"img_{j:05d}.{fmt}")
        Image.fromarray(random_image(rng, size)).save(path)
        paths.append(path)
    return paths
