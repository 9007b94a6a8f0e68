"""The exporter: a Keras model in, a reusable image SavedModel out.

The SavedModel's root object holds only what the contract names (SPEC R):
`__call__`, `variables`, `trainable_variables`, `regularization_losses`,
and the model card asset (M1); the Keras model itself is not attached, so
TFLite and TF Serving see plain captured variables, as in the SavedModels
`keras.export.ExportArchive` writes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagehub import outputs
from imagehub._version import __version__
from imagehub.export._forward import HP_DROPOUT
from imagehub.export._forward import HP_MOMENTUM
from imagehub.export._forward import HPARAMS
from imagehub.export._forward import Forward
from imagehub.export._forward import regularizer_fns
from imagehub.export._forward import scaling_fn
from imagehub.export._serving import serving_functions
from imagehub.spec import ACTIVATIONS
from imagehub.spec import CARD_FILENAME
from imagehub.spec import DEFAULT_ACTIVATION
from imagehub.spec import DEFAULT_IMAGE_SIZE
from imagehub.spec import OUTPUT_KEYS
from imagehub.spec import SIGNATURE_BYTES
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import ModelCard
from imagehub.spec import parse_image_size
from imagehub.spec import read_card

_log = logging.getLogger(__name__)

_VERIFY_IMAGES = 3
_VERIFY_TOLERANCE = 1e-4
_PROBE_SIZES = (1, 2, 3, 4, 8, 16, 32, 64, 128)


class ExportVerificationError(RuntimeError):
    """The reloaded SavedModel does not reproduce the source model."""


def _model_hw(model: Any) -> tuple[int | None, int | None]:
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):
        return (None, None)
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError(
                f"The model has {len(shape)} inputs; an image model for "
                "export takes exactly one [batch, height, width, 3] tensor"
            )
        shape = shape[0]
    if shape is None or len(shape) != 4:
        raise ValueError(
            f"The model's input shape is {shape}; an image model takes "
            "[batch, height, width, 3]"
        )
    if shape[-1] not in (3, None):
        raise ValueError(
            f"The model's input has {shape[-1]} channels; image models "
            "take 3 (RGB, channels_last)"
        )
    return (shape[1], shape[2])


def _random_images(count: int, size: tuple[int, int], seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    return rng.random((count, size[0], size[1], 3), dtype=np.float32)


def _check_output(outputs: Any, task: str) -> int:
    shape = tuple(outputs.shape)
    if len(shape) != 2:
        raise ValueError(
            f"The model's output has shape {shape} (rank {len(shape)}); "
            f"an image {task.replace('_', ' ')} must output [batch, "
            "num_outputs]. Add global pooling: build keras.applications "
            "networks with pooling='avg', or end your model in "
            "keras.layers.GlobalAveragePooling2D()"
        )
    return int(shape[1])


def _probe_min_size(
    forward: Forward, default: tuple[int, int]
) -> tuple[int, int] | None:
    """The smallest square size (of a few tried) the model runs on."""
    for side in _PROBE_SIZES:
        if side >= min(default):
            break
        try:
            out = forward(_random_images(1, (side, side)))
            if np.all(np.isfinite(np.asarray(out))):
                return (side, side)
        except Exception:  # noqa: S112 - any failure means "too small".
            continue
    return None


def _resolve_hparams(
    forward: Forward, hparams: Sequence[str] | None
) -> dict[str, float]:
    available = forward.hparams
    if hparams is None:
        return dict(available)
    out = {}
    for name in hparams:
        if name not in HPARAMS:
            raise ValueError(
                f"Unknown hyperparameter {name!r} in hparams; expected "
                f"names from {HPARAMS}"
            )
        if name not in available:
            raise ValueError(
                f"hparams names {name!r}, but the model has no "
                + ("BatchNormalization" if name == HP_MOMENTUM else "Dropout")
                + " layer it could change"
            )
        out[name] = available[name]
    return out


def _make_call(forward: Forward, defaults: dict[str, float]) -> Any:
    """`__call__(images, training=False, **overrides)` as a tf.function
    whose keywords are exactly the overrides in `defaults` (R3, R4)."""
    import tensorflow as tf

    def run(images: Any, training: Any, **overrides: Any) -> Any:
        return forward(images, training=bool(training), overrides=overrides)

    momentum = defaults.get(HP_MOMENTUM)
    rate = defaults.get(HP_DROPOUT)

    def call_both(
        images, training=False, batch_norm_momentum=momentum, dropout_rate=rate
    ):
        return run(
            images,
            training,
            batch_norm_momentum=batch_norm_momentum,
            dropout_rate=dropout_rate,
        )

    def call_momentum(images, training=False, batch_norm_momentum=momentum):
        return run(images, training, batch_norm_momentum=batch_norm_momentum)

    def call_dropout(images, training=False, dropout_rate=rate):
        return run(images, training, dropout_rate=dropout_rate)

    def call_plain(images, training=False):
        return run(images, training)

    variants: dict[tuple[bool, bool], Callable[..., Any]] = {
        (True, True): call_both,
        (True, False): call_momentum,
        (False, True): call_dropout,
        (False, False): call_plain,
    }
    call = variants[(HP_MOMENTUM in defaults, HP_DROPOUT in defaults)]
    return tf.function(call, autograph=False)


def _trace_call(call: Any, shape: list[Any], names: Sequence[str]) -> list:
    import tensorflow as tf

    spec = tf.TensorSpec(shape, tf.float32)
    scalar = tf.TensorSpec([], tf.float32)
    traces = []
    for training in (False, True):
        traces.append(call.get_concrete_function(spec, training=training))
        if names:
            traces.append(
                call.get_concrete_function(
                    spec, training=training, **{n: scalar for n in names}
                )
            )
    return traces


def _collect_variables(model: Any, functions: Sequence[Any]) -> tuple:
    """(variables, trainable_variables) the traced functions use, in the
    model's order; trainable follows Keras (frozen layers stay out)."""
    order = {}
    for i, kv in enumerate(getattr(model, "variables", [])):
        order[id(getattr(kv, "value", kv))] = i
    # Keras decides trainability per layer too (layer.trainable = False).
    keras_trainable = {
        id(getattr(kv, "value", kv))
        for kv in getattr(model, "trainable_variables", [])
    }
    captured: dict[int, Any] = {}
    for fn in functions:
        for v in fn.variables:
            captured.setdefault(id(v), v)
    ordered = sorted(
        captured.values(), key=lambda v: order.get(id(v), len(order))
    )
    trainable = [
        v
        for v in ordered
        if v.trainable and (id(v) not in order or id(v) in keras_trainable)
    ]
    return ordered, trainable


