"""`KerasLayer` for code still on tf_keras (Keras 2).

Same arguments and behaviour as the Keras 3 layer in `_layer.py`. tf_keras
layers hold plain `tf.Variable` objects, so the SavedModel's variables are
added as they are (`add_weight` with a getter returning them), and its
regularization losses as callable losses that vanish while frozen.
"""

from __future__ import annotations

import os
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


@tf_keras.saving.register_keras_serializable(package="imagehub")
class KerasLayer(tf_keras.layers.Layer):
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
        if signature is not None and trainable:
            raise ValueError(
                f"trainable=True with signature={signature!r}: signatures "
                "are for inference only; leave signature unset to fine-tune"
            )
        wrapped = _saved_model.wrap(
            handle,
            signature=signature,
            output_key=output_key,
            signature_outputs_as_dict=signature_outputs_as_dict,
            arguments=arguments,
            output_shape=output_shape,
            load_options=load_options,
        )
        self._wrapped = wrapped
        self._loaded_obj = wrapped.obj
        self._handle = wrapped.handle
        self._arguments = dict(arguments or {})
        self._signature = signature
        self._signature_outputs_as_dict = bool(signature_outputs_as_dict)
        self._output_key = output_key
        self._output_shape_arg = output_shape
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

    def _loss_while_trainable(self, loss_fn: Any) -> Any:
        def loss() -> Any:
            # tf_keras drops callable losses that return None.
            return loss_fn() if self.trainable else None

        return loss

    @property
    def handle(self) -> str | None:
        return self._handle

    @property
    def model_card(self) -> Any:
        return self._wrapped.card

    def _run(self, images: tf.Tensor, training: bool) -> Any:
        wrapped = self._wrapped
        if wrapped.input_name is not None:
            outputs = wrapped.func(**{wrapped.input_name: images})
        elif wrapped.accepts_training:
            outputs = wrapped.func(images, training=training, **self._arguments)
        else:
            outputs = wrapped.func(images, **self._arguments)
        return _saved_model.pick_output(
            outputs, self._output_key, self._signature_outputs_as_dict
        )

    def call(self, inputs: Any, training: Any = None) -> Any:
        images = tf.cast(inputs, tf.float32)
        if not self.trainable or training is None:
            training = False
        if isinstance(training, bool) or not tf.is_tensor(training):
            return self._run(images, bool(training))
        return tf.cond(
            tf.cast(training, tf.bool),
            lambda: self._run(images, True),
            lambda: self._run(images, False),
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._wrapped.output_shape
        if shape is None:
            return super().compute_output_shape(input_shape)
        batch = tf.TensorShape(input_shape)[0]
        if isinstance(shape, Mapping):
            return {k: tf.TensorShape([batch, *s]) for k, s in shape.items()}
        return tf.TensorShape([batch, *shape])

    def get_config(self) -> dict[str, Any]:
        if self._handle is None:
            raise NotImplementedError(
                "This KerasLayer wraps an already loaded object, which "
                "cannot be serialised; build it from a handle string to "
                "save the model"
            )
        config = super().get_config()
        config.update(
            handle=self._handle,
            arguments=dict(self._arguments) or None,
            signature=self._signature,
            signature_outputs_as_dict=self._signature_outputs_as_dict or None,
            output_key=self._output_key,
            output_shape=self._output_shape_arg,
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasLayer:
        config = dict(config)
        handle = config.pop("handle")
        if isinstance(handle, os.PathLike):
            handle = os.fspath(handle)
        return cls(handle, **config)
