"""Probes of the reusable API (R) on a loaded model.

Each probe takes the Context and returns one Result saying what was seen
and, when not PASS, how to fix it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from imagehub.check._context import MISSING
from imagehub.check._context import Context
from imagehub.check._context import describe
from imagehub.check._report import FAIL
from imagehub.check._report import PASS
from imagehub.check._report import WARN
from imagehub.check._report import Result

logger = logging.getLogger(__name__)

EXPORT_HINT = (
    "wrap it into a reusable SavedModel with "
    "`imagehub export --saved_model PATH --task TASK --out DIR`"
)
BATCH_SIZES = (1, 3, 8)


def _short(e: BaseException, limit: int = 200) -> str:
    text = " ".join(str(e).split())
    text = f"{type(e).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def r1(ctx: Context) -> Result:
    if ctx.fn is not None:
        n = len(ctx.traces)
        return Result(
            "R1", PASS, f"__call__ is a restored tf.function ({n} traces)"
        )
    obj = ctx.obj
    attrs = (
        sorted(
            k for k in vars(obj) if not k.startswith("_") and k != "signatures"
        )
        if hasattr(obj, "__dict__")
        else []
    )
    fn = vars(obj).get("__call__") if hasattr(obj, "__dict__") else None
    if fn is not None:
        return Result(
            "R1",
            FAIL,
            f"__call__ is a {type(fn).__name__}, not a restored tf.function "
            "(save a @tf.function method, not a concrete function); "
            + EXPORT_HINT,
        )
    keras = "serve" in attrs or "_all_variables" in vars(obj)
    what = (
        "this looks like Keras 3 Model.export() output, which has endpoints "
        "(here: serve) but no __call__"
        if keras
        else f"the loaded object has no __call__ (it has: {', '.join(attrs)})"
    )
    return Result("R1", FAIL, f"{what}; {EXPORT_HINT}")


def required_args(spec: Any) -> list[str]:
    """Names of the arguments of `__call__` without a default."""
    n_defaults = len(spec.defaults or ())
    required = spec.args[: len(spec.args) - n_defaults]
    return required + [
        k for k in spec.kwonlyargs if k not in (spec.kwonlydefaults or {})
    ]


def r2(ctx: Context) -> Result:
    spec = ctx.argspec
    if spec is None:
        return Result("R2", FAIL, "__call__ has no argument spec")
    n_defaults = len(spec.defaults or ())
    required = required_args(spec)
    keywords = spec.args[len(spec.args) - n_defaults :] + list(spec.kwonlyargs)
    if spec.varargs:
        return Result(
            "R2",
            FAIL,
            f"__call__ takes *{spec.varargs}; it must take exactly one "
            "positional input (the images) and keywords with defaults",
        )
    if len(required) != 1:
        return Result(
            "R2",
            FAIL,
            f"__call__ requires {len(required)} arguments "
            f"({', '.join(required) or 'none'}); it must require exactly one "
            "(the images) and give every other argument a Python default",
        )
    kw = ", ".join(keywords) or "none"
    return Result(
        "R2", PASS, f"one positional input {required[0]!r}; keywords: {kw}"
    )


def _other_args(ctx: Context, trace: Any) -> tuple[Any, ...]:
    """The trace's arguments besides the images and `training`."""

    def norm(v: Any) -> Any:
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            return ("tensor", str(v.dtype.name), str(v.shape))
        return ("value", repr(v))

    return tuple(
        sorted(
            (k, norm(v))
            for k, v in trace.args.items()
            if k not in (ctx.input_name, "training")
        )
    )


