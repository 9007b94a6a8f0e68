"""What a Keras layer needs to know about a SavedModel.

Shared by the Keras 3 layer (`_layer.py`) and the tf_keras one
(`_tf_keras.py`): loading the handle, finding the model card, the callable
to run (`__call__` or a signature), the accepted hyperparameter overrides,
the variables and which of them are trainable (SPEC R5, R6), the
regularization losses (R7), and what goes in and comes out: dtypes and
shapes, read from the traces, so that text models (string inputs), dict
inputs and outputs and lists of outputs work as well as images. Nothing
here imports Keras.

Only image models (those with an imagehub model card) get image-specific
treatment: their inputs are cast to float32 and their output shape comes
from the card. Any other SavedModel is fed what the caller passes, as
`hub.KerasLayer` does.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from imagehub.keras import _tensors
from imagehub.spec import ModelCard

logger = logging.getLogger(__name__)

TRAINING = "training"
_MAX_FINDINGS_SHOWN = 5


@dataclasses.dataclass(frozen=True)
class Wrapped:
    """A loaded SavedModel, prepared for a Keras layer.

    Attributes:
        obj: The object `tf.saved_model.load` returned (or the one given).
        handle: The handle as a string, or None for an object passed in.
        card: The model card (SPEC M1), or None.
        func: What the layer calls: `obj.__call__` or a signature.
        signature: The signature's name, or None for `__call__`.
        input_names: A signature's input keywords (empty for `__call__`).
        accepts_training: Whether `func` takes a `training` keyword.
        accepted_arguments: Names `arguments=` may use, and where the list
            comes from (``"model card"``, ``"traced __call__"``, ...).
        variables: Every variable `func` uses, in a stable order.
        trainable_ids: ids of the variables the publisher lets fine-tune.
        regularization_losses: Zero-argument callables (R7).
        input_info: The traced input (a `TensorInfo` or a nest of them),
            or None when no trace says it.
        output_info: What the layer returns (a nest of `TensorInfo`, after
            `output_key`, `output_shape` and the card), or None when
            unknown without calling the model.
        output_shape: The caller's `output_shape`, normalized to a nest of
            tuples, or None; set on the outputs of every call.
    """

    obj: Any
    handle: str | None
    card: ModelCard | None
    func: Callable[..., Any]
    signature: str | None
    input_names: tuple[str, ...]
    accepts_training: bool
    accepted_arguments: tuple[tuple[str, ...], str]
    variables: list[Any]
    trainable_ids: frozenset[int]
    regularization_losses: list[Callable[[], Any]]
    input_info: Any
    output_info: Any
    output_shape: Any

    @property
    def is_image_model(self) -> bool:
        """True for a SavedModel with an imagehub model card."""
        return self.card is not None


def refuse_if_unsafe(handle: str, path: str) -> None:
    """Scans the SavedModel at `path` (`imagehub.scan`) before loading it.

    Raises:
        ValueError: The scan refuses the model; the message names the
            handle, each finding and how to load it anyway.
    """
    from imagehub import hub
    from imagehub.scan import scan

    result = scan(path, memo_dir=hub.scan_memo_dir())
    if not result.refused:
        return
    shown = result.findings[:_MAX_FINDINGS_SHOWN]
    lines = [f"  {f.op} ({f.reason}) at {f.where}" for f in shown]
    if len(result.findings) > len(shown):
        lines.append(f"  ... and {len(result.findings) - len(shown)} more")
    raise ValueError(
        f"Refusing to load the SavedModel of KerasLayer handle {handle!r} "
        f"({path}) in Keras safe mode: imagehub's safety scan found "
        f"{len(result.findings)} dangerous op(s):\n"
        + "\n".join(lines)
        + "\nNothing was loaded. If you trust this file and the model it "
        "names, load it with safe_mode=False (keras.saving.load_model(..., "
        f"safe_mode=False)); `imagehub check {path}` shows every finding."
    )


def _load(
    handle: Any, tags: Any, load_options: Any, scan: bool = False
) -> tuple[Any, str | None, str]:
    """Returns (loaded object, resolved directory or None, handle text).

    With `scan`, a handle's SavedModel is scanned before it is loaded.
    """
    if isinstance(handle, (str, os.PathLike)):
        from imagehub import hub

        path = hub.resolve(handle)
        text = os.fspath(handle)
        if scan:
            refuse_if_unsafe(text, path)
        try:
            # Scanned above in safe mode; a layer built by hand trusts it.
            obj = hub.load(path, tags=tags, options=load_options, trust=True)
        except (RuntimeError, ValueError) as e:
            if tags is None:
                raise
            raise ValueError(
                f"tags={tags!r}: the SavedModel of handle {text!r} has no "
                f"MetaGraph with these tags ({e}); TF2 SavedModels have "
                "one, loaded with tags=None"
            ) from e
        return obj, path, text
    for name, value in (("tags", tags), ("load_options", load_options)):
        if value is not None:
            raise ValueError(
                f"{name}={value!r} applies to loading a handle, but handle "
                f"is an already loaded object ({type(handle).__name__}); "
                f"pass the handle string instead, or drop {name}"
            )
    return handle, None, ""


def _arg_spec(func: Any) -> inspect.FullArgSpec | None:
    spec = getattr(func, "function_spec", None)
    if spec is not None:
        traced: inspect.FullArgSpec = spec.fullargspec
        return traced
    try:
        return inspect.getfullargspec(func)
    except TypeError:
        return None


def _parameters(func: Any) -> tuple[list[str], dict[str, Any]]:
    """The traced function's parameter names and their defaults."""
    spec = _arg_spec(func)
    if spec is None:
        return [], {}
    names = [a for a in spec.args if a != "self"]
    defaults = dict(zip(names[::-1], (spec.defaults or ())[::-1], strict=False))
    names += list(spec.kwonlyargs)
    defaults.update(spec.kwonlydefaults or {})
    return names, defaults


