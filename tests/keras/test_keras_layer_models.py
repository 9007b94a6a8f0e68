"""The layer in Sequential, functional and subclassed models (SPEC K2)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import imagehub


def _compile(model):
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


class SubclassedClassifier(keras.Model):
    def __init__(self, handle, **kwargs):
        super().__init__(**kwargs)
        self.backbone = imagehub.KerasLayer(handle, trainable=True)
        self.head = keras.layers.Dense(3)

    def call(self, inputs, training=None):
        return self.head(self.backbone(inputs, training=training))


def _sequential(handle):
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            imagehub.KerasLayer(handle, trainable=True),
            keras.layers.Dense(3),
        ]
    )


def _functional(handle):
    inputs = keras.Input((None, None, 3))
    features = imagehub.KerasLayer(handle, trainable=True)(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(features))


@pytest.mark.parametrize(
    "build",
    [_sequential, _functional, SubclassedClassifier],
    ids=["sequential", "functional", "subclassed"],
)
def test_fit_predict_evaluate_work_when_in_model(build, tiny_dir, images):
    x, y = images
    model = _compile(build(tiny_dir))
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all(), history.history
    predictions = model.predict(x, batch_size=4, verbose=0)
    assert predictions.shape == (8, 3), predictions.shape
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    backbone = next(
        layer
        for layer in model.layers
        if isinstance(layer, imagehub.KerasLayer)
    )
    assert len(backbone.trainable_weights) == 5, "fine-tuning weights lost"


def test_outputs_equal_direct_call_when_in_model(tiny_classifier_dir, images):
    x, _ = images
    obj = tf.saved_model.load(tiny_classifier_dir)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, imagehub.KerasLayer(obj)(inputs))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), obj(x).numpy(), rtol=1e-5, atol=1e-6
    )


def test_output_shape_known_without_call_when_card(tiny_classifier_dir):
    layer = imagehub.KerasLayer(tiny_classifier_dir)
    assert layer.compute_output_shape((None, 16, 16, 3)) == (None, 3)
    assert not layer._called, "the shape should come from the card"


def test_output_shape_from_traces_when_no_card(tiny_no_card_dir):
    layer = imagehub.KerasLayer(tiny_no_card_dir)
    assert layer.compute_output_shape((None, 16, 16, 3)) == (None, 8)
    symbolic = layer(keras.Input((16, 16, 3)))
    assert tuple(symbolic.shape) == (None, 8)


def test_output_shape_argument_overrides_when_given(tiny_dir):
    layer = imagehub.KerasLayer(tiny_dir, output_shape=[None])
    assert layer.compute_output_shape((4, 16, 16, 3)) == (4, None)


def test_float64_input_cast_when_called(tiny_dir, images):
    x, _ = images
    layer = imagehub.KerasLayer(tiny_dir)
    out = layer(x.astype(np.float64))
    assert out.dtype == tf.float32, out.dtype
    np.testing.assert_allclose(out, layer(x), rtol=1e-6)


def test_fit_works_when_inside_tf_function(tiny_dir, images):
    x, y = images
    layer = imagehub.KerasLayer(tiny_dir, trainable=True)
    head = keras.layers.Dense(3)
    optimizer = keras.optimizers.SGD(0.1)
    head.build((None, 8))
    variables = layer.trainable_weights + head.trainable_weights

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = head(layer(images, training=True))
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(
                    labels, logits, from_logits=True
                )
            ) + tf.add_n(layer.losses)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return grads

    grads = step(x, y)
    missing = [
        v.path for v, g in zip(variables, grads, strict=True) if g is None
    ]
    assert missing == [], f"no gradient reached {missing}"
