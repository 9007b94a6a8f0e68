"""`KerasLayer` for code still on tf_keras (Keras 2).

Same arguments and behaviour as the Keras 3 layer in `_layer.py`. tf_keras
layers hold plain `tf.Variable` objects, so the SavedModel's variables are
added as they are (`add_weight` with a getter returning them), and its
regularization losses as callable losses that vanish while frozen.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

try:
    import tf_keras
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "imagehub.keras.tf_keras needs tf_keras: pip install tf-keras"
    ) from e

from imagehub.keras import _saved_model
from imagehub.keras import _tensors
from imagehub.keras._common import SavedModelLayerMixin


def _check_dtype(dtype: Any) -> Any:
    """As in the Keras 3 layer: float math in float32; a non-float dtype
    (``tf.string``) only says what the layer takes."""
    if dtype is None:
        return "float32"
    name = dtype.name if isinstance(dtype, tf.DType) else dtype
    policy = tf_keras.mixed_precision.Policy(
        name if isinstance(name, str) else name.name
    )
    compute = tf.as_dtype(policy.compute_dtype)
    if compute.is_floating and (
        compute != tf.float32 or policy.variable_dtype != "float32"
    ):
        raise ValueError(
            f"dtype={dtype!r}: KerasLayer runs the SavedModel's float math "
            "in float32; leave dtype unset, or pass 'float32' (or the dtype "
            "of non-float inputs, such as tf.string)"
        )
    return name


@tf_keras.saving.register_keras_serializable(package="imagehub")
class KerasLayer(SavedModelLayerMixin, tf_keras.layers.Layer):
    """Wraps a SavedModel as a tf_keras (Keras 2) layer, like
    `hub.KerasLayer`.

    Arguments and behaviour are those of `imagehub.KerasLayer`; see there.

    Args:
        handle: Anything `imagehub.load` accepts, or a loaded object.
        trainable: Fine-tune the SavedModel (SPEC K3).
        arguments: Keyword arguments for every call (K4).
        _sentinel: Keeps later arguments keyword-only; ignored.
        tags: The MetaGraph tags to load (leave None for TF2 models).
        signature: Call this signature instead of `__call__` (inference).
        signature_outputs_as_dict: Return the signature's output dict.
        output_key: Which output of a dict-returning call to return.
        output_shape: Output shape(s) without the batch dimension.
        load_options: A `tf.saved_model.LoadOptions` for loading `handle`.
        **kwargs: Passed to `tf_keras.layers.Layer`.

    Rebuilt from a config in safe mode, the layer scans its SavedModel
    with `imagehub.scan` first, as the Keras 3 layer does.
    """

    _layer_dtype = staticmethod(_check_dtype)
    _serialization_lib = "tf_keras.src.saving.serialization_lib"

    def _adopt_saved_model(self, wrapped: _saved_model.Wrapped) -> None:
        for variable in wrapped.variables:
            self.add_weight(
                name=_saved_model.variable_name(variable),
                shape=variable.shape,
                dtype=variable.dtype,
                trainable=id(variable) in wrapped.trainable_ids,
                experimental_autocast=False,
                getter=lambda *_, v=variable, **__: v,
            )
        for loss_fn in wrapped.regularization_losses:
            self.add_loss(self._loss_while_trainable(loss_fn))
        self.built = True

    def _loss_while_trainable(self, loss_fn: Any) -> Any:
        def loss() -> Any:
            # Frozen, the loss counts as 0, as hub.KerasLayer reports it.
            return loss_fn() if self.trainable else 0.0

        return loss

    def compute_output_shape(self, input_shape: Any) -> Any:
        info = self._wrapped.output_info
        if info is None:
            return super().compute_output_shape(input_shape)
        batch = _tensors.batch_size_of(input_shape)

        def shape(i: Any) -> Any:
            if i.shape is None:
                return tf.TensorShape(None)
            return tf.TensorShape([batch, *i.shape])

        return tf.nest.map_structure(shape, info)

    def get_config(self) -> dict[str, Any]:
        self._require_handle("to save the model")
        config: dict[str, Any] = super().get_config()
        config.update(self._saved_model_config(tuple))
        return config
