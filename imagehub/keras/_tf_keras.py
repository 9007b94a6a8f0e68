"""`KerasLayer` for code still on tf_keras (Keras 2).

Same arguments and behaviour as the Keras 3 layer in `_layer.py`. tf_keras
layers hold plain `tf.Variable` objects, so the SavedModel's variables are
added as they are (`add_weight` with a getter returning them), and its
regularization losses as callable losses that vanish while frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

try:
    import tf_keras
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "imagehub.keras.tf_keras needs tf_keras: pip install tf-keras"
    ) from e

from imagehub.keras import _saved_model
from imagehub.keras._common import SavedModelLayerMixin


@tf_keras.saving.register_keras_serializable(package="imagehub")
class KerasLayer(SavedModelLayerMixin, tf_keras.layers.Layer):
    """Wraps a reusable image SavedModel as a tf_keras (Keras 2) layer.

    Arguments and behaviour are those of `imagehub.KerasLayer`; see there.

    Args:
        handle: Anything `imagehub.load` accepts, or a loaded object.
        trainable: Fine-tune the SavedModel (SPEC K3).
        arguments: Hyperparameter overrides for every call (K4).
        signature: Call this signature instead of `__call__` (inference).
        signature_outputs_as_dict: Return the signature's output dict.
        output_key: Which output of a dict-returning call to return.
        output_shape: Output shape without the batch dimension.
        load_options: A `tf.saved_model.LoadOptions` for loading `handle`.
        **kwargs: Passed to `tf_keras.layers.Layer`.

    Rebuilt from a config in safe mode, the layer scans its SavedModel
    with `imagehub.scan` first, as the Keras 3 layer does.
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
        dtype = kwargs.pop("dtype", None) or "float32"
        if tf_keras.mixed_precision.Policy(
            dtype if isinstance(dtype, str) else dtype.name
        ).compute_dtype != ("float32"):
            raise ValueError(
                f"dtype={dtype!r}: KerasLayer runs the SavedModel in "
                "float32; leave dtype unset or pass 'float32'"
            )
        super().__init__(trainable=bool(trainable), dtype=dtype, **kwargs)
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
            self.add_weight(
                name=_saved_model.variable_name(variable),
                shape=variable.shape,
                dtype=variable.dtype,
                trainable=id(variable) in wrapped.trainable_ids,
                getter=lambda *_, v=variable, **__: v,
            )
        for loss_fn in wrapped.regularization_losses:
            self.add_loss(self._loss_while_trainable(loss_fn))
        self.built = True

    @classmethod
    def _keras_safe_mode(cls) -> bool | None:
        try:
            from tf_keras.src.saving import serialization_lib
        except ImportError:  # pragma: no cover - tf_keras moved it
            return None
        return serialization_lib.in_safe_mode()

    def _loss_while_trainable(self, loss_fn: Any) -> Any:
        def loss() -> Any:
            # tf_keras drops callable losses that return None.
            return loss_fn() if self.trainable else None

        return loss

    def call(self, inputs: Any, training: Any = None) -> Any:
        return self._run_saved_model(inputs, training)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._wrapped.output_shape
        if shape is None:
            return super().compute_output_shape(input_shape)
        batch = tf.TensorShape(input_shape)[0]
        if isinstance(shape, Mapping):
            return {k: tf.TensorShape([batch, *s]) for k, s in shape.items()}
        return tf.TensorShape([batch, *shape])

    def get_config(self) -> dict[str, Any]:
        self._require_handle("to save the model")
        config = super().get_config()
        config.update(self._saved_model_config(self._output_shape_arg))
        return config
