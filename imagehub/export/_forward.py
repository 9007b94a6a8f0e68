"""The exported forward pass: [0, 1] images -> source scaling -> Keras model.

`Forward` wraps any Keras 3 model called as ``model(x, training=...)``. It
folds the input scaling into the graph (I2), drops dropout on the output of
a feature vector (F3), leaves out a classifier's final softmax or sigmoid
(C1, C3), and applies the hyperparameter overrides (R4) by setting them on
the model's layers while the graph is traced.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from imagehub.spec import ACTIVATIONS
from imagehub.spec import TASK_CLASSIFICATION

_log = logging.getLogger(__name__)

HP_MOMENTUM = "batch_norm_momentum"
HP_DROPOUT = "dropout_rate"
HPARAMS = (HP_MOMENTUM, HP_DROPOUT)

INPUT_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))
# Modes of keras.applications.imagenet_utils.preprocess_input.
PREPROCESSING_MODES = ("tf", "torch", "caffe")


def _flatten_layers(model: Any) -> list[Any]:
    """Every layer inside `model`, nested models included."""
    if hasattr(model, "_flatten_layers"):
        return list(model._flatten_layers(include_self=False, recursive=True))
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out.extend(_flatten_layers(layer))
    return out


def _is_hub(layer: Any) -> bool:
    """True for `imagehub.KerasLayer` and alike: a loaded reusable
    SavedModel with call arguments and regularization losses of its own."""
    return isinstance(getattr(layer, "arguments", None), dict) and hasattr(
        layer, "saved_model_regularization_losses"
    )


def parse_input_range(value: Any) -> tuple[float, float]:
    """Parses ``(0, 1)``, ``"-1,1"``... into one of INPUT_RANGES."""
    if isinstance(value, str):
        parts = value.replace(" ", "").split(",")
        try:
            value = tuple(float(p) for p in parts)
        except ValueError:
            value = None
    try:
        pair = (float(value[0]), float(value[1]))
        if len(value) != 2:
            raise ValueError
    except (TypeError, ValueError, IndexError):
        pair = None
    if pair not in INPUT_RANGES:
        raise ValueError(
            f"Unknown input_range {value!r}; expected one of "
            f"{', '.join(f'{a:g},{b:g}' for a, b in INPUT_RANGES)}"
        )
    return pair


def scaling_fn(
    input_range: Any = None, preprocessing: str | Callable | None = None
) -> tuple[Callable[[Any], Any], str]:
    """Returns (function from [0, 1] images to the model's input, a short
    description for the model card)."""
    if input_range is not None and preprocessing is not None:
        raise ValueError(
            "Give either input_range or preprocessing, not both "
            f"(got input_range={input_range!r}, "
            f"preprocessing={preprocessing!r})"
        )
    if preprocessing is not None:
        if isinstance(preprocessing, str):
            fn = _named_preprocessing(preprocessing)
            label = f"preprocessing={preprocessing}"
        elif callable(preprocessing):
            fn = preprocessing
            module = getattr(fn, "__module__", "") or ""
            label = f"preprocessing={module}.{fn.__name__}".lstrip(".")
        else:
            raise ValueError(
                f"preprocessing={preprocessing!r} is neither a name nor a "
                "callable"
            )
        return (lambda images: fn(images * 255.0)), label
    lo, hi = parse_input_range((0, 1) if input_range is None else input_range)
    if (lo, hi) == (0.0, 1.0):
        return (lambda images: images), "input_range=0,1"
    if (lo, hi) == (-1.0, 1.0):
        return (lambda images: images * 2.0 - 1.0), "input_range=-1,1"
    return (lambda images: images * 255.0), "input_range=0,255"


def _named_preprocessing(name: str) -> Callable[[Any], Any]:
    """A `preprocess_input` by architecture name or imagenet_utils mode;
    the function takes [0, 255] RGB."""
    from imagehub.export._archs import arch_names
    from imagehub.export._archs import preprocess_fn

    key = name.lower()
    if key in PREPROCESSING_MODES:
        from keras.applications import imagenet_utils

        return lambda x: imagenet_utils.preprocess_input(x, mode=key)
    try:
        return preprocess_fn(name)
    except ValueError:
        raise ValueError(
            f"Unknown preprocessing {name!r}; expected one of "
            f"{PREPROCESSING_MODES} or an architecture name "
            f"({', '.join(arch_names())})"
        ) from None


def _output_op(model: Any) -> Any | None:
    """The layer that produces the model's output, or None if unknown."""
    import keras

    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if outputs:
        if len(outputs) != 1:
            raise ValueError(
                f"The model has {len(outputs)} outputs; an image model for "
                "export must have exactly one"
            )
        history = getattr(outputs[0], "_keras_history", None)
        op = history[0] if history else None
    elif isinstance(model, keras.Sequential) and model.layers:
        op = model.layers[-1]
    else:
        op = None
    if op is not None and isinstance(op, keras.Model) and op is not model:
        inner = _output_op(op)
        return inner if inner is not None else op
    return op


