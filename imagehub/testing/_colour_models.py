"""Feature-vector SavedModels that see colour, or not, for comparison
tests: one 1x1 convolution and global average pooling, with fixed
weights, exported through `imagehub.export` (a real reusable SavedModel).

On `write_image_folder`'s first three classes (cyan, magenta, yellow:
every one sums to 510 over its channels) the colour model's features
separate the classes, while the colour-blind one sees only each pixel's
channel mean, the same for all three: its features carry no label.
"""

from __future__ import annotations

import os

import numpy as np

NUM_FEATURES = 4
# Features span about +-SCALE/2: large enough for either retrain recipe,
# even the old one (5 epochs of SGD at learning rate 0.005), to separate
# the classes.
SCALE = 50.0


def write_colour_model(
    path: str | os.PathLike[str],
    colour_blind: bool = False,
    image_size: int = 16,
) -> str:
    """Writes a tiny feature-vector SavedModel and returns its path.

    Args:
        path: Target directory (must not exist yet).
        colour_blind: Average the channels first (grey), so that colours
            of equal channel sum give equal features.
        image_size: Default (square) input size of the card.

    Returns:
        The SavedModel's absolute path.
    """
    import keras

    from imagehub.export import export_feature_vector

    inputs = keras.Input((None, None, 3), name="images")
    conv = keras.layers.Conv2D(NUM_FEATURES, 1, name="colour")
    x = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    model = keras.Model(
        inputs, x, name="colour_blind" if colour_blind else "colour"
    )
    if colour_blind:
        kernel = np.full((1, 1, 3, NUM_FEATURES), 1.0 / 3.0, np.float32)
    else:
        kernel = np.eye(3, NUM_FEATURES, dtype=np.float32)[None, None]
    conv.set_weights(
        [SCALE * kernel, np.full(NUM_FEATURES, -SCALE / 2, np.float32)]
    )
    return export_feature_vector(
        model,
        path,
        image_size=(image_size, image_size),
        license="Apache-2.0",
        source="imagehub.testing.write_colour_model",
    )
