"""Stage 2 of a run, `build`: the classifier model.

The model is make_image_classifier's: the feature-vector module (an
`imagehub.KerasLayer`) -> Dropout -> Dense logits with an L1/L2 kernel
regularizer, trained on cross-entropy from logits with label smoothing, by
SGD with momentum. Dropout and Dense form one `head` model. Trained on
cached features, the head alone runs; otherwise the module and the head run
together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any

from imagehub.retrain._config import AUGMENTATION_RANDAUGMENT
from imagehub.retrain._config import RANDAUGMENT_MAGNITUDE
from imagehub.retrain._config import RANDAUGMENT_OPS
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._prepare import module_image_size

HEAD_NAME = "head"
FINE_TUNING_BN_MOMENTUM = 0.997
LOGITS_NAME = "logits"


@dataclasses.dataclass(frozen=True)
class Model:
    """The Keras models of a run (built, compiled, untrained).

    Attributes:
        backbone: The module as an `imagehub.KerasLayer`.
        head: Dropout -> Dense logits on the module's features.
        classifier: [0, 1] images -> module -> head -> logits; exported.
        trained: The model that trains: the head on cached features, else
            the classifier.
        saved_variables: The variables a checkpoint stores (the head's
            when the module is frozen; all of the model's when fine-tuned).
        image_size: (height, width) of the input.
        num_features: Length of the module's feature vector.
        cached: Whether training runs on cached features.
    """

    backbone: Any
    head: Any
    classifier: Any
    trained: Any
    saved_variables: tuple[Any, ...]
    image_size: tuple[int, int]
    num_features: int
    cached: bool


def build(prepared: Prepared) -> Model:
    """Loads the module as a Keras layer, resolves the input size and
    builds and compiles the head and the classifier (in the distribution
    strategy's scope)."""
    config = prepared.config
    scope: Any = contextlib.nullcontext()
    if config.distribution_strategy == "mirrored":
        import tensorflow as tf

        scope = tf.distribute.MirroredStrategy().scope()
    with scope:
        return _build(prepared)


def _build(prepared: Prepared) -> Model:
    from imagehub.keras import KerasLayer

    config = prepared.config
    # Fine-tuning on few images: batch norm statistics that move slowly
    # (TF Hub's advice for its image modules), where the card says the
    # module takes the override (SPEC R4).
    arguments = None
    card = prepared.card
    if config.warm_starts and card is not None:
        if "batch_norm_momentum" in card.hparams:
            arguments = {"batch_norm_momentum": FINE_TUNING_BN_MOMENTUM}
    backbone = KerasLayer(
        prepared.module_dir,
        trainable=config.do_fine_tuning,
        arguments=arguments,
        name="module",
    )
    # The layer's loaded object: its traces tell a card-less module's input
    # size without loading the SavedModel a second time.
    image_size = module_image_size(prepared, backbone.resolved_object)
    shape = backbone.compute_output_shape((None, *image_size, 3))
    num_features = int(shape[-1])
    head = build_head(
        num_features, len(prepared.class_names), config, prepared.seed
    )
    classifier = build_classifier(backbone, head, image_size)
    cached = config.use_feature_cache
    trained = head if cached else classifier
    compile_model(trained, config)
    saved = trained if config.do_fine_tuning else head
    return Model(
        backbone=backbone,
        head=head,
        classifier=classifier,
        trained=trained,
        saved_variables=tuple(saved.variables),
        image_size=image_size,
        num_features=num_features,
        cached=cached,
    )


def build_head(
    num_features: int, num_classes: int, config: RetrainConfig, seed: int
):  # -> keras.Sequential
    """Dropout -> Dense logits, with seeded dropout and initializer."""
    import keras

    policy = "mixed_float16" if config.use_mixed_precision else None
    layers = [
        keras.Input((num_features,), name="features"),
        keras.layers.Dropout(
            config.dropout_rate, seed=seed, name="dropout", dtype=policy
        ),
        keras.layers.Dense(
            num_classes,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            kernel_regularizer=keras.regularizers.L1L2(
                l1=config.l1_regularizer, l2=config.resolved_l2_regularizer
            ),
            name=LOGITS_NAME,
            dtype=policy,
        ),
    ]
    if policy:
        # Logits leave the model as float32 whatever the compute dtype.
        layers.append(
            keras.layers.Activation("linear", dtype="float32", name="cast")
        )
    return keras.Sequential(layers, name=HEAD_NAME)


def build_classifier(backbone, head, image_size: tuple[int, int]):
    """The full model: [0, 1] images -> module -> head -> logits."""
    import keras

    inputs = keras.Input((*image_size, 3), name="images")
    outputs = head(backbone(inputs))
    return keras.Model(inputs, outputs, name="classifier")


def make_optimizer(config: RetrainConfig):
    import keras

    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.resolved_learning_rate)
    return keras.optimizers.SGD(
        config.resolved_learning_rate, momentum=config.momentum
    )


def compile_model(model, config: RetrainConfig) -> None:
    import keras

    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        # XLA would compile the head alone but not the module, and the
        # cached and uncached ways must compute the same numbers.
        jit_compile=False,
    )


def augmentation_layers(
    config: RetrainConfig, image_size: tuple[int, int], seed: int
) -> list[Any]:
    """Keras preprocessing layers for make_image_classifier's augmentation
    flags, converted to the units Keras expects.

    With ``augmentation="randaugment"``, `randaugment_layers` instead.
    `rotation_range` is in degrees (as for the old ImageDataGenerator);
    `keras.layers.RandomRotation` takes a fraction of a full turn, so 40
    degrees is 40 / 360. Shifts >= 1 are pixels, below 1 fractions; shear
    is an angle in degrees, applied as its tangent.
    """
    import keras

    if config.augmentation == AUGMENTATION_RANDAUGMENT:
        return randaugment_layers(config, seed)
    h, w = image_size

    def fraction(shift: float, size: int) -> float:
        return shift / size if shift >= 1 else shift

    layers = []
    if config.rotation_range:
        turn = config.rotation_range / 360.0
        layers.append(
            keras.layers.RandomRotation(
                (-turn, turn), fill_mode="nearest", seed=seed
            )
        )
    if config.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    dy = fraction(config.height_shift_range, h)
    dx = fraction(config.width_shift_range, w)
    if dx or dy:
        layers.append(
            keras.layers.RandomTranslation(
                (-dy, dy), (-dx, dx), fill_mode="nearest", seed=seed
            )
        )
    if config.shear_range:
        shear = math.tan(math.radians(config.shear_range))
        layers.append(
            keras.layers.RandomShear(
                x_factor=shear, fill_mode="nearest", seed=seed
            )
        )
    if config.zoom_range:
        z = config.zoom_range
        layers.append(
            keras.layers.RandomZoom((-z, z), (-z, z), fill_mode="nearest")
        )
    return layers


def randaugment_layers(config: RetrainConfig, seed: int) -> list[Any]:
    """The ``randaugment`` preset: a horizontal flip (if
    `horizontal_flip`), then `keras.layers.RandAugment` on the [0, 1]
    images the classifier takes."""
    import keras

    layers: list[Any] = []
    if config.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    layers.append(
        keras.layers.RandAugment(
            value_range=(0.0, 1.0),
            num_ops=RANDAUGMENT_OPS,
            factor=RANDAUGMENT_MAGNITUDE,
            seed=seed,
        )
    )
    return layers
