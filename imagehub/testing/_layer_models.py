"""Tiny non-image SavedModels for the `KerasLayer` tests.

Each writer saves one of the shapes of SavedModel that users load through
`hub.KerasLayer`: a reusable model with trainable and frozen variables and a
regularization loss, batch normalization, hyperparameters, string inputs,
dict inputs and outputs, outputs whose shapes tracing cannot tell, bare
signatures, and a small text embedding. Most come in two flavours:
written by hand from `tf.Variable` objects (``from_keras=False``), or
saved from a tf_keras (Keras 2) model with `tf.saved_model.save`, the way
most TF Hub models were published (``from_keras=True``; needs tf-keras).

Every writer takes the target directory (which must not exist yet) and
returns it as a string. The numbers are chosen so tests can assert exact
results: the half-plus-one model computes ``x * 0.5 + 1`` and its
regularization loss is ``0.01 * 0.5**2 = 0.0025``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

HALF_PLUS_ONE_L2 = 0.01
TEXT_EMBEDDING_DIM = 4
TEXT_EMBEDDING_BUCKETS = 32


def _tf_keras() -> Any:
    try:
        import tf_keras
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "from_keras=True saves a tf_keras (Keras 2) model: "
            "pip install --no-deps tf-keras"
        ) from e
    return tf_keras


def _module() -> Any:
    import tensorflow as tf

    # AutoTrackable, not tf.Module: tf.Module's read-only `variables`
    # property would shadow the attribute lists a reusable model saves.
    return tf.__internal__.tracking.AutoTrackable()


def _constant_loss(fn: Any) -> Any:
    import tensorflow as tf

    return tf.function(fn, input_signature=[])


def write_half_plus_one_model(
    path: str | os.PathLike[str], *, from_keras: bool = False
) -> str:
    """``y = x * w * k + b`` with w = 0.5 trainable, k = b = 1 frozen.

    Input float32 ``[batch, 1]``. Variables: w, k, b (in that order);
    trainable: w only. One regularization loss, ``0.01 * w**2`` (0.0025).
    """
    import tensorflow as tf

    path = os.fspath(path)
    if from_keras:
        k = _tf_keras()
        inputs = k.Input((1,), dtype="float32")
        times_w = k.layers.Dense(
            1,
            use_bias=False,
            kernel_initializer=k.initializers.Constant([[0.5]]),
            kernel_regularizer=k.regularizers.l2(HALF_PLUS_ONE_L2),
        )
        plus_one = k.layers.Dense(
            1,
            kernel_initializer=k.initializers.Constant([[1.0]]),
            bias_initializer=k.initializers.Constant([1.0]),
            trainable=False,
        )
        tf.saved_model.save(k.Model(inputs, plus_one(times_w(inputs))), path)
        return path

    obj = _module()
    w = tf.Variable([[0.5]], name="times_w/kernel")
    kernel = tf.Variable([[1.0]], trainable=False, name="plus_one/kernel")
    bias = tf.Variable([1.0], trainable=False, name="plus_one/bias")
    obj.__call__ = tf.function(
        lambda x: tf.matmul(tf.matmul(x, w), kernel) + bias,
        input_signature=[tf.TensorSpec([None, 1], tf.float32)],
    )
    obj.variables = [w, kernel, bias]
    obj.trainable_variables = [w]
    obj.regularization_losses = [
        _constant_loss(lambda: HALF_PLUS_ONE_L2 * tf.reduce_sum(w * w))
    ]
    tf.saved_model.save(obj, path)
    return path


def write_batch_norm_model(
    path: str | os.PathLike[str], *, from_keras: bool = False
) -> str:
    """Batch normalization of float32 ``[batch, 1]`` inputs, momentum 0.8.

    Variables beta (0), gamma (1), moving_mean (0), moving_variance (1);
    `__call__` takes ``training``: True normalizes with the batch's
    statistics and updates the moving ones.
    """
    import tensorflow as tf

    path = os.fspath(path)
    if from_keras:
        k = _tf_keras()
        inputs = k.Input((1,), dtype="float32")
        bn = k.layers.BatchNormalization(momentum=0.8)
        tf.saved_model.save(k.Model(inputs, bn(inputs)), path)
        return path

    obj = _module()
    beta = tf.Variable([0.0], name="bn/beta")
    gamma = tf.Variable([1.0], name="bn/gamma")
    mean = tf.Variable([0.0], trainable=False, name="bn/moving_mean")
    variance = tf.Variable([1.0], trainable=False, name="bn/moving_variance")

    @tf.function
    def call(x, training=False):
        if training:
            batch_mean, batch_variance = tf.nn.moments(x, axes=[0])
            mean.assign(mean * 0.8 + batch_mean * 0.2)
            variance.assign(variance * 0.8 + batch_variance * 0.2)
        else:
            batch_mean, batch_variance = mean, variance
        return tf.nn.batch_normalization(
            x, batch_mean, batch_variance, beta, gamma, 1e-3
        )

    for training in (False, True):
        call.get_concrete_function(
            tf.TensorSpec([None, 1], tf.float32), training=training
        )
    obj.__call__ = call
    obj.variables = [beta, gamma, mean, variance]
    obj.trainable_variables = [beta, gamma]
    obj.regularization_losses = []
    tf.saved_model.save(obj, path)
    return path


def write_hparams_model(path: str | os.PathLike[str]) -> str:
    """``y = a * x + b`` with hyperparameters a (default 1) and b (0).

    No variables at all.
    """
    import tensorflow as tf

    obj = _module()
    obj.__call__ = tf.function(
        lambda x, a=1.0, b=0.0: a * x + b,
        input_signature=[
            tf.TensorSpec([None, 1], tf.float32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.float32),
        ],
    )
    tf.saved_model.save(obj, os.fspath(path))
    return os.fspath(path)


def write_custom_attributes_model(
    path: str | os.PathLike[str], *, from_keras: bool = False
) -> str:
    """Parses string ``[batch, 1]`` inputs to int64, with extra attributes.

    `sample_input` is an Asset holding ``"12345"``; `sample_output` an int64
    variable holding ``[[12345]]``, what the model returns for it.
    """
    import tensorflow as tf

    path = os.fspath(path)

    def parse(text):
        return tf.strings.to_number(text, tf.int64)

    if from_keras:
        k = _tf_keras()
        inputs = k.Input((1,), dtype="string")
        obj = k.Model(inputs, k.layers.Lambda(parse)(inputs))
    else:
        obj = _module()
        obj.__call__ = tf.function(
            parse, input_signature=[tf.TensorSpec([None, 1], tf.string)]
        )
    scratch = tempfile.mkdtemp(prefix="imagehub-asset-")
    try:
        sample = os.path.join(scratch, "number.txt")
        with open(sample, "w", encoding="utf-8") as f:
            f.write("12345")
        obj.sample_input = tf.saved_model.Asset(sample)
        obj.sample_output = tf.Variable(
            [[12345]], dtype=tf.int64, trainable=False
        )
        tf.saved_model.save(obj, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def write_dict_io_model(path: str | os.PathLike[str]) -> str:
    """Takes ``{"x": [batch, 1], "y": [batch, 1]}`` (float32).

    Returns ``sigma = [x + y, x + 2y]`` (``[batch, 2]``), or with the
    argument ``return_dict=True`` the dict ``{"sigma": ..., "delta": x - y}``.
    """
    import tensorflow as tf

    @tf.function
    def call(d, return_dict=False):
        x, y = d["x"], d["y"]
        sigma = tf.concat([x + y, x + 2.0 * y], axis=-1)
        if return_dict:
            return {"sigma": sigma, "delta": x - y}
        return sigma

    spec = {
        "x": tf.TensorSpec([None, 1], tf.float32),
        "y": tf.TensorSpec([None, 1], tf.float32),
    }
    for return_dict in (False, True):
        call.get_concrete_function(spec, return_dict=return_dict)
    obj = _module()
    obj.__call__ = call
    tf.saved_model.save(obj, os.fspath(path))
    return os.fspath(path)


def write_list_output_model(path: str | os.PathLike[str]) -> str:
    """Returns a list of 3 outputs whose shapes tracing cannot infer.

    For x of shape ``[batch, 1]``: ``x`` as ``[batch, 1]``, ``2x`` as
    ``[batch, 2, 2]`` and ``3x`` as ``[batch, 3, 3, 3]``; the target shapes
    pass through a float round trip, so the traced shapes are unknown.
    """
    import tensorflow as tf

    def opaque_broadcast(t, dims):
        # The rounding hides the dims from static shape inference.
        noisy = tf.cast(dims, tf.float32) + 0.1 * tf.sin(tf.reduce_sum(t) * 0.0)
        return tf.broadcast_to(t, tf.cast(tf.round(noisy), tf.int32))

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32)])
    def call(x):
        batch = tf.shape(x)[:1]
        outputs = []
        for i in (1, 2, 3):
            t = tf.reshape(float(i) * x, tf.concat([batch, [1] * i], 0))
            outputs.append(opaque_broadcast(t, tf.concat([batch, [i] * i], 0)))
        return outputs

    obj = _module()
    obj.__call__ = call
    tf.saved_model.save(obj, os.fspath(path))
    return os.fspath(path)


def write_plus_one_model(
    path: str | os.PathLike[str], *, keras_default_call: bool = False
) -> str:
    """``x + 1`` on float32 tensors of any shape (a scalar works).

    Plain: `__call__` and the `serving_default` signature (output key
    ``output_0``) compute it. With ``keras_default_call``, `__call__` is
    what Keras saves by default (``(x, training=False)``, the identity when
    not training) and ``x + 1`` is only the signature `plus_one`.
    """
    import tensorflow as tf

    obj = _module()
    plus_one = tf.function(
        lambda x: x + 1.0,
        input_signature=[tf.TensorSpec(None, tf.float32)],
    )
    if not keras_default_call:
        obj.__call__ = plus_one
        tf.saved_model.save(obj, os.fspath(path))
        return os.fspath(path)

    @tf.function(
        input_signature=[
            tf.TensorSpec(None, tf.float32),
            tf.TensorSpec([], tf.bool),
        ]
    )
    def keras_default(x, training=False):
        return tf.cond(training, lambda: x + 1.0, lambda: tf.identity(x))

    obj.__call__ = keras_default
    obj.plus_one = plus_one
    tf.saved_model.save(obj, os.fspath(path), signatures={"plus_one": plus_one})
    return os.fspath(path)


def write_string_length_model(
    path: str | os.PathLike[str], *, from_keras: bool = False
) -> str:
    """``y = length(text) * [0.1, 0.3]``: string ``[batch, 1]`` to float32
    ``[batch, 2]``, with a trainable kernel and an L2 loss (0.01)."""
    import tensorflow as tf

    path = os.fspath(path)
    if from_keras:
        k = _tf_keras()
        inputs = k.Input((1,), dtype="string")
        lengths = k.layers.Lambda(
            lambda t: tf.cast(tf.strings.length(t), tf.float32)
        )(inputs)
        dense = k.layers.Dense(
            2,
            use_bias=False,
            kernel_initializer=k.initializers.Constant([[0.1, 0.3]]),
            kernel_regularizer=k.regularizers.l2(0.01),
        )
        tf.saved_model.save(k.Model(inputs, dense(lengths)), path)
        return path

    obj = _module()
    kernel = tf.Variable([[0.1, 0.3]], name="times_w/kernel")
    obj.__call__ = tf.function(
        lambda t: tf.matmul(tf.cast(tf.strings.length(t), tf.float32), kernel),
        input_signature=[tf.TensorSpec([None, 1], tf.string)],
    )
    obj.variables = [kernel]
    obj.trainable_variables = [kernel]
    obj.regularization_losses = [
        _constant_loss(lambda: 0.01 * tf.reduce_sum(kernel * kernel))
    ]
    tf.saved_model.save(obj, path)
    return path


def write_text_embedding_model(
    path: str | os.PathLike[str], seed: int = 0
) -> str:
    """A small text embedding in the style of TF Hub's text encoders.

    `__call__(sentences, training=False)` takes a string ``[batch]`` tensor,
    splits each sentence on whitespace, hashes each lower-cased token into
    one of 32 buckets and looks it up in a trainable ``[32, 4]`` table.
    It returns the dict ``{"pooled_output": [batch, 4] (mean of the
    tokens), "sequence_output": [batch, tokens, 4] (zero-padded)}``. With
    ``training=True`` a dropout of rate `dropout_rate` (a hyperparameter,
    default 0.1) applies to the token embeddings. One regularization loss
    (L2, 1e-3 on the table). Signature `serving_default` returns the same
    dict.
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    table = tf.Variable(
        rng.normal(
            0.0, 1.0, (TEXT_EMBEDDING_BUCKETS, TEXT_EMBEDDING_DIM)
        ).astype(np.float32),
        name="embeddings/table",
    )

    def encode(sentences, training, dropout_rate):
        tokens = tf.strings.split(tf.strings.lower(sentences))
        ids = tf.strings.to_hash_bucket_fast(tokens, TEXT_EMBEDDING_BUCKETS)
        vectors = tf.ragged.map_flat_values(tf.gather, table, ids)
        if training:
            vectors = tf.ragged.map_flat_values(
                tf.nn.dropout, vectors, rate=dropout_rate
            )
        return {
            "pooled_output": tf.reduce_mean(vectors, axis=1),
            "sequence_output": vectors.to_tensor(
                shape=[None, None, TEXT_EMBEDDING_DIM]
            ),
        }

    @tf.function
    def call(sentences, training=False, dropout_rate=0.1):
        return encode(sentences, training, dropout_rate)

    text = tf.TensorSpec([None], tf.string)
    for training in (False, True):
        call.get_concrete_function(text, training=training)
        call.get_concrete_function(
            text,
            training=training,
            dropout_rate=tf.TensorSpec([], tf.float32),
        )
    obj = _module()
    obj.__call__ = call
    obj.table = table
    obj.variables = [table]
    obj.trainable_variables = [table]
    obj.regularization_losses = [
        _constant_loss(lambda: 1e-3 * tf.reduce_sum(table * table))
    ]
    serving = tf.function(
        lambda sentences: encode(sentences, False, 0.0),
        input_signature=[tf.TensorSpec([None], tf.string, name="sentences")],
    )
    tf.saved_model.save(
        obj, os.fspath(path), signatures={"serving_default": serving}
    )
    return os.fspath(path)


def write_keras_default_model(path: str | os.PathLike[str]) -> str:
    """A Keras 3 model saved with `tf.saved_model.save`: no `__call__`,
    only the `serving_default` signature Keras adds (input ``inputs``,
    float32 ``[batch, 2]``; output ``output_0``, ``[batch, 3]``, the sum
    of the inputs times ``[1, 2, 3]``)."""
    import keras
    import tensorflow as tf

    inputs = keras.Input((2,), name="inputs")
    dense = keras.layers.Dense(
        3,
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(
            [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
        ),
    )
    tf.saved_model.save(keras.Model(inputs, dense(inputs)), os.fspath(path))
    return os.fspath(path)