def r3(ctx: Context) -> Result:
    spec = ctx.argspec
    names = list(spec.args) + list(spec.kwonlyargs)
    if "training" not in names:
        return Result(
            "R3",
            WARN,
            "__call__ has no `training` keyword: consumers cannot switch "
            "batch norm and dropout to training mode for fine-tuning; add "
            "`training=False` and trace both values if they behave "
            "differently",
        )
    defaults = dict(
        zip(
            spec.args[len(spec.args) - len(spec.defaults or ()) :],
            spec.defaults or (),
            strict=True,
        )
    )
    defaults.update(spec.kwonlydefaults or {})
    if defaults.get("training", MISSING) is not False:
        got = defaults.get("training", MISSING)
        return Result(
            "R3",
            FAIL,
            f"`training` defaults to {got!r}; it must default to False",
        )
    by_value: dict[bool, set[Any]] = {True: set(), False: set()}
    for t in ctx.traces:
        value = t.training()
        if isinstance(value, bool):
            by_value[value].add(_other_args(ctx, t))
        elif hasattr(value, "dtype"):
            # A Tensor-valued training serves both values.
            by_value[True].add(_other_args(ctx, t))
            by_value[False].add(_other_args(ctx, t))
    missing = [str(v) for v in (False, True) if not by_value[v]]
    if missing:
        return Result(
            "R3",
            FAIL,
            f"no trace with training={' or '.join(missing)}; trace __call__ "
            "with both training=False and training=True before saving "
            "(e.g. call get_concrete_function for each)",
        )
    if by_value[True] != by_value[False]:
        only_t = by_value[True] - by_value[False]
        only_f = by_value[False] - by_value[True]
        return Result(
            "R3",
            FAIL,
            "training=True and training=False accept different arguments "
            f"(only with True: {sorted(only_t)}; only with False: "
            f"{sorted(only_f)}); trace the same argument combinations for "
            "both",
        )
    try:
        out = ctx.call(training=True, cache=False)
    except Exception as e:  # noqa: BLE001 - the model's error is the result
        return Result(
            "R3", FAIL, f"calling with training=True failed: {_short(e)}"
        )
    combos = len(by_value[True])
    return Result(
        "R3",
        PASS,
        f"training defaults to False; both values traced with the same "
        f"{combos} argument combination(s); training=True returns "
        f"{describe(out)}",
    )


def r4(ctx: Context) -> Result:
    hparams = ctx.hparams()
    source = "the card" if ctx.card is not None else "the signature"
    if not hparams:
        return Result("R4", PASS, f"no hyperparameter overrides ({source})")
    spec = ctx.argspec
    names = set(spec.args) | set(spec.kwonlyargs)
    unknown = sorted(set(hparams) - names)
    if unknown:
        return Result(
            "R4",
            FAIL,
            f"the card lists overrides {unknown} that __call__ does not "
            f"take (it takes: {sorted(names)}); fix the card or the model",
        )
    values = ctx.training_values() or {False}
    problems = []
    for training in sorted(values):
        kwargs: dict[str, Any] = (
            {"training": training} if ("training" in names) else {}
        )
        try:
            _call_with_overrides(ctx, hparams, kwargs)
        except Exception as e:  # noqa: BLE001
            problems.append(f"training={training}: {_short(e, 160)}")
    listed = ", ".join(f"{k}={v}" for k, v in hparams.items())
    if problems:
        return Result(
            "R4",
            FAIL,
            f"overrides {listed} given as float32 tensors were refused ("
            + "; ".join(problems)
            + "); trace __call__ with them as tf.TensorSpec([], tf.float32) "
            "for each value of training",
        )
    return Result(
        "R4",
        PASS,
        f"overrides from {source} accepted as tensors: {listed}",
    )


def _call_with_overrides(
    ctx: Context, hparams: dict[str, Any], kwargs: dict[str, Any]
) -> Any:
    import tensorflow as tf

    args = {k: tf.constant(float(v), tf.float32) for k, v in hparams.items()}
    return ctx.call(cache=False, **kwargs, **args)


def _used_variables(ctx: Context) -> dict[int, Any]:
    used: dict[int, Any] = {}
    for t in ctx.traces:
        for v in t.fn.variables:
            used[id(v)] = v
    return used


def _names(variables: Any, limit: int = 5) -> str:
    names = [
        f"{getattr(v, 'name', '?')} {list(getattr(v, 'shape', []))}"
        for v in variables
    ]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def r5(ctx: Context) -> Result:
    used = _used_variables(ctx)
    listed = getattr(ctx.obj, "variables", None)
    if listed is None:
        if not used:
            return Result("R5", PASS, "no variables, none listed")
        return Result(
            "R5",
            FAIL,
            f"__call__ uses {len(used)} variables but the object has no "
            "`variables` attribute; save obj.variables = [every variable]",
        )
    listed_ids = {id(v) for v in listed}
    missing = [v for k, v in used.items() if k not in listed_ids]
    if missing:
        return Result(
            "R5",
            FAIL,
            f"{len(missing)} variables used by __call__ are not in "
            f"obj.variables: {_names(missing)}; list every variable",
        )
    return Result(
        "R5",
        PASS,
        f"obj.variables lists {len(listed)} variables, including all "
        f"{len(used)} that __call__ uses",
    )


