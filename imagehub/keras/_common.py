"""What the Keras 3 and the tf_keras `KerasLayer` do alike.

`SavedModelLayerMixin` goes before the framework's `Layer` base class. It
wraps the SavedModel (`_saved_model.wrap`), runs it with or without
`training`, and builds the layer's config. It imports neither Keras nor
tf_keras, so each layer keeps only what its framework needs: dtypes,
variables, losses and output shapes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from imagehub.keras import _saved_model


class SavedModelLayerMixin:
    """The framework-independent half of a `KerasLayer`."""

    _wrapped: _saved_model.Wrapped
    _handle: str | None
    _arguments: dict[str, Any]
    _signature: str | None
    _signature_outputs_as_dict: bool
    _output_key: str | None
    _output_shape_arg: Any

    def _wrap_saved_model(
        self,
        handle: Any,
        trainable: bool,
        arguments: Mapping[str, Any] | None,
        signature: str | None,
        signature_outputs_as_dict: bool | None,
        output_key: str | None,
        output_shape: Any,
        load_options: Any,
    ) -> _saved_model.Wrapped:
        """Loads `handle` and keeps the layer's arguments; call it once."""
        if signature is not None and trainable:
            raise ValueError(
                f"trainable=True with signature={signature!r}: signatures "
                "are for inference only; fine-tune through __call__ "
                "(leave signature unset)"
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
        # Tracked as a TensorFlow dependency so model.export() and
        # tf.saved_model.save() carry the SavedModel's functions and assets.
        self._loaded_obj = wrapped.obj
        self._handle = wrapped.handle
        self._arguments = dict(arguments or {})
        self._signature = signature
        self._signature_outputs_as_dict = bool(signature_outputs_as_dict)
        self._output_key = output_key
        self._output_shape_arg = output_shape
        return wrapped

    @property
    def handle(self) -> str | None:
        """The handle the layer was built from, or None for an object."""
        return self._handle

    @property
    def model_card(self) -> Any:
        """The SavedModel's model card (SPEC M1), or None."""
        return self._wrapped.card

    def _run(self, images: Any, training: bool) -> Any:
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

    def _run_saved_model(self, inputs: Any, training: Any) -> Any:
        """Runs the model on `inputs` in float32 (K3: frozen => inference)."""
        import tensorflow as tf

        images = tf.cast(inputs, tf.float32)
        if not self.trainable or training is None:  # type: ignore[attr-defined]
            training = False
        if isinstance(training, bool) or not tf.is_tensor(training):
            return self._run(images, bool(training))
        return tf.cond(
            tf.cast(training, tf.bool),
            lambda: self._run(images, True),
            lambda: self._run(images, False),
        )

    def _require_handle(self, how: str) -> None:
        if self._handle is None:
            raise NotImplementedError(
                "This KerasLayer wraps an already loaded object, which "
                "cannot be serialised; build it from a handle string "
                f"{how}"
            )

    def _saved_model_config(self, output_shape: Any) -> dict[str, Any]:
        """The layer's own config entries, `output_shape` as given."""
        return dict(
            handle=self._handle,
            arguments=dict(self._arguments) or None,
            signature=self._signature,
            signature_outputs_as_dict=self._signature_outputs_as_dict or None,
            output_key=self._output_key,
            output_shape=output_shape,
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        config = dict(config)
        handle = config.pop("handle")
        if isinstance(handle, os.PathLike):
            handle = os.fspath(handle)
        return cls(handle, **config)
