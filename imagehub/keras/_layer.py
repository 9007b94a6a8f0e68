"""`KerasLayer`: a reusable image SavedModel as a Keras 3 layer (SPEC K2-K4).

The SavedModel's own `tf.Variable` objects become the layer's weights:
`keras.Variable(v)` with the TensorFlow backend keeps `v` itself as its
value instead of copying it, so the restored functions, Keras's optimizer,
`model.summary()`, `.keras` files and `model.export()` all see the same
variables. The trainable ones are those the publisher lists in
`trainable_variables` (R6); the rest (batch-norm statistics, ...) are
non-trainable weights.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import tensorflow as tf

from imagehub.keras import _saved_model
from imagehub.keras import _tensors
from imagehub.keras._common import SavedModelLayerMixin

logger = logging.getLogger(__name__)

_FLOAT32 = "float32"


def _check_dtype(dtype: Any) -> Any:
    """The layer computes floats in float32 whatever the global policy
    says; a non-float dtype (``"string"``, ``"int32"``) only tells Keras
    what the layer takes, as with `hub.KerasLayer(..., dtype=tf.string)`."""
    if dtype is None:
        return _FLOAT32
    if isinstance(dtype, tf.DType):
        dtype = dtype.name
    policy = keras.dtype_policies.get(dtype)
    compute = policy.compute_dtype
    floating = compute.startswith(("float", "bfloat"))
    if floating and (compute != _FLOAT32 or policy.variable_dtype != _FLOAT32):
        raise ValueError(
            f"dtype={dtype!r}: KerasLayer runs the SavedModel's float "
            "math in float32 (its traces are float32); leave dtype unset, "
            "or pass 'float32' (or the dtype of non-float inputs, such as "
            "'string'). Under a mixed_float16 policy the layer takes and "
            "returns float32 and the layers around it still run in float16."
        )
    return dtype


@keras.saving.register_keras_serializable(package="imagehub")
class KerasLayer(SavedModelLayerMixin, keras.layers.Layer):
    """Wraps a SavedModel as a Keras 3 layer: a drop-in `hub.KerasLayer`.

    Takes the arguments of `tensorflow_hub.KerasLayer` with the same
    meaning and works in Keras 3 models: `keras.Sequential`, the
    functional API, subclassed models, `fit` / `predict` / `evaluate`,
    `.keras` files and `model.export()`. Any TF2 SavedModel works: image
    models (with imagehub's card, SPEC R, F, C), text models taking
    strings, models taking or returning dicts or lists.

    Args:
        handle: Anything `imagehub.load` accepts (a directory, a URL, a
            ``kaggle:`` handle, ...), or an object already loaded with
            `tf.saved_model.load`. Only a handle can be saved in a `.keras`
            file.
        trainable: Fine-tune the SavedModel (K3): its `trainable_variables`
            become trainable weights, its `regularization_losses` count in
            the model's losses, and `training` follows the model's
            training mode. When False the layer always calls the model with
            `training=False`, so batch-norm statistics never move, and each
            regularization loss counts as 0.
        arguments: Keyword arguments passed to every call (K4), such as
            ``dict(batch_norm_momentum=0.997)``. Checked at construction
            against the model card's `hparams`, or the traced `__call__`
            arguments when there is no card.
        _sentinel: Keeps the arguments after it keyword-only, as in
            `hub.KerasLayer`; ignored.
        tags: The MetaGraph tags to load (TF2 SavedModels have one set:
            leave None).
        signature: Call this named signature instead of `__call__`
            (inference only; needs `output_key` or
            `signature_outputs_as_dict=True`). Dict inputs feed the
            signature's inputs by name.
        signature_outputs_as_dict: Return the signature's whole output
            dict.
        output_key: Which output of a dict-returning call to return.
        output_shape: Output shape without the batch dimension, or a dict
            or list of them matching the outputs; overrides what the model
            card or the traces say and is set on every output.
        load_options: A `tf.saved_model.LoadOptions` for loading `handle`;
            saved in the layer's config.
        **kwargs: Passed to `keras.layers.Layer` (`name`, ...). `dtype`
            may name a non-float input dtype (``"string"``); float math
            runs in float32 under any policy.

    Raises:
        ValueError: An argument does not fit the model. The message names
            the argument, its value and the accepted ones.

    A layer rebuilt from a config (`keras.saving.load_model`, ...) in
    Keras's safe mode, the default, first has its SavedModel scanned by
    `imagehub.scan` and refuses one that touches files or the host or runs
    Python; pass ``safe_mode=False`` to load a file you trust.

    Example:
        ```python
        model = keras.Sequential([
            keras.Input((224, 224, 3)),
            imagehub.KerasLayer(handle, trainable=True),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(5),
        ])
        ```
    """

    _layer_dtype = staticmethod(_check_dtype)
    _serialization_lib = "keras.src.saving.serialization_lib"

    def _adopt_saved_model(self, wrapped: _saved_model.Wrapped) -> None:
        if not keras.backend.is_float_dtype(self.compute_dtype):
            # hub.KerasLayer(..., input_shape=[], dtype=tf.string) first in
            # a Sequential: Keras 3 would put a float32 Input before it;
            # without one, the model is built on its first call with this
            # layer's dtype.
            self._input_shape_arg = None
        for variable in wrapped.variables:
            self._track_variable(self._as_keras_variable(variable))
        # XLA is not known to compile every restored SavedModel; users can
        # still ask for it with compile(jit_compile=True).
        self.supports_jit = False
        # layer(10.) works with hub.KerasLayer: Python values become
        # tensors of the traced dtype in call().
        self._allow_non_tensor_positional_args = True
        self._build_at_init()

    def _as_keras_variable(self, variable: tf.Variable) -> keras.Variable:
        trainable = (
            id(variable) in self._wrapped.trainable_ids
            and variable.dtype.is_floating
        )
        wrapped = keras.Variable(
            variable,
            trainable=trainable,
            dtype=variable.dtype.name,
            name=_saved_model.variable_name(variable),
        )
        if wrapped.value is not variable:
            raise RuntimeError(
                f"keras {keras.__version__} copied the variable "
                f"{variable.name!r} instead of wrapping it, so fine-tuning "
                "would not reach the SavedModel; imagehub needs a Keras 3 "
                "release whose TensorFlow backend wraps tf.Variables "
                "(3.8 or later)"
            )
        return wrapped

    def _get_own_losses(self) -> list[Any]:
        # Keras 3 computes weight regularizers when `losses` is read, not
        # at call time; the SavedModel's losses are the same kind, so they
        # follow `trainable` at once, as in hub.KerasLayer (and fit's loss
        # includes them, read inside its gradient tape).
        own: list[Any] = super()._get_own_losses()
        return own + self._regularization_loss_values()

    def _output_spec_for(self, batch: Any, info: Any) -> Any:
        return tf.nest.map_structure(
            lambda i: keras.KerasTensor((batch, *i.shape), dtype=i.dtype),
            info,
        )

    def _known_output_info(self) -> Any:
        """The output info when every output's rank is known, else None."""
        info = self._wrapped.output_info
        if info is None:
            return None
        if any(i.shape is None for i in tf.nest.flatten(info)):
            return None
        return info

    def compute_output_spec(self, inputs: Any, training: Any = None) -> Any:
        self._check_trainability()
        info = self._known_output_info()
        if info is None:
            # Nothing traced says it: trace the call on placeholders.
            return super().compute_output_spec(inputs, training=training)
        first = tf.nest.flatten(inputs)[0]
        batch = first.shape[0] if len(first.shape) else None
        return self._output_spec_for(batch, info)

    def compute_output_shape(self, input_shape: Any) -> Any:
        info = self._known_output_info()
        if info is None:
            raise ValueError(
                f"The output shape of {self._handle or 'the model'} is not "
                "known without calling it; pass output_shape=(...) (a "
                "shape without the batch dimension, or a dict or list of "
                "them)"
            )
        batch = _tensors.batch_size_of(input_shape)
        return tf.nest.map_structure(lambda i: (batch, *i.shape), info)

    def get_config(self) -> dict[str, Any]:
        self._require_handle(
            "(imagehub.KerasLayer('/path/or/url', ...)) to save the model to "
            ".keras"
        )
        config: dict[str, Any] = super().get_config()
        config.update(self._saved_model_config(list))
        return config
