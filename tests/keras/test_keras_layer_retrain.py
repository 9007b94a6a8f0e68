"""A Keras 3 version of TF Hub's image retraining recipe.

Sequential of KerasLayer (fine-tuning on), Dropout and Dense with L2, SGD
with momentum, label-smoothed cross-entropy, on a generated image folder.
"""

import keras
import numpy as np

import imagehub
from imagehub.testing import write_image_folder


def test_retraining_recipe_loss_falls_when_fine_tuning(tiny_dir, tmp_path):
    keras.utils.set_random_seed(0)
    root = str(tmp_path / "images")
    write_image_folder(root, num_classes=3, per_class=8, size=(24, 24))
    dataset = keras.utils.image_dataset_from_directory(
        root,
        image_size=(16, 16),
        batch_size=8,
        label_mode="categorical",
        shuffle=True,
        seed=0,
        verbose=False,
    )
    class_names = dataset.class_names
    rescale = keras.layers.Rescaling(1.0 / 255)
    dataset = dataset.map(lambda x, y: (rescale(x), y)).cache()
    backbone = imagehub.KerasLayer(tiny_dir, trainable=True)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            backbone,
            keras.layers.Dropout(0.2),
            keras.layers.Dense(
                len(class_names),
                kernel_regularizer=keras.regularizers.l2(1e-4),
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=0.1
        ),
        metrics=["accuracy"],
    )
    before = [w.numpy().copy() for w in backbone.trainable_weights]
    history = model.fit(dataset, epochs=12, verbose=0).history
    losses = history["loss"]
    assert np.isfinite(losses).all(), losses
    assert losses[-1] < 0.8 * losses[0], f"loss did not fall: {losses}"
    moved = sum(
        not np.allclose(b, w.numpy())
        for b, w in zip(before, backbone.trainable_weights, strict=True)
    )
    assert moved == len(before), "fine-tuning did not reach the backbone"
