"""What the Keras 3 and the tf_keras `KerasLayer` do alike.

`SavedModelLayerMixin` goes before the framework's `Layer` base class. It
wraps the SavedModel (`_saved_model.wrap`), runs it with or without
`training`, and builds the layer's config and rebuilds the layer from it.
It imports neither Keras nor tf_keras, so each layer keeps only what its
framework needs: dtypes, variables, losses, output shapes and where its
framework keeps the safe-mode flag.

Safe mode: a config can come from an untrusted `.keras` file, and loading
a SavedModel runs its graphs. So `from_config`, while Keras's safe mode is
in effect (the default of `keras.saving.load_model`), has the handle's
SavedModel scanned by `imagehub.scan` before it is loaded, and refuses it
when the scan does (`_saved_model.refuse_if_unsafe`).
"""

from __future__ import annotations

import contextvars
import inspect
import os
from collections.abc import Mapping
from typing import Any

from imagehub.keras import _saved_model

# True while `from_config` builds a layer in safe mode: the constructor
# then scans the handle's SavedModel before loading it.
_SCAN_ON_LOAD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "imagehub_keras_scan_on_load", default=False
)


def load_options_config(options: Any) -> dict[str, Any] | None:
    """The fields of a `tf.saved_model.LoadOptions` as JSON values."""
    if options is None:
        return None
    out = {}
    for name in _load_option_names():
        value = getattr(options, name, None)
        # experimental_variable_policy is an Enum of strings (or None).
        out[name] = getattr(value, "value", value)
    return out


def load_options_from_config(config: Any) -> Any:
    """Rebuilds the `tf.saved_model.LoadOptions` `load_options_config` gave.

    Raises:
        ValueError: `config` is not a dict of LoadOptions fields.
    """
    import tensorflow as tf

    if config is None or isinstance(config, tf.saved_model.LoadOptions):
        return config
    names = _load_option_names()
    if not isinstance(config, Mapping):
        raise ValueError(
            f"load_options={config!r} in the layer's config: expected a "
            f"dict of tf.saved_model.LoadOptions fields {list(names)}"
        )
    unknown = sorted(set(config) - set(names))
    if unknown:
        raise ValueError(
            f"load_options={dict(config)!r} in the layer's config: "
            f"{unknown} not tf.saved_model.LoadOptions field(s) of this "
            f"TensorFlow; the fields are {list(names)}"
        )
    try:
        return tf.saved_model.LoadOptions(**config)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"load_options={dict(config)!r} in the layer's config: {e}"
        ) from e


def _load_option_names() -> tuple[str, ...]:
    import tensorflow as tf

    params = inspect.signature(tf.saved_model.LoadOptions).parameters
    return tuple(name for name in params if name != "self")


class SavedModelLayerMixin:
    """The framework-independent half of a `KerasLayer`."""

    _wrapped: _saved_model.Wrapped
    _handle: str | None
    _arguments: dict[str, Any]
    _signature: str | None
    _signature_outputs_as_dict: bool
    _output_key: str | None
    _output_shape_arg: Any
    _load_options: Any

    @classmethod
    def _keras_safe_mode(cls) -> bool | None:
        """The framework's safe-mode flag: True, False or None (unset)."""
        raise NotImplementedError

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
            scan=_SCAN_ON_LOAD.get(),
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
        self._load_options = load_options
        return wrapped

    @property
    def handle(self) -> str | None:
        """The handle the layer was built from, or None for an object."""
        return self._handle

    @property
    def model_card(self) -> Any:
        """The SavedModel's model card (SPEC M1), or None."""
        return self._wrapped.card

    @property
    def resolved_object(self) -> Any:
        """The object the handle was loaded into (or the one passed in)."""
        return self._wrapped.obj

    @property
    def arguments(self) -> dict[str, Any]:
        """The hyperparameter overrides passed to every call (a copy)."""
        return dict(self._arguments)

    @property
    def load_options(self) -> Any:
        """The `tf.saved_model.LoadOptions` the handle was loaded with."""
        return self._load_options

    @property
    def saved_model_regularization_losses(self) -> tuple[Any, ...]:
        """The SavedModel's `regularization_losses` (R7), zero-argument
        callables; the layer adds them to its losses while trainable."""
        return tuple(self._wrapped.regularization_losses)

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
            load_options=load_options_config(self._load_options),
        )

    @classmethod
    def from_config(
        cls, config: dict[str, Any], safe_mode: bool | None = None
    ) -> Any:
        """Builds the layer from what `get_config` returned.

        In safe mode the handle's SavedModel is scanned with
        `imagehub.scan` before it is loaded, and refused when the scan
        finds ops that touch files or the host or run Python.

        Args:
            config: The layer's config.
            safe_mode: Scan before loading (True) or not (False). By
                default, Keras's safe mode decides: on, unless the loading
                function got ``safe_mode=False`` or unsafe deserialization
                was enabled.

        Returns:
            The layer.

        Raises:
            ValueError: The scan refuses the SavedModel (the message names
                the handle and the findings), or the config does not fit
                the model.
        """
        config = dict(config)
        handle = config.pop("handle")
        if isinstance(handle, os.PathLike):
            handle = os.fspath(handle)
        if config.get("load_options") is not None:
            config["load_options"] = load_options_from_config(
                config["load_options"]
            )
        if safe_mode is None:
            safe_mode = cls._keras_safe_mode() is not False
        token = _SCAN_ON_LOAD.set(bool(safe_mode))
        try:
            return cls(handle, **config)
        finally:
            _SCAN_ON_LOAD.reset(token)
