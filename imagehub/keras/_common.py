"""What the Keras 3 and the tf_keras `KerasLayer` do alike.

`SavedModelLayerMixin` goes before the framework's `Layer` base class. It
wraps the SavedModel (`_saved_model.wrap`), runs it with or without
`training`, and builds the layer's config and rebuilds the layer from it.
It also holds the constructor both layers share (the `hub.KerasLayer`
arguments). It imports neither Keras nor tf_keras, so each layer keeps only
what its framework needs: dtypes, variables, losses, output shapes and the
module where its framework keeps the safe-mode flag.

Safe mode: a config can come from an untrusted `.keras` file, and loading
a SavedModel runs its graphs. So `from_config`, while Keras's safe mode is
in effect (the default of `keras.saving.load_model`), has the handle's
SavedModel scanned by `imagehub.scan` before it is loaded, and refuses it
when the scan does (`_saved_model.refuse_if_unsafe`).
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import logging
import os
from collections.abc import Mapping
from typing import Any

from imagehub.keras import _saved_model
from imagehub.keras import _tensors

logger = logging.getLogger(__name__)

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
    _tags: Any
    _signature: str | None
    _signature_outputs_as_dict: bool
    _output_key: str | None
    _load_options: Any
    _logged_no_trainable_weights: bool = False
    # The framework's module that knows whether safe mode is in effect.
    _serialization_lib: str

    def __init__(
        self,
        handle: Any,
        trainable: bool = False,
        arguments: Mapping[str, Any] | None = None,
        _sentinel: Any = None,
        tags: Any = None,
        signature: str | None = None,
        signature_outputs_as_dict: bool | None = None,
        output_key: str | None = None,
        output_shape: Any = None,
        load_options: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs["dtype"] = self._layer_dtype(kwargs.get("dtype"))
        super().__init__(  # type: ignore[call-arg]
            trainable=bool(trainable), **kwargs
        )
        wrapped = _saved_model.wrap(
            handle,
            tags=tags,
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
        self._tags = tags
        self._signature = signature
        self._signature_outputs_as_dict = bool(signature_outputs_as_dict)
        self._output_key = output_key
        self._load_options = load_options
        self._adopt_saved_model(wrapped)

    @staticmethod
    def _layer_dtype(dtype: Any) -> Any:
        """The dtype passed to the framework's `Layer` for `dtype`."""
        raise NotImplementedError

    def _adopt_saved_model(self, wrapped: _saved_model.Wrapped) -> None:
        """Makes the SavedModel's variables and losses the layer's own."""
        raise NotImplementedError

    @classmethod
    def _keras_safe_mode(cls) -> bool | None:
        """The framework's safe-mode flag: True, False or None (unset)."""
        try:
            lib = importlib.import_module(cls._serialization_lib)
        except ImportError:  # pragma: no cover - the framework moved it
            return None
        safe: bool | None = lib.in_safe_mode()
        return safe

    def call(self, inputs: Any, training: Any = None) -> Any:
        return self._run_saved_model(inputs, training)

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

    def _regularization_loss_values(self) -> list[Any]:
        """One scalar per SavedModel loss: its value while trainable, 0.0
        while frozen (as `hub.KerasLayer` reports them)."""
        import tensorflow as tf

        if self.trainable:  # type: ignore[attr-defined]
            return [loss() for loss in self._wrapped.regularization_losses]
        return [tf.constant(0.0) for _ in self._wrapped.regularization_losses]

    def _check_trainability(self) -> None:
        """Refuses training through a signature; logs (once) a trainable
        layer with nothing to train. Checked at each call, since
        `trainable` can change after construction."""
        if not self.trainable:  # type: ignore[attr-defined]
            return
        if self._signature is not None:
            raise ValueError(
                f"trainable=True with signature={self._signature!r}: "
                "signatures are for inference only; set trainable=False, "
                "or fine-tune through __call__ (leave signature unset)"
            )
        if not self._wrapped.trainable_ids and not (
            self._logged_no_trainable_weights
        ):
            self._logged_no_trainable_weights = True
            logger.error(
                "KerasLayer %s is trainable but has zero trainable weights: "
                "its SavedModel lists no trainable_variables",
                self._handle or type(self._wrapped.obj).__name__,
            )

    def _run(self, inputs: Any, training: bool) -> Any:
        wrapped = self._wrapped
        if wrapped.signature is not None:
            return wrapped.func(**self._signature_inputs(inputs))
        if wrapped.accepts_training:
            return wrapped.func(inputs, training=training, **self._arguments)
        return wrapped.func(inputs, **self._arguments)

    def _signature_inputs(self, inputs: Any) -> dict[str, Any]:
        feeds = dict(self._arguments)
        if isinstance(inputs, Mapping):
            feeds.update(inputs)
            return feeds
        free = [n for n in self._wrapped.input_names if n not in feeds]
        if len(free) != 1:
            raise ValueError(
                f"signature={self._signature!r} takes the inputs "
                f"{list(self._wrapped.input_names)}; call the layer with a "
                "dict of them (or give all but one in arguments=)"
            )
        feeds[free[0]] = inputs
        return feeds

    def _run_saved_model(self, inputs: Any, training: Any) -> Any:
        """Runs the model (K3: frozen => inference) and picks the output."""
        import tensorflow as tf

        self._check_trainability()
        inputs = _tensors.prepare_inputs(
            inputs,
            self._wrapped.input_info,
            image_model=self._wrapped.is_image_model,
        )
        if not self.trainable or training is None:  # type: ignore[attr-defined]
            training = False
        if isinstance(training, bool) or not tf.is_tensor(training):
            outputs = self._run(inputs, bool(training))
        else:
            outputs = tf.cond(
                tf.cast(training, tf.bool),
                lambda: self._run(inputs, True),
                lambda: self._run(inputs, False),
            )
        outputs = _tensors.pick_output(
            outputs, self._output_key, self._signature_outputs_as_dict
        )
        shape = self._wrapped.output_shape
        if shape is not None:
            first = tf.nest.flatten(inputs)[0]
            batch = first.shape[0] if first.shape.rank else None
            outputs = _tensors.set_output_shape(outputs, shape, batch)
        return outputs

    def _require_handle(self, how: str) -> None:
        if self._handle is None:
            raise NotImplementedError(
                "This KerasLayer wraps an already loaded object, which "
                "cannot be serialised; build it from a handle string "
                f"{how}"
            )

    def _saved_model_config(self, sequence: type) -> dict[str, Any]:
        """The layer's own config entries: those `hub.KerasLayer` writes
        (only the ones set), plus `tags` and `load_options` when given.

        Args:
            sequence: What shapes in `output_shape` are written as.
        """
        config: dict[str, Any] = {"handle": self._handle}
        shape = self._wrapped.output_shape
        if shape is not None:
            config["output_shape"] = _tensors.output_shape_config(
                shape, sequence
            )
        if self._arguments:
            config["arguments"] = dict(self._arguments)
        if self._signature:
            config["signature"] = self._signature
        if self._output_key:
            config["output_key"] = self._output_key
        if self._signature_outputs_as_dict:
            config["signature_outputs_as_dict"] = True
        if self._tags is not None:
            tags = self._tags
            config["tags"] = tags if isinstance(tags, str) else list(tags)
        if self._load_options is not None:
            config["load_options"] = load_options_config(self._load_options)
        return config

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