def _build_root(
    forward: Forward,
    model: Any,
    hparams: dict[str, float],
    call_shape: list[Any],
    fixed_shape: list[Any],
    size: tuple[int, int],
    output_key: str,
) -> tuple[Any, dict[str, Any], bool]:
    """Traces everything; returns (root object, signatures, dynamic)."""
    import tensorflow as tf

    call = _make_call(forward, hparams)
    dynamic = call_shape != fixed_shape
    try:
        traces = _trace_call(call, call_shape, list(hparams))
    except Exception as e:
        if not dynamic:
            raise
        _log.warning(
            "The model does not trace with undefined height and width "
            "(%s); exporting for the fixed size %s",
            e,
            size,
        )
        call = _make_call(forward, hparams)
        traces = _trace_call(call, fixed_shape, list(hparams))
        dynamic = False
    serve_float, serve_bytes = serving_functions(
        lambda images: forward(images, training=False), size, output_key
    )
    variables, trainable = _collect_variables(
        model, [*traces, serve_float, serve_bytes]
    )
    root = tf.__internal__.tracking.AutoTrackable()
    root.__call__ = call
    root.variables = variables
    root.trainable_variables = trainable
    root.regularization_losses = regularizer_fns(model)
    signatures = {SIGNATURE_FLOAT: serve_float, SIGNATURE_BYTES: serve_bytes}
    return root, signatures, dynamic