def _pick_trace(func: Any, arguments: Mapping[str, Any]) -> Any:
    """The inference trace of `__call__` that a call with `arguments`
    runs, or None when no trace fits.

    Python values (``training=False``, ``return_dict=True``) select the
    trace; hyperparameters traced as tensors accept any value.
    """
    names, defaults = _parameters(func)
    wanted = {**defaults, **arguments, TRAINING: False}
    for concrete in getattr(func, "concrete_functions", None) or ():
        args, kwargs = concrete.structured_input_signature
        bound = dict(zip(names, args, strict=False))
        bound.update(kwargs)
        fits = all(
            _tensors.is_spec(value) or value == wanted.get(name, value)
            for name, value in bound.items()
            if name != (names[0] if names else None)
        )
        if fits:
            return concrete
    return None


def _variables(obj: Any, func: Any, trainable: list[Any]) -> list[Any]:
    """The trainable variables (in the publisher's order), then the
    others: the order `hub.KerasLayer` adds them in, so weight files
    written with it load position by position."""
    found = getattr(obj, "variables", None)
    if found is None or callable(found):
        found = list(getattr(func, "variables", None) or [])
        for cf in getattr(func, "concrete_functions", None) or ():
            found += list(cf.variables)
    out, seen = [], set()
    for v in [*trainable, *found]:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _signature_func(
    obj: Any,
    signature: str,
    output_key: str | None,
    as_dict: bool,
) -> tuple[Any, tuple[str, ...], Any]:
    """Returns (signature function, input names, traced output)."""
    signatures = getattr(obj, "signatures", None) or {}
    if signature not in signatures:
        raise ValueError(
            f"signature={signature!r} is not in the SavedModel; it has "
            f"{sorted(signatures)}"
        )
    func = signatures[signature]
    outputs = func.structured_outputs
    if as_dict == (output_key is not None):
        raise ValueError(
            f"signature={signature!r} returns a dict with keys "
            f"{sorted(outputs)}; pass exactly one of output_key=<one of "
            "them> and signature_outputs_as_dict=True (got "
            f"output_key={output_key!r}, signature_outputs_as_dict="
            f"{as_dict!r})"
        )
    _, inputs = func.structured_input_signature
    if output_key is not None and output_key not in outputs:
        raise ValueError(
            f"output_key={output_key!r} is not an output of signature "
            f"{signature!r}; its outputs are {sorted(outputs)}"
        )
    traced = outputs if as_dict else outputs[output_key]
    return func, tuple(sorted(inputs)), traced