def _op_input(op: Any) -> Any | None:
    try:
        history = op.input._keras_history
    except (AttributeError, ValueError):
        return None
    return history[0] if history else None


def _activation_name(fn: Any) -> str | None:
    name = getattr(fn, "__name__", None)
    return name if name in (*ACTIVATIONS, "linear") else None


class Forward:
    """Calls a Keras model on [0, 1] images, as the exported graph does.

    Args:
        model: A Keras 3 model with one image input and one output.
        task: ``"feature_vector"`` or ``"classification"``.
        scale: Function from [0, 1] images to the model's input.
        activation: For classifiers, the activation that applies to the
            logits; a model that ends in it is called without it.
    """

    def __init__(
        self,
        model: Any,
        task: str,
        scale: Callable[[Any], Any],
        activation: str | None = None,
    ) -> None:
        import keras

        self.model = model
        self.task = task
        self.scale = scale
        layers = _flatten_layers(model)
        self.batch_norms = [
            la
            for la in layers
            if isinstance(la, keras.layers.BatchNormalization)
        ]
        self.dropouts = [
            la for la in layers if isinstance(la, keras.layers.Dropout)
        ]
        # imagehub.KerasLayer (or alike): a loaded reusable SavedModel whose
        # own overrides and regularization losses carry over when trainable.
        self.hub_layers = [la for la in layers if la.trainable and _is_hub(la)]
        # (layer, attribute, value) set while tracing, whatever the call.
        self._fixed_patches: list[tuple[Any, str, Any]] = []
        self.final_activation: str | None = None
        self._strip_output(activation)
        self.hparams = self._default_hparams()

    def _strip_output(self, activation: str | None) -> None:
        """Finds output dropout (F3) and a final softmax/sigmoid (C1)."""
        import keras

        op = _output_op(self.model)
        identity = _identity_call
        # Output dropout: removed for feature vectors and classifiers.
        while isinstance(op, keras.layers.Dropout):
            _log.info("Leaving out dropout layer %r on the output", op.name)
            self._fixed_patches.append((op, "call", identity))
            self.dropouts = [d for d in self.dropouts if d is not op]
            op = _op_input(op)
        if self.task != TASK_CLASSIFICATION or op is None:
            return
        found = None
        if isinstance(op, keras.layers.Softmax):
            found = "softmax"
            self._fixed_patches.append((op, "call", identity))
        elif isinstance(op, keras.layers.Activation):
            found = _activation_name(op.activation)
            if found in ACTIVATIONS:
                self._fixed_patches.append(
                    (op, "activation", keras.activations.linear)
                )
        elif hasattr(op, "activation"):
            found = _activation_name(op.activation)
            if found in ACTIVATIONS:
                self._fixed_patches.append(
                    (op, "activation", keras.activations.linear)
                )
        if found in ACTIVATIONS:
            if activation is not None and activation != found:
                raise ValueError(
                    f"activation={activation!r}, but the model ends in "
                    f"{found} (layer {op.name!r}); pass "
                    f"activation={found!r} or give a model that ends in "
                    "logits"
                )
            _log.info(
                "Exporting logits: leaving out the final %s of layer %r",
                found,
                op.name,
            )
            self.final_activation = found

    def _hub_hparams(self, layer: Any) -> dict[str, float]:
        card = getattr(layer, "model_card", None)
        hparams = dict(getattr(card, "hparams", None) or {})
        return {k: float(v) for k, v in hparams.items() if k in HPARAMS}

    def _default_hparams(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for layer in self.hub_layers:
            for name, value in self._hub_hparams(layer).items():
                out.setdefault(name, value)
        if self.batch_norms:
            momenta = collections.Counter(
                float(bn.momentum) for bn in self.batch_norms
            )
            out[HP_MOMENTUM] = momenta.most_common(1)[0][0]
        if self.dropouts:
            rates = collections.Counter(float(d.rate) for d in self.dropouts)
            out[HP_DROPOUT] = rates.most_common(1)[0][0]
        return out

    @contextlib.contextmanager
    def _patched(self, overrides: dict[str, Any]) -> Iterator[None]:
        patches = list(self._fixed_patches)
        momentum = overrides.get(HP_MOMENTUM)
        if momentum is not None:
            patches += [(bn, "momentum", momentum) for bn in self.batch_norms]
        for layer in self.hub_layers:
            forwarded = {
                k: v
                for k, v in overrides.items()
                if k in self._hub_hparams(layer)
            }
            if forwarded:
                arguments = {**layer.arguments, **forwarded}
                # What the layer passes on each call, while tracing.
                patches.append((layer, "_arguments", arguments))
        rate = overrides.get(HP_DROPOUT)
        if rate is not None:
            patches += [
                (d, "call", _dropout_call(d, rate)) for d in self.dropouts
            ]
        undo = []
        try:
            for obj, name, value in patches:
                had = name in obj.__dict__
                undo.append((obj, name, had, obj.__dict__.get(name)))
                object.__setattr__(obj, name, value)
            yield
        finally:
            for obj, name, had, saved in reversed(undo):
                if had:
                    object.__setattr__(obj, name, saved)
                else:
                    object.__delattr__(obj, name)

    def __call__(
        self,
        images: Any,
        training: bool = False,
        overrides: dict[str, Any] | None = None,
    ) -> Any:
        """Returns float32 outputs for float32 [0, 1] `images`."""
        import tensorflow as tf

        active = {
            k: v
            for k, v in (overrides or {}).items()
            if v is not None and not _is_default(v, self.hparams.get(k))
        }
        with self._patched(active):
            outputs = self.model(self.scale(images), training=training)
        if isinstance(outputs, dict) and len(outputs) == 1:
            outputs = next(iter(outputs.values()))
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]
        return tf.cast(outputs, tf.float32)