def _verify(
    path: str,
    images: Any,
    expected: Any,
    output_key: str,
) -> None:
    """Reloads `path` and compares its outputs with the source's."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    got = {
        "__call__": np.asarray(loaded(tf.constant(images))),
        SIGNATURE_FLOAT: np.asarray(
            loaded.signatures[SIGNATURE_FLOAT](images=tf.constant(images))[
                output_key
            ]
        ),
    }
    scale = max(1.0, float(np.max(np.abs(expected))))
    for name, value in got.items():
        if not np.all(np.isfinite(value)):
            raise ExportVerificationError(
                f"The reloaded SavedModel's {name} returns non-finite values"
            )
        error = float(np.max(np.abs(value - expected)))
        if error > _VERIFY_TOLERANCE * scale:
            raise ExportVerificationError(
                f"The reloaded SavedModel's {name} differs from the source "
                f"model by up to {error:.3g} (tolerance "
                f"{_VERIFY_TOLERANCE * scale:.3g})"
            )
    if read_card(path) is None:
        raise ExportVerificationError(f"{path} has no model card")


@dataclasses.dataclass(frozen=True)
class _Options:
    """What a caller chose for one export, as the public functions take it.

    `export_feature_vector` and `export_classifier` spell these out as
    parameters (with their defaults, for IDEs and type checkers); each
    builds this one value with `of` and `_export` reads it.
    """

    task: str
    labels: Sequence[str] | None
    activation: str | None
    image_size: int | tuple[int, int] | None
    input_range: Any
    preprocessing: str | Callable[[Any], Any] | None
    fixed_size: bool
    min_size: int | tuple[int, int] | None
    hparams: Sequence[str] | None
    overwrite: bool
    source: str | None
    license: str
    extra: dict[str, Any] | None
    signature: str | None

    @classmethod
    def of(cls, task: str, arguments: Mapping[str, Any]) -> _Options:
        """The options of a call to a public export function.

        Args:
            task: The task the function exports for.
            arguments: The function's ``locals()`` on entry: its parameters
                are this class's fields (a feature vector has no `labels`
                and `activation`), plus `model` and `path`, which `_export`
                takes apart.

        Raises:
            KeyError: A field that is not a parameter of the function; the
                signature and this class have drifted apart.
        """
        given = {"labels": None, "activation": None, **arguments}
        names = (f.name for f in dataclasses.fields(cls) if f.name != "task")
        return cls(task=task, **{name: given[name] for name in names})


def _export(model: Any, path: str | os.PathLike[str], options: _Options) -> str:
    """Exports `model` as a reusable image SavedModel; see the public
    `export_feature_vector` and `export_classifier`."""
    import tensorflow as tf

    from imagehub.export._sources import resolve_source

    task, activation = options.task, options.activation
    path = os.path.abspath(os.fspath(path))
    outputs.check_target(path, options.overwrite)
    if task == TASK_CLASSIFICATION and activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {activation!r}; expected one of {ACTIVATIONS}"
        )
    size_hint = parse_image_size(options.image_size)
    resolved = resolve_source(
        model,
        task,
        signature=options.signature,
        image_size=size_hint,
        input_range=options.input_range,
        preprocessing=options.preprocessing,
    )
    model, origin, size_hint = (
        resolved.model,
        resolved.source,
        resolved.image_size,
    )
    labels = resolved.labels if options.labels is None else options.labels
    hparams = resolved.hparams if options.hparams is None else options.hparams
    card_license = options.license or resolved.license
    extra = {**resolved.extra, **(options.extra or {})}
    scale, scaling = scaling_fn(resolved.input_range, resolved.preprocessing)
    forward = Forward(
        model, task, scale, activation if task == TASK_CLASSIFICATION else None
    )
    model_h, model_w = _model_hw(model)
    model_fixed = model_h is not None and model_w is not None
    if size_hint is not None:
        size = size_hint
        if model_fixed and size != (model_h, model_w):
            raise ValueError(
                f"image_size={size} but the model takes only "
                f"{(model_h, model_w)}"
            )
    elif model_h is not None and model_w is not None:
        size = (int(model_h), int(model_w))
    else:
        size = DEFAULT_IMAGE_SIZE
        _log.warning(
            "The model accepts any input size and no image_size was given; "
            "the serving signatures use %s",
            size,
        )
    fixed = bool(model_fixed or options.fixed_size)
    images = _random_images(_VERIFY_IMAGES, size)
    expected = np.asarray(forward(tf.constant(images)))
    num_outputs = _check_output(expected, task)
    if labels is not None:
        labels = tuple(str(label) for label in labels)
        if task != TASK_CLASSIFICATION:
            raise ValueError("labels are for classifiers only")
        if len(labels) != num_outputs:
            raise ValueError(
                f"{len(labels)} labels given for a model with "
                f"{num_outputs} outputs; give one label per class"
            )
    min_hw = None if fixed else parse_image_size(options.min_size, "min_size")
    if not fixed and min_hw is None:
        min_hw = _probe_min_size(forward, size)
    chosen = _resolve_hparams(forward, hparams)
    fixed_shape = [None, size[0], size[1], 3]
    call_shape = fixed_shape if fixed else [None, None, None, 3]
    output_key = OUTPUT_KEYS[task]
    root, signatures, dynamic = _build_root(
        forward, model, chosen, call_shape, fixed_shape, size, output_key
    )
    info = {"exported_by": f"imagehub {__version__}", "scaling": scaling}
    if task == TASK_CLASSIFICATION and forward.final_activation:
        info["removed_final_activation"] = forward.final_activation
    info.update(extra or {})
    card = ModelCard(
        task=task,
        num_outputs=num_outputs,
        default_size=size,
        min_size=min_hw if dynamic else None,
        fixed_size=not dynamic,
        labels=labels,
        activation=activation if task == TASK_CLASSIFICATION else None,
        hparams=chosen,
        source=options.source or origin or f"Keras model {model.name!r}",
        license=card_license,
        signatures=(SIGNATURE_FLOAT, SIGNATURE_BYTES),
        extra=info,
    )
    with outputs.atomic_directory(path, overwrite=options.overwrite) as tmp:
        card_dir = os.path.join(tmp, ".card")
        os.makedirs(card_dir)
        card_file = os.path.join(card_dir, CARD_FILENAME)
        with open(card_file, "w", encoding="utf-8") as f:
            f.write(card.to_json())
        root.model_card = tf.saved_model.Asset(card_file)
        tf.saved_model.save(root, tmp, signatures=signatures)
        shutil.rmtree(card_dir)
        _verify(tmp, images, expected, output_key)
    # Debug: callers that stage the export (retrain) pass a temporary
    # path; the CLI prints where the model went.
    _log.debug("Exported %s (%s, %d outputs)", path, task, num_outputs)
    return path


def export_feature_vector(
    model: Any,
    path: str | os.PathLike[str],
    *,
    image_size: int | tuple[int, int] | None = None,
    input_range: Any = None,
    preprocessing: str | Callable[[Any], Any] | None = None,
    fixed_size: bool = False,
    min_size: int | tuple[int, int] | None = None,
    hparams: Sequence[str] | None = None,
    overwrite: bool = False,
    source: str | None = None,
    license: str = "",  # noqa: A002 - the model card's field name.
    extra: dict[str, Any] | None = None,
    signature: str | None = None,
) -> str:
    """Exports an image feature vector SavedModel (SPEC R, I, F, M).

    Args:
        model: A Keras 3 model mapping images to [batch, num_features]
            (called as ``model(x, training=...)``), or the path of a
            ``.keras`` file or of a SavedModel directory to wrap.
        path: The SavedModel directory to write (atomically).
        image_size: The default (height, width), or one int for square;
            default: the model's fixed input size, else 224x224.
        input_range: What the model expects: ``(0, 1)``, ``(-1, 1)`` or
            ``(0, 255)`` (the export always takes [0, 1]).
        preprocessing: Instead of `input_range`: a name such as
            ``"mobilenet"`` or ``"tf"``, or a callable taking [0, 255] RGB.
        fixed_size: Trace only `image_size`, even if the model takes any.
        min_size: Smallest permitted (height, width) for the card;
            default: probed.
        hparams: Names of the overrides to expose; default all that apply.
        overwrite: Replace an existing `path`.
        source: Where the model came from, for the card.
        license: The weights' license, for the card.
        extra: More card fields.
        signature: The signature to wrap, for a SavedModel source.

    Returns:
        The absolute path of the SavedModel.

    Raises:
        ValueError: A bad argument, or a model that cannot be exported
            (e.g. output not of rank 2: add global pooling).
        FileExistsError: `path` exists and `overwrite` is not set.
        ExportVerificationError: The reloaded export does not reproduce the
            source model; nothing is written.

    Example:
        >>> model = keras.applications.MobileNetV3Small(
        ...     include_top=False, pooling="avg", weights=None)
        >>> export_feature_vector(model, "/tmp/fv", input_range=(0, 255))
    """
    # One body for both functions: the parameters above, by name.
    return _export(model, path, _Options.of(TASK_FEATURE_VECTOR, locals()))


def export_classifier(
    model: Any,
    path: str | os.PathLike[str],
    labels: Sequence[str] | None = None,
    activation: str = DEFAULT_ACTIVATION,
    *,
    image_size: int | tuple[int, int] | None = None,
    input_range: Any = None,
    preprocessing: str | Callable[[Any], Any] | None = None,
    fixed_size: bool = False,
    min_size: int | tuple[int, int] | None = None,
    hparams: Sequence[str] | None = None,
    overwrite: bool = False,
    source: str | None = None,
    license: str = "",  # noqa: A002 - the model card's field name.
    extra: dict[str, Any] | None = None,
    signature: str | None = None,
) -> str:
    """Exports an image classification SavedModel (SPEC R, I, C, M).

    The output is logits: a model that ends in softmax or sigmoid is
    exported without it, and the model card records `activation`.

    Args:
        model: A Keras 3 model mapping images to [batch, num_classes], or a
            path as for `export_feature_vector`.
        path: The SavedModel directory to write (atomically).
        labels: Class names in index order (one per class), or None.
        activation: ``"softmax"`` (exclusive classes) or ``"sigmoid"``.
        image_size, input_range, preprocessing, fixed_size, min_size,
            hparams, overwrite, source, license, extra, signature: As for
            `export_feature_vector`.

    Returns:
        The absolute path of the SavedModel.

    Raises:
        ValueError: A bad argument, a label count that does not match the
            classes, or an activation that contradicts the model's own.
        FileExistsError: `path` exists and `overwrite` is not set.
        ExportVerificationError: The reloaded export does not reproduce the
            source model; nothing is written.
    """
    # One body for both functions: the parameters above, by name.
    return _export(model, path, _Options.of(TASK_CLASSIFICATION, locals()))