def wrap(
    handle: Any,
    *,
    tags: Any = None,
    signature: str | None = None,
    output_key: str | None = None,
    signature_outputs_as_dict: bool | None = None,
    arguments: Mapping[str, Any] | None = None,
    output_shape: Any = None,
    load_options: Any = None,
    scan: bool = False,
) -> Wrapped:
    """Loads `handle` and checks the layer's arguments against it.

    With `scan`, a handle's SavedModel must pass `imagehub.scan` first
    (Keras safe mode).

    Raises:
        ValueError: An argument does not fit the model; the message names
            the argument, the value and what the model accepts.
    """
    from imagehub import hub

    obj, path, handle_text = _load(handle, tags, load_options, scan)
    facts = hub.resolve_facts(path if path is not None else obj, obj=obj)
    card = facts.card
    arguments = dict(arguments or {})
    as_dict = bool(signature_outputs_as_dict)
    given_shape = _tensors.normalize_output_shape(output_shape)

    input_info = None
    if signature is not None:
        func, input_names, traced = _signature_func(
            obj, signature, output_key, as_dict
        )
        _, inputs = func.structured_input_signature
        if len(inputs) == 1:
            input_info = _tensors.info_of(next(iter(inputs.values())))
        else:
            input_info = _tensors.info_of(dict(inputs))
        accepts_training = False
        # Inputs the layer does not feed can come from `arguments`.
        accepted = (input_names, f"signature {signature!r} inputs")
    else:
        if as_dict:
            raise ValueError(
                "signature_outputs_as_dict=True needs signature=<name>; "
                f"available: {sorted(getattr(obj, 'signatures', {}) or {})}"
            )
        func = obj.__call__ if callable(obj) else None
        if func is None:
            raise ValueError(
                f"handle {handle_text or type(obj).__name__!r} has no "
                "callable __call__ (SPEC R1); pass signature=<name> to call "
                f"one of its signatures "
                f"{sorted(getattr(obj, 'signatures', {}) or {})} instead"
            )
        input_names = ()
        names, _ = _parameters(func)
        accepts_training = TRAINING in names
        traced_names = tuple(n for n in names[1:] if n != TRAINING)
        if card is not None:
            accepted = (tuple(facts.hparams), "model card")
        else:
            accepted = (traced_names, "traced __call__")
        trace = _pick_trace(func, arguments)
        traced = None if trace is None else trace.structured_outputs
        if trace is not None and trace.structured_input_signature[0]:
            input_info = _tensors.info_of(
                trace.structured_input_signature[0][0]
            )
        if output_key is not None and isinstance(traced, Mapping):
            if output_key not in traced:
                raise ValueError(
                    f"output_key={output_key!r} is not an output of "
                    f"__call__; its outputs are {sorted(traced)}"
                )
            traced = traced[output_key]
        elif output_key is not None:
            # Not known to be a dict: the call says so if it is not.
            traced = None

    if TRAINING in arguments:
        raise ValueError(
            "arguments must not set 'training': the layer passes the "
            "model's training mode itself (trainable=True) or False"
        )
    unknown = sorted(set(arguments) - set(accepted[0]))
    if unknown:
        raise ValueError(
            f"arguments={arguments!r}: the model does not accept "
            f"{unknown}; it accepts {sorted(accepted[0])} (from its "
            f"{accepted[1]})"
        )

    traced_info = _tensors.info_of(traced) if traced is not None else None
    if given_shape is not None:
        output_info = _tensors.output_info_with_shape(given_shape, traced_info)
    elif card is not None and signature is None and output_key is None:
        output_info = _tensors.TensorInfo((card.num_outputs,), _tensors.FLOAT32)
    else:
        output_info = traced_info

    trainable = getattr(obj, "trainable_variables", None)
    if trainable is None or callable(trainable):
        trainable = []
    reg = getattr(obj, "regularization_losses", None) or []
    for loss in reg:
        if not callable(loss):
            raise ValueError(
                f"handle {handle_text or type(obj).__name__!r}: its "
                "regularization_losses must be zero-argument callables "
                f"(SPEC R7), got {type(loss).__name__}"
            )
    return Wrapped(
        obj=obj,
        handle=handle_text or None,
        card=card,
        func=func,
        signature=signature,
        input_names=input_names,
        accepts_training=accepts_training,
        accepted_arguments=accepted,
        variables=_variables(obj, func, list(trainable)),
        trainable_ids=frozenset(id(v) for v in trainable),
        regularization_losses=list(reg),
        input_info=input_info,
        output_info=output_info,
        output_shape=given_shape,
    )


def variable_name(variable: Any) -> str:
    """A Keras-legal name for a SavedModel variable (no '/', no ':0')."""
    name = variable.name.split(":")[0]
    return name.replace("/", "_") or "variable"
