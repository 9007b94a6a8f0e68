"""Tiny Keras 3 models for exporter tests (a few hundred weights)."""

from __future__ import annotations

from typing import Any

L2 = 1e-3


def tiny_keras_model(
    num_classes: int | None = None,
    final_activation: str | None = None,
    image_size: int | None = None,
    output_dropout: float = 0.0,
    seed: int = 0,
) -> Any:
    """A small functional conv net: conv(L2) -> BN -> relu -> dropout ->
    conv -> global average pool [-> dropout] [-> dense].

    Args:
        num_classes: None for a feature vector (8 features), else the
            number of classes of a dense head.
        final_activation: Activation of the dense head (e.g. ``"softmax"``).
        image_size: Fixed square input side, or None for any size.
        output_dropout: Rate of a Dropout after the pooling (0: none).
        seed: Seed of the initial weights.

    Returns:
        A built `keras.Model` taking [0, 1] RGB.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = keras.layers.Conv2D(
        4,
        3,
        padding="same",
        kernel_regularizer=keras.regularizers.L2(L2),
        name="conv1",
    )(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dropout(0.25, name="inner_dropout")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if output_dropout:
        x = keras.layers.Dropout(output_dropout, name="output_dropout")(x)
    if num_classes is not None:
        x = keras.layers.Dense(
            num_classes,
            activation=final_activation,
            kernel_regularizer=keras.regularizers.L2(L2),
            name="logits",
        )(x)
    return keras.Model(inputs, x, name="tiny")