def r6(ctx: Context) -> Result:
    trainable = getattr(ctx.obj, "trainable_variables", None)
    if trainable is None:
        return Result(
            "R6", PASS, "no trainable_variables: the model is not fine-tunable"
        )
    listed = {id(v) for v in getattr(ctx.obj, "variables", None) or ()}
    outside = [v for v in trainable if id(v) not in listed]
    frozen = [v for v in trainable if not getattr(v, "trainable", False)]
    problems = []
    if outside:
        problems.append(
            f"{len(outside)} are not in obj.variables ({_names(outside)})"
        )
    if frozen:
        problems.append(
            f"{len(frozen)} have trainable=False ({_names(frozen)})"
        )
    if problems:
        return Result(
            "R6",
            FAIL,
            "of obj.trainable_variables, " + "; ".join(problems) + "; it must "
            "be a subset of obj.variables with trainable=True",
        )
    return Result(
        "R6",
        PASS,
        f"{len(trainable)} trainable variables, all in obj.variables and "
        "trainable",
    )


def r7(ctx: Context) -> Result:
    losses = getattr(ctx.obj, "regularization_losses", None)
    if losses is None:
        return Result("R7", PASS, "no regularization_losses (allowed)")
    problems = []
    for i, loss in enumerate(losses):
        problem = _check_loss(loss)
        if problem:
            problems.append(f"[{i}] {problem}")
    if problems:
        return Result(
            "R7",
            FAIL,
            "regularization_losses " + "; ".join(problems) + "; each must be "
            "a tf.function taking no input and returning a scalar float",
        )
    return Result(
        "R7",
        PASS,
        f"{len(losses)} regularization losses, each a zero-argument "
        "function returning a scalar float",
    )


def _check_loss(loss: Any) -> str | None:
    if not callable(loss):
        return f"is a {type(loss).__name__}, not callable"
    for fn in getattr(loss, "concrete_functions", ()) or ():
        args, kwargs = fn.structured_input_signature
        if args or kwargs:
            return f"takes {len(args) + len(kwargs)} input(s)"
    try:
        value = loss()
    except Exception as e:  # noqa: BLE001
        return f"cannot be called without arguments ({_short(e, 120)})"
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is None or not dtype.is_floating:
        return f"returns {describe(value)}, not a float tensor"
    if shape is None or shape.rank != 0:
        return f"returns shape {shape}, not a scalar"
    return None


def r8(ctx: Context) -> Result:
    fixed = []
    for t, spec in zip(ctx.traces, ctx.input_specs(), strict=True):
        shape = getattr(spec, "shape", None)
        if shape is not None and shape.rank and shape[0] is not None:
            fixed.append(f"{t.name}: {shape}")
    failed = []
    for b in BATCH_SIZES:
        try:
            out = ctx.call(batch=b, cache=False)
            n = (
                getattr(out, "shape", (None,))[0]
                if hasattr(out, "shape")
                else None
            )
            if n is not None and n != b:
                failed.append(f"batch {b} returned batch {n}")
        except Exception as e:  # noqa: BLE001
            failed.append(f"batch {b}: {_short(e, 120)}")
    if fixed or failed:
        parts = []
        if fixed:
            parts.append(f"traces fix the batch size ({'; '.join(fixed[:3])})")
        if failed:
            parts.append("; ".join(failed))
        return Result(
            "R8",
            FAIL,
            ", ".join(parts) + "; trace with a None batch dimension, e.g. "
            "tf.TensorSpec([None, H, W, 3], tf.float32)",
        )
    sizes = ", ".join(map(str, BATCH_SIZES))
    return Result(
        "R8",
        PASS,
        f"batch dimension undefined in all {len(ctx.traces)} traces; "
        f"batch sizes {sizes} work",
    )


def r9(ctx: Context) -> Result:
    import tensorflow as tf

    from imagehub.spec import read_card

    tmp = tempfile.mkdtemp(prefix="imagehub-check-resave-")
    target = os.path.join(tmp, "model")
    try:
        tf.saved_model.save(ctx.obj, target)
        card_lost = ctx.card is not None and read_card(target) is None
    except Exception as e:  # noqa: BLE001
        return Result(
            "R9",
            FAIL,
            f"tf.saved_model.save of the loaded object failed: {_short(e)}",
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if card_lost:
        return Result(
            "R9",
            WARN,
            "re-saving works but drops the model card; track it as "
            "tf.saved_model.Asset so it survives",
        )
    return Result("R9", PASS, "the loaded object re-saves")
