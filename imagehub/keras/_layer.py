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
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from imagehub.keras import _saved_model
from imagehub.keras._common import SavedModelLayerMixin

logger = logging.getLogger(__name__)

_FLOAT32 = "float32"


def _check_dtype(dtype: Any) -> Any:
    """The layer computes in float32 whatever the global policy says."""
    if dtype is None:
        return _FLOAT32
    policy = keras.dtype_policies.get(dtype)
    if policy.compute_dtype != _FLOAT32 or policy.variable_dtype != _FLOAT32:
        raise ValueError(
            f"dtype={dtype!r}: KerasLayer runs the SavedModel in float32 "
            "(its traces are float32); leave dtype unset or pass "
            "'float32'. Under a mixed_float16 policy the layer takes and "
            "returns float32 and the layers around it still run in float16."
        )
    return dtype


@keras.saving.register_keras_serializable(package="imagehub")
class KerasLayer(SavedModelLayerMixin, keras.layers.Layer):
    """Wraps a reusable image SavedModel (SPEC R, F, C) as a Keras 3 layer.

    A drop-in replacement for `tensorflow_hub.KerasLayer` that works in
    Keras 3 models: `keras.Sequential`, the functional API, subclassed
    models, `fit` / `predict` / `evaluate`, `.keras` files and
    `model.export()`.

    Args:
        handle: Anything `imagehub.load` accepts (a directory, a URL, a
            ``kaggle:`` handle, ...), or an object already loaded with
            `tf.saved_model.load`. Only a handle can be saved in a `.keras`
            file.
        trainable: Fine-tune the SavedModel (K3): its `trainable_variables`
            become trainable weights, its `regularization_losses` are added
            to the model's losses, and `training` follows the model's
            training mode. When False the layer always calls the model with
            `training=False`, so batch-norm statistics never move.
        arguments: Hyperparameter overrides passed to every call (K4), such
            as ``dict(batch_norm_momentum=0.997)``. Checked at construction
            against the model card's `hparams`, or the traced `__call__`
            arguments when there is no card.
        signature: Call this named signature instead of `__call__`
            (inference only; needs `output_key` or
            `signature_outputs_as_dict=True`).
        signature_outputs_as_dict: Return the signature's whole output
            dict.
        output_key: Which output of a dict-returning call to return.
        output_shape: Output shape without the batch dimension, overriding
            what the model card or the traced outputs say.
        load_options: A `tf.saved_model.LoadOptions` for loading `handle`;
            saved in the layer's config.
        **kwargs: Passed to `keras.layers.Layer` (`name`, ...).

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

    def __init__(
        self,
        handle: Any,
        trainable: bool = False,
        arguments: Mapping[str, Any] | None = None,
        signature: str | None = None,
        signature_outputs_as_dict: bool | None = None,
        output_key: str | None = None,
        output_shape: Any = None,
        load_options: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs["dtype"] = _check_dtype(kwargs.get("dtype"))
        super().__init__(trainable=bool(trainable), **kwargs)
        wrapped = self._wrap_saved_model(
            handle,
            trainable,
            arguments,
            signature,
            signature_outputs_as_dict,
            output_key,
            output_shape,
            load_options,
        )
        for variable in wrapped.variables:
            self._track_variable(self._as_keras_variable(variable))
        # XLA is not known to compile every restored SavedModel; users can
        # still ask for it with compile(jit_compile=True).
        self.supports_jit = False
        self._build_at_init()

    def _as_keras_variable(self, variable: tf.Variable) -> keras.Variable:
        wrapped = keras.Variable(
            variable,
            trainable=id(variable) in self._wrapped.trainable_ids,
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

    @classmethod
    def _keras_safe_mode(cls) -> bool | None:
        try:
            from keras.src.saving import serialization_lib
        except ImportError:  # pragma: no cover - Keras moved it
            return None
        return serialization_lib.in_safe_mode()

    def call(self, inputs: Any, training: Any = None) -> Any:
        outputs = self._run_saved_model(inputs, training)
        if self.trainable:
            for loss_fn in self.saved_model_regularization_losses:
                self.add_loss(loss_fn())
        return outputs

    def _output_spec_for(self, batch: Any, shape: Any) -> Any:
        if isinstance(shape, Mapping):
            return {
                k: self._output_spec_for(batch, s) for k, s in shape.items()
            }
        return keras.KerasTensor((batch, *shape), dtype=_FLOAT32)

    def compute_output_spec(self, inputs: Any, training: Any = None) -> Any:
        shape = self._wrapped.output_shape
        if shape is None:
            # Nothing traced says it: trace the call on placeholders.
            return super().compute_output_spec(inputs, training=training)
        return self._output_spec_for(inputs.shape[0], shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._wrapped.output_shape
        if shape is None:
            raise ValueError(
                f"The output shape of {self._handle or 'the model'} is not "
                "known without calling it; pass output_shape=(...)"
            )
        batch = input_shape[0]
        if isinstance(shape, Mapping):
            return {k: (batch, *s) for k, s in shape.items()}
        return (batch, *shape)

    def get_config(self) -> dict[str, Any]:
        self._require_handle(
            "(imagehub.KerasLayer('/path/or/url', ...)) to save the model to "
            ".keras"
        )
        config = super().get_config()
        config.update(self._saved_model_config(_plain(self._output_shape_arg)))
        return config


def _plain(shape: Any) -> Any:
    if shape is None:
        return None
    if isinstance(shape, Mapping):
        return {k: _plain(v) for k, v in shape.items()}
    if isinstance(shape, int):
        return [shape]
    return list(shape)
