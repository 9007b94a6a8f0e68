"""What a Keras layer needs to know about a reusable SavedModel.

Shared by the Keras 3 layer (`_layer.py`) and the tf_keras one
(`_tf_keras.py`): loading the handle, finding the model card, the callable
to run, the accepted hyperparameter overrides, the variables and which of
them are trainable (SPEC R5, R6), the regularization losses (R7) and the
output shape. Nothing here imports Keras.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from imagehub.spec import CARD_FILENAME
from imagehub.spec import ModelCard
from imagehub.spec import read_card

logger = logging.getLogger(__name__)

TRAINING = "training"
_MAX_FINDINGS_SHOWN = 5


@dataclasses.dataclass
class Wrapped:
    """A loaded SavedModel, prepared for a Keras layer.

    Attributes:
        obj: The object `tf.saved_model.load` returned.
        handle: The handle as a string, or None for an object passed in.
        card: The model card (SPEC M1), or None.
        func: What the layer calls: `obj.__call__` or a signature.
        input_name: The signature's input keyword, or None for `__call__`.
        accepts_training: Whether `func` takes a `training` keyword.
        accepted_arguments: Names `arguments=` may use, and where the list
            comes from (``"model card"`` or ``"traced __call__"``).
        variables: Every variable `func` uses, in a stable order.
        trainable_ids: ids of the variables the publisher lets fine-tune.
        regularization_losses: Zero-argument callables (R7).
        output_shape: Shape without the batch dimension (a dict of shapes
            for dict outputs), or None when unknown.
    """

    obj: Any
    handle: str | None
    card: ModelCard | None
    func: Callable[..., Any]
    input_name: str | None
    accepts_training: bool
    accepted_arguments: tuple[tuple[str, ...], str]
    variables: list[Any]
    trainable_ids: set[int]
    regularization_losses: list[Callable[[], Any]]
    output_shape: Any


def refuse_if_unsafe(handle: str, path: str) -> None:
    """Scans the SavedModel at `path` (`imagehub.scan`) before loading it.

    Raises:
        ValueError: The scan refuses the model; the message names the
            handle, each finding and how to load it anyway.
    """
    from imagehub.check import scan

    result = scan(path)
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
    handle: Any, load_options: Any, scan: bool = False
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
        # Scanned above in safe mode; a layer built by hand trusts it.
        return hub.load(path, options=load_options, trust=True), path, text
    if load_options is not None:
        raise ValueError(
            "load_options applies to loading a handle, but handle is an "
            f"already loaded object ({type(handle).__name__}); pass the "
            "handle string instead, or drop load_options"
        )
    return handle, None, ""


def _card_of_object(obj: Any) -> ModelCard | None:
    """The card an already loaded object carries as a tracked Asset."""
    import tensorflow as tf

    candidates = [getattr(obj, "model_card", None)]
    candidates += list(getattr(obj, "__dict__", {}).values())
    for value in candidates:
        if not isinstance(value, tf.saved_model.Asset):
            continue
        path = value.asset_path
        if tf.is_tensor(path):
            path = path.numpy().decode("utf-8")
        if os.path.basename(path) != CARD_FILENAME:
            continue
        # read_card wants the SavedModel directory: <dir>/assets/<card>.
        return read_card(os.path.dirname(os.path.dirname(path)))
    return None


def _arg_spec(func: Any) -> inspect.FullArgSpec | None:
    spec = getattr(func, "function_spec", None)
    if spec is not None:
        return spec.fullargspec
    try:
        return inspect.getfullargspec(func)
    except TypeError:
        return None


def _traced_argument_names(func: Any) -> tuple[str, ...]:
    spec = _arg_spec(func)
    if spec is None:
        return ()
    args = list(spec.args)
    if args and args[0] == "self":
        args = args[1:]
    return tuple(args[1:]) + tuple(spec.kwonlyargs)


def _shape_of(spec: Any) -> Any:
    import tensorflow as tf

    if isinstance(spec, tf.TensorSpec):
        return tuple(spec.shape.as_list()[1:])
    if isinstance(spec, Mapping):
        return {k: _shape_of(v) for k, v in spec.items()}
    return None


def _call_output_spec(func: Any) -> Any:
    """The output spec of the inference trace of `__call__`, if traced."""
    concrete = list(getattr(func, "concrete_functions", None) or ())
    best = None
    for cf in concrete:
        args, kwargs = cf.structured_input_signature
        flags = list(args[1:]) + list(kwargs.values())
        if any(f is True for f in flags):
            continue  # A training trace, or one returning endpoints.
        best = cf.structured_outputs
        break
    if best is None and concrete:
        best = concrete[0].structured_outputs
    return best


def _variables(obj: Any, func: Any) -> list[Any]:
    found = getattr(obj, "variables", None)
    if found is None or callable(found):
        found = getattr(func, "variables", None) or []
        for cf in getattr(func, "concrete_functions", None) or ():
            found = list(found) + list(cf.variables)
    out, seen = [], set()
    for v in found:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def wrap(
    handle: Any,
    *,
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
    obj, path, handle_text = _load(handle, load_options, scan)
    if path is not None:
        card = read_card(path)
    else:
        card = _card_of_object(obj)

    input_name = None
    if signature is not None:
        signatures = getattr(obj, "signatures", None) or {}
        if signature not in signatures:
            raise ValueError(
                f"signature={signature!r} is not in the SavedModel; it has "
                f"{sorted(signatures)}"
            )
        func = signatures[signature]
        _, inputs = func.structured_input_signature
        if len(inputs) != 1:
            raise ValueError(
                f"signature={signature!r} takes {len(inputs)} inputs "
                f"({sorted(inputs)}); KerasLayer feeds exactly one"
            )
        input_name = next(iter(inputs))
        outputs = func.structured_outputs
        if signature_outputs_as_dict:
            if output_key is not None:
                raise ValueError(
                    "Give output_key or signature_outputs_as_dict=True, not "
                    f"both (got output_key={output_key!r})"
                )
        elif output_key is None:
            raise ValueError(
                f"signature={signature!r} returns a dict with keys "
                f"{sorted(outputs)}; pass output_key=<one of them> or "
                "signature_outputs_as_dict=True"
            )
        elif output_key not in outputs:
            raise ValueError(
                f"output_key={output_key!r} is not an output of signature "
                f"{signature!r}; its outputs are {sorted(outputs)}"
            )
        out_spec = outputs if signature_outputs_as_dict else outputs[output_key]
        accepts_training = False
        accepted: tuple[tuple[str, ...], str] = ((), f"signature {signature!r}")
    else:
        if signature_outputs_as_dict:
            raise ValueError(
                "signature_outputs_as_dict=True needs signature=<name>; "
                f"available: {sorted(getattr(obj, 'signatures', {}) or {})}"
            )
        func = obj.__call__ if callable(obj) else None
        if func is None:
            raise ValueError(
                f"handle {handle_text or type(obj).__name__!r} has no "
                "callable __call__ (SPEC R1); pass signature=<name> to call "
                "one of its signatures instead"
            )
        traced = _traced_argument_names(func)
        accepts_training = TRAINING in traced
        if card is not None:
            accepted = (tuple(card.hparams), "model card")
        else:
            names = tuple(n for n in traced if n != TRAINING)
            accepted = (names, "traced __call__")
        out_spec = _call_output_spec(func)
        if isinstance(out_spec, Mapping) and output_key is not None:
            if output_key not in out_spec:
                raise ValueError(
                    f"output_key={output_key!r} is not an output of "
                    f"__call__; its outputs are {sorted(out_spec)}"
                )
            out_spec = out_spec[output_key]

    arguments = dict(arguments or {})
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

    if output_shape is not None:
        shape: Any = _normalise_shape(output_shape)
    elif card is not None and signature is None and output_key is None:
        shape = (card.num_outputs,)
    else:
        shape = _shape_of(out_spec)

    trainable = getattr(obj, "trainable_variables", None)
    if trainable is None or callable(trainable):
        trainable = []
    reg = getattr(obj, "regularization_losses", None) or []
    return Wrapped(
        obj=obj,
        handle=handle_text or None,
        card=card,
        func=func,
        input_name=input_name,
        accepts_training=accepts_training,
        accepted_arguments=accepted,
        variables=_variables(obj, func),
        trainable_ids={id(v) for v in trainable},
        regularization_losses=list(reg),
        output_shape=shape,
    )


def _normalise_shape(shape: Any) -> Any:
    if isinstance(shape, Mapping):
        return {k: _normalise_shape(v) for k, v in shape.items()}
    if isinstance(shape, int):
        return (shape,)
    return tuple(None if d is None else int(d) for d in shape)


def variable_name(variable: Any) -> str:
    """A Keras-legal name for a SavedModel variable (no '/', no ':0')."""
    name = variable.name.split(":")[0]
    return name.replace("/", "_") or "variable"


def pick_output(outputs: Any, output_key: str | None, as_dict: bool) -> Any:
    """Selects what the layer returns from a call's outputs."""
    if isinstance(outputs, Mapping):
        if as_dict:
            return dict(outputs)
        if output_key is not None:
            return outputs[output_key]
    return outputs