def _is_default(value: Any, default: float | None) -> bool:
    """A Python number equal to the default changes nothing: each layer
    keeps its own setting (they may differ)."""
    return isinstance(value, (int, float)) and value == default


def _identity_call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
    return inputs


def _dropout_call(layer: Any, rate: Any) -> Callable[..., Any]:
    """A Dropout `call` with the rate given as a tensor (R4)."""

    def call(inputs: Any, training: Any = False) -> Any:
        import tensorflow as tf

        if not training:
            return inputs
        noise_shape = None
        if hasattr(layer, "_get_noise_shape"):
            noise_shape = layer._get_noise_shape(inputs)
        elif getattr(layer, "noise_shape", None) is not None:
            dynamic = tf.shape(inputs)
            noise_shape = [
                dynamic[i] if d is None else d
                for i, d in enumerate(layer.noise_shape)
            ]
        return tf.nn.dropout(
            inputs, rate=tf.cast(rate, inputs.dtype), noise_shape=noise_shape
        )

    return call


def regularizer_fns(model: Any, extra: Sequence[Any] = ()) -> list[Any]:
    """Zero-argument tf.functions, one per regularized weight (R7), and
    those of trainable wrapped SavedModels (imagehub.KerasLayer)."""
    import tensorflow as tf

    def make(weight: Any) -> Any:
        regularizer = weight.regularizer

        def loss() -> Any:
            return tf.cast(regularizer(weight.value), tf.float32)

        return tf.function(loss, input_signature=[], autograph=False)

    fns = []
    seen = set()
    for layer in [model, *_flatten_layers(model)]:
        for weight in getattr(layer, "weights", []):
            if id(weight) in seen:
                continue
            seen.add(id(weight))
            if getattr(weight, "regularizer", None) is not None:
                fns.append(make(weight))
    for layer in _flatten_layers(model):
        if layer.trainable and _is_hub(layer):
            losses = layer.saved_model_regularization_losses
            fns.extend(_wrap_loss(fn) for fn in losses)
    fns.extend(extra)
    return fns


def _wrap_loss(fn: Any) -> Any:
    import tensorflow as tf

    def loss() -> Any:
        return tf.cast(fn(), tf.float32)

    return tf.function(loss, input_signature=[], autograph=False)
