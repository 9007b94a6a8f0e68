"""A text embedding (string input, dict output) as a Keras layer.

The SavedModel is `imagehub.testing.write_text_embedding_model`: hashed
tokens looked up in a trainable table, returning pooled and sequence
outputs, like TF Hub's text encoders.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import imagehub
from imagehub.testing import TEXT_EMBEDDING_DIM
from imagehub.testing import write_text_embedding_model

SENTENCES = [
    "a good film",
    "good acting and a good plot",
    "really good",
    "a bad film",
    "bad acting and a bad plot",
    "really bad",
]
LABELS = [1, 1, 1, 0, 0, 0]


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return write_text_embedding_model(
        tmp_path_factory.mktemp("text") / "embedding"
    )


def _dataset(batch_size=3):
    return tf.data.Dataset.from_tensor_slices(
        (tf.constant(SENTENCES), tf.constant(LABELS))
    ).batch(batch_size)


def _classifier(layer):
    sentences = keras.Input(shape=(), dtype="string", name="sentences")
    outputs = layer(sentences)
    pooled = outputs["pooled_output"]
    tokens = keras.layers.GlobalAveragePooling1D()(outputs["sequence_output"])
    features = keras.layers.Concatenate()([pooled, tokens])
    logits = keras.layers.Dense(2, name="head")(features)
    model = keras.Model(sentences, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def test_outputs_are_dict_of_embeddings_when_called(text_dir):
    layer = imagehub.KerasLayer(text_dir)
    symbolic = layer(keras.Input(shape=(), dtype="string"))
    assert set(symbolic) == {"pooled_output", "sequence_output"}, symbolic
    assert tuple(symbolic["pooled_output"].shape) == (None, TEXT_EMBEDDING_DIM)
    assert tuple(symbolic["sequence_output"].shape) == (
        None,
        None,
        TEXT_EMBEDDING_DIM,
    )
    eager = layer(tf.constant(["one two three", "four"]))
    assert eager["sequence_output"].shape == (2, 3, TEXT_EMBEDDING_DIM)
    direct = layer.resolved_object(tf.constant(["one two three", "four"]))
    np.testing.assert_allclose(
        eager["pooled_output"], direct["pooled_output"], rtol=1e-6
    )


def test_head_learns_labels_when_embedding_fine_tuned(text_dir, tmp_path):
    # Fine-tuned, saved to .keras and loaded back.
    layer = imagehub.KerasLayer(
        text_dir, trainable=True, arguments=dict(dropout_rate=0.0)
    )
    model = _classifier(layer)
    table = layer.resolved_object.table
    before = table.numpy().copy()
    history = model.fit(_dataset(), epochs=30, verbose=0)
    assert history.history["accuracy"][-1] == 1.0, history.history
    assert history.history["loss"][-1] < history.history["loss"][0] / 4
    assert not np.allclose(table.numpy(), before), "table did not train"
    # The SavedModel's L2 loss is part of what fit minimizes.
    (l2,) = [float(v) for v in model.losses]
    np.testing.assert_allclose(
        l2, 1e-3 * float(tf.reduce_sum(table * table)), rtol=1e-5
    )

    path = str(tmp_path / "classifier.keras")
    model.save(path)
    # Safe mode (the default): the scan passes the string, ragged and
    # lookup ops a text model runs in memory.
    restored = keras.saving.load_model(path)
    x = tf.constant(SENTENCES)
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
    assert restored.layers[1].arguments == dict(dropout_rate=0.0)


def test_frozen_embedding_unchanged_when_sequential_fit(flavour, text_dir):
    k = flavour.keras
    layer = flavour.KerasLayer(
        text_dir,
        output_key="pooled_output",
        output_shape=[TEXT_EMBEDDING_DIM],
        input_shape=[],
        dtype=tf.string,
    )
    model = k.Sequential([layer, k.layers.Dense(2)])
    model.compile(
        optimizer=k.optimizers.SGD(0.1),
        loss=k.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    table = layer.resolved_object.table
    before = table.numpy().copy()
    x = tf.constant(SENTENCES)
    # Keras 3 builds this Sequential (string input) on its first call.
    predicted = model.predict(x, verbose=0)
    assert predicted.shape == (6, 2), predicted.shape
    model.fit(_dataset(), epochs=2, verbose=0)
    np.testing.assert_array_equal(table.numpy(), before)
    assert not np.allclose(model.predict(x, verbose=0), predicted), "no fit"
