"""What a reusable image model is: one resolver of its facts.

Every consumer (embed, classify, the Beam handler, retrain, the Keras
layer, check) asks the same questions of a model: its task, the input
size to feed it and whether that size is fixed, its input range, labels,
activation and output width. `resolve_facts` answers them once, in the
order of timm's ``resolve_data_config``: an explicit argument, then the
model card (SPEC M1), then what the traces of ``__call__`` (and the
serving signatures) fix, then the handle's name (TF Hub's models say
their size there), else unknown. The answer is one frozen `ModelFacts`
that records where each fact came from.

Nothing here imports TensorFlow: traces are read through the attributes
a loaded SavedModel has.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from imagehub.spec import CARD_FILENAME
from imagehub.spec import DEFAULT_ACTIVATION
from imagehub.spec import DEFAULT_RESIZE
from imagehub.spec import INPUT_RANGE
from imagehub.spec import OUTPUT_KEYS
from imagehub.spec import RESIZE_MODES
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import TASKS
from imagehub.spec import ModelCard
from imagehub.spec import parse_image_size
from imagehub.spec import read_card
from imagehub.spec import read_labels

logger = logging.getLogger(__name__)

ImageSize = tuple[int, int]
# (height, width) of the traces, None for a dimension they leave open.
TracedSize = tuple[int | None, int | None]

# Where a fact came from, as `ModelFacts` records it.
ARGUMENT = "argument"
CARD = "card"
TRACES = "traces"
SIGNATURE = "signature"
HANDLE = "handle"
UNKNOWN = "unknown"

# TF Hub names image models with their input size before the task:
# .../mobilenet_v1_025_128/classification/4, or vendored as
# imagenet_mobilenet_v1_025_128_classification_4.
_HANDLE_SIZE = re.compile(r"_(\d{2,4})[/_](?:classification|feature_vector)")


@dataclasses.dataclass(frozen=True)
class ModelFacts:
    """What consumers need to know about a reusable image model.

    Attributes:
        handle: The handle it was named by, or None for a loaded object.
        path: The local SavedModel directory, or None when unknown.
        card: Its model card, or None (e.g. TF Hub's models).
        task: ``"feature_vector"``, ``"classification"``, or None when
            neither the caller nor the card says.
        task_source: ``"argument"``, ``"card"`` or ``"unknown"``.
        image_size: (height, width) to feed it, or None when nothing says.
        size_source: ``"argument"``, ``"card"``, ``"traces"``,
            ``"signature"``, ``"handle"`` or ``"unknown"``.
        fixed_size: True when the model takes only one input size (the
            card says so, or every trace of ``__call__`` fixes it).
        traced_size: (height, width) the traces of ``__call__`` fix, None
            per open dimension; None when no trace tells.
        input_range: The value range of the input (SPEC I2).
        resize: How images are fitted to `image_size` (a `RESIZE_MODES`).
        labels: Class names in index order, or None.
        activation: ``"softmax"`` or ``"sigmoid"`` for a classifier (or a
            model of unknown task); None for a feature vector.
        num_outputs: num_classes or num_features (card, else the traced
            output), or None when neither tells.
        hparams: The hyperparameter overrides the card documents.
    """

    handle: str | None
    path: str | None
    card: ModelCard | None
    task: str | None
    task_source: str
    image_size: ImageSize | None
    size_source: str
    fixed_size: bool
    traced_size: TracedSize | None
    input_range: tuple[float, float]
    resize: str
    labels: tuple[str, ...] | None
    activation: str | None
    num_outputs: int | None
    hparams: Mapping[str, float]

    @property
    def is_classifier(self) -> bool:
        """True only when the caller or the card says classification."""
        return self.task == TASK_CLASSIFICATION

    @property
    def output_key(self) -> str | None:
        """The output name of the serving signatures, when the task is
        known."""
        return OUTPUT_KEYS.get(self.task) if self.task else None

    def require_size(self, name: str = "image_size") -> ImageSize:
        """`image_size`, or a ValueError saying how to give one.

        Args:
            name: The argument or flag to name in the message.
        """
        if self.image_size is not None:
            return self.image_size
        raise ValueError(
            f"Cannot tell the input size of model {self.handle or '(object)'}"
            ": it has no model card and no fixed size in its traces; pass "
            f"{name} (--image_size H,W)"
        )


def card_of_loaded(obj: Any) -> ModelCard | None:
    """The model card a loaded object carries as a tracked Asset.

    imagehub's exporter tracks the card as ``obj.model_card``; other
    publishers may track it under another name, so every Asset attribute
    named like the card counts.
    """
    candidates = [getattr(obj, "model_card", None)]
    candidates += list(getattr(obj, "__dict__", {}).values())
    for value in candidates:
        path = getattr(value, "asset_path", None)
        if path is None:
            continue
        path = path.numpy().decode() if hasattr(path, "numpy") else str(path)
        if os.path.basename(path) != CARD_FILENAME:
            continue
        # read_card wants the SavedModel directory: <dir>/assets/<card>.
        return read_card(os.path.dirname(os.path.dirname(path)))
    return None


def _shape(spec: Any) -> tuple[int | None, ...] | None:
    shape = getattr(spec, "shape", None)
    if shape is None or getattr(shape, "rank", None) is None:
        return None
    return tuple(None if d is None else int(d) for d in shape)


def _input_signature(fn: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(args, kwargs) of a concrete function; empty for what is not one
    (the checker inspects models that break the contract)."""
    try:
        args, kwargs = fn.structured_input_signature
        return tuple(args), dict(kwargs)
    except (AttributeError, TypeError, ValueError):
        return (), {}


def _call_functions(obj: Any) -> list[Any]:
    call = obj.__call__ if callable(obj) else None
    return list(getattr(call, "concrete_functions", None) or ())


def traced_size(obj: Any) -> TracedSize | None:
    """(height, width) the traces of ``obj.__call__`` fix.

    A dimension is fixed when every rank-4 trace gives it the same value,
    else it is None. A model without traced ``__call__`` is read from its
    `serving_default` signature. None when no trace has a rank-4 input.
    """
    sizes: set[TracedSize] = set()
    for fn in _call_functions(obj):
        args = _input_signature(fn)[0]
        shape = _shape(args[0]) if args else None
        if shape is not None and len(shape) == 4:
            sizes.add((shape[1], shape[2]))
    if not sizes:
        signatures = getattr(obj, "signatures", None) or {}
        if SIGNATURE_FLOAT in signatures:
            inputs = _input_signature(signatures[SIGNATURE_FLOAT])[1]
            for spec in inputs.values():
                shape = _shape(spec)
                if shape is not None and len(shape) == 4:
                    sizes.add((shape[1], shape[2]))
    if not sizes:
        return None
    heights = {h for h, _ in sizes}
    widths = {w for _, w in sizes}
    return (
        heights.pop() if len(heights) == 1 else None,
        widths.pop() if len(widths) == 1 else None,
    )


def _both(traced: TracedSize | None) -> ImageSize | None:
    """`traced` when it fixes both dimensions, else None."""
    if traced is None or traced[0] is None or traced[1] is None:
        return None
    return traced[0], traced[1]


def _signature_size(obj: Any) -> ImageSize | None:
    """The first fixed (height, width) of a serving signature's input: the
    size a publisher serves a model of any size at."""
    signatures = getattr(obj, "signatures", None) or {}
    for fn in signatures.values():
        for spec in _input_signature(fn)[1].values():
            shape = _shape(spec)
            if shape is not None and len(shape) == 4 and shape[1] and shape[2]:
                return shape[1], shape[2]
    return None


def _traced_outputs(obj: Any) -> int | None:
    """The static width of the first inference trace's [batch, n] output
    (traces returning dicts, e.g. TF Hub's endpoints, do not count)."""
    for fn in _call_functions(obj):
        args, kwargs = _input_signature(fn)
        if any(flag is True for flag in [*args[1:], *kwargs.values()]):
            continue  # a training trace
        shape = _shape(fn.structured_outputs)
        if shape is not None and len(shape) == 2 and shape[1]:
            return shape[1]
    return None


def size_from_handle(handle: str | None) -> ImageSize | None:
    """The size in a TF Hub handle's name (``..._128/classification``)."""
    match = _HANDLE_SIZE.search(handle or "")
    if match is None:
        return None
    side = int(match.group(1))
    return side, side


def facts_from(
    obj: Any,
    card: ModelCard | None,
    *,
    handle: str | None = None,
    path: str | None = None,
    image_size: Any = None,
    task: str | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    activation: str | None = None,
    resize: str | None = None,
) -> ModelFacts:
    """The facts of a model whose card and loaded object are at hand.

    Each fact is the explicit argument, else the card's, else what the
    traces of `obj` (None: not loaded) fix, else the handle's name.

    Args:
        obj: The loaded model, or None to go by the card alone.
        card: Its model card, or None.
        handle: The handle it was named by, for the size in its name and
            for messages.
        path: Its local SavedModel directory, if known.
        image_size: (height, width), an int or ``"H,W"``.
        task: ``"feature_vector"`` or ``"classification"``.
        labels: Class names, or a labels file (`imagehub.spec.read_labels`).
        activation: ``"softmax"`` or ``"sigmoid"``.
        resize: One of `RESIZE_MODES`; default `DEFAULT_RESIZE`.

    Returns:
        The facts, each with the first source that has it.

    Raises:
        ValueError: An argument is not valid (named in the message).
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}")
    if resize is not None and resize not in RESIZE_MODES:
        raise ValueError(
            f"Unknown resize {resize!r}; expected one of {RESIZE_MODES}"
        )
    traced = traced_size(obj) if obj is not None else None
    traced_fixed = _both(traced)

    size = parse_image_size(image_size)
    size_source = ARGUMENT
    if size is None and card is not None:
        size, size_source = card.default_size, CARD
    if size is None:
        size, size_source = traced_fixed, TRACES
    if size is None and obj is not None:
        size, size_source = _signature_size(obj), SIGNATURE
    if size is None:
        size, size_source = size_from_handle(handle), HANDLE
        if size is not None:
            logger.info(
                "Model %s has no card and accepts any size; using %dx%d "
                "from its name (set image_size to change it)",
                handle,
                *size,
            )
    if size is None:
        size_source = UNKNOWN

    if task is not None:
        task_source = ARGUMENT
    elif card is not None:
        task, task_source = card.task, CARD
    else:
        task_source = UNKNOWN

    names: tuple[str, ...] | None
    if labels is None:
        names = card.labels if card is not None else None
    elif isinstance(labels, (str, os.PathLike)):
        names = tuple(read_labels(labels))
    else:
        names = tuple(str(name) for name in labels)

    if activation is None and task != TASK_FEATURE_VECTOR:
        activation = (card.activation if card else None) or DEFAULT_ACTIVATION
    if task == TASK_FEATURE_VECTOR:
        activation = None

    if card is not None:
        num_outputs: int | None = card.num_outputs
    else:
        num_outputs = _traced_outputs(obj) if obj is not None else None

    facts = ModelFacts(
        handle=handle,
        path=path,
        card=card,
        task=task,
        task_source=task_source,
        image_size=size,
        size_source=size_source,
        fixed_size=(
            card.fixed_size if card is not None else traced_fixed is not None
        ),
        traced_size=traced,
        input_range=card.input_range if card is not None else INPUT_RANGE,
        resize=resize or DEFAULT_RESIZE,
        labels=names,
        activation=activation,
        num_outputs=num_outputs,
        hparams=dict(card.hparams) if card is not None else {},
    )
    logger.debug("Facts of %s: %s", handle or "(object)", facts)
    return facts


def resolve_facts(
    model: Any,
    *,
    obj: Any = None,
    image_size: Any = None,
    task: str | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    activation: str | None = None,
    resize: str | None = None,
    load: bool = True,
) -> ModelFacts:
    """Resolves the facts of `model`: arguments, card, traces, handle.

    A handle's card is read from its directory without loading it; the
    model is loaded only when the card is missing (its traces may tell
    the size), `obj` was not passed and `load` is True.

    Args:
        model: A handle `imagehub.hub.resolve` accepts, or a loaded model.
        obj: The loaded object of the handle `model`, if the caller has
            loaded it already.
        image_size, task, labels, activation, resize: Explicit values,
            which win over the model's; see `facts_from`.
        load: False never loads the model: a card-less handle's facts
            are the arguments' and its name's (for callers that only
            need the card's facts now and load the model later).

    Returns:
        The `ModelFacts`.

    Raises:
        HubError: The handle cannot be resolved.
        ValueError: An argument or the model card is not valid.

    Example:
        >>> facts = resolve_facts("path/to/model")  # doctest: +SKIP
        >>> facts.image_size, facts.task, facts.labels  # doctest: +SKIP
    """
    from imagehub.hub._resolver import load as load_model
    from imagehub.hub._resolver import resolve

    handle = path = None
    if isinstance(model, (str, os.PathLike)):
        handle = os.fspath(model)
        path = resolve(handle)
        card = read_card(path)
        if obj is None and card is None and load:
            obj = load_model(path)
    else:
        obj = model
        card = card_of_loaded(obj)
    return facts_from(
        obj,
        card,
        handle=handle,
        path=path,
        image_size=image_size,
        task=task,
        labels=labels,
        activation=activation,
        resize=resize,
    )
