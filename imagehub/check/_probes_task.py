"""Probes of the task's output (F or C), determinism and the card (M)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from imagehub.check._context import Context
from imagehub.check._context import describe
from imagehub.check._graph import FunctionGraph
from imagehub.check._graph import dropout_on_output
from imagehub.check._graph import probability_output
from imagehub.check._probes import _short
from imagehub.check._report import FAIL
from imagehub.check._report import PASS
from imagehub.check._report import SKIP
from imagehub.check._report import WARN
from imagehub.check._report import Result
from imagehub.spec import INPUT_IMAGE_BYTES
from imagehub.spec import INPUT_IMAGES
from imagehub.spec import OUTPUT_KEYS
from imagehub.spec import SIGNATURE_BYTES
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR

logger = logging.getLogger(__name__)

# Output widths that mean "ImageNet classifier" when there is no card.
_IMAGENET_WIDTHS = (1000, 1001)


def infer_task(ctx: Context) -> tuple[str, str]:
    """Guesses the task of a model without a card; returns (task, why)."""
    sigs = getattr(ctx.obj, "signatures", None) or {}
    for name in sigs:
        try:
            outputs = sigs[name].structured_outputs
        except Exception:  # noqa: BLE001, S112 - any odd signature
            continue
        if isinstance(outputs, dict):
            for task, key in OUTPUT_KEYS.items():
                if key in outputs:
                    return task, f"signature {name!r} outputs {key!r}"
    if ctx.fn is None:
        return TASK_FEATURE_VECTOR, "no __call__ to probe"
    try:
        out = ctx.base_output()
    except Exception:  # noqa: BLE001
        return TASK_FEATURE_VECTOR, "the model could not be called"
    if isinstance(out, np.ndarray) and out.ndim == 2:
        if out.shape[1] in _IMAGENET_WIDTHS:
            return TASK_CLASSIFICATION, f"{out.shape[1]} outputs (ImageNet)"
        return TASK_FEATURE_VECTOR, f"{out.shape[1]} outputs"
    return TASK_FEATURE_VECTOR, f"output is {describe(out)}"


def _base(ctx: Context) -> tuple[Any, str | None]:
    try:
        return ctx.base_output(), None
    except Exception as e:  # noqa: BLE001
        return None, _short(e)


def output_shape(ctx: Context, rule: str) -> Result:
    """F1 / C1: one float32 tensor of rank 2."""
    what = "features" if rule == "F1" else "logits"
    out, error = _base(ctx)
    h, w = ctx.size
    if error:
        return Result(
            rule, FAIL, f"calling on {ctx.batch}x{h}x{w}x3 failed: {error}"
        )
    if not isinstance(out, np.ndarray):
        return Result(
            rule,
            FAIL,
            f"__call__ returns a {describe(out)}; it must return one float32 "
            f"tensor of {what} [batch, n]",
        )
    problems = []
    if out.dtype != np.float32:
        problems.append(f"dtype {out.dtype}")
    if out.ndim != 2:
        problems.append(f"rank {out.ndim} (shape {list(out.shape)})")
    if problems:
        hint = " add global pooling or flatten;" if out.ndim > 2 else ""
        return Result(
            rule,
            FAIL,
            f"output has {' and '.join(problems)}; it must be float32 "
            f"[batch, n] {what};{hint} cast to float32 inside the model",
        )
    return Result(
        rule, PASS, f"one float32 tensor {list(out.shape)} for {h}x{w} input"
    )


def output_constant(ctx: Context, rule: str) -> Result:
    """F2 / C2: batch preserved, width constant across input sizes."""
    out, error = _base(ctx)
    if error or not isinstance(out, np.ndarray) or out.ndim != 2:
        return Result(rule, SKIP, f"needs a rank-2 output (see {rule[0]}1)")
    if out.shape[0] != ctx.batch:
        return Result(
            rule,
            FAIL,
            f"input batch {ctx.batch} gave output batch {out.shape[0]}",
        )
    widths = {}
    for size, o in ctx.size_outputs.items():
        if isinstance(o, np.ndarray) and o.ndim == 2:
            widths[size] = o.shape[1]
    widths.setdefault(ctx.size, out.shape[1])
    if len(set(widths.values())) > 1:
        seen = ", ".join(f"{h}x{w}: {n}" for (h, w), n in widths.items())
        return Result(
            rule,
            FAIL,
            f"the output width changes with the input size ({seen}); pool "
            "globally instead of flattening so it is a constant",
        )
    n = out.shape[1]
    sizes = ", ".join(f"{h}x{w}" for h, w in widths)
    return Result(
        rule, PASS, f"batch preserved; width {n} at every size ({sizes})"
    )


def _graphs(ctx: Context, training: bool) -> list[Any]:
    """(trace, graph) of the traces in that mode that return one tensor.

    Traces returning a structure (e.g. TF1 hub modules' return_endpoints
    option) are not the call consumers make.
    """
    import tensorflow as tf

    found = []
    for t in ctx.traces:
        mode = t.training()
        if mode is not training and (training or mode is True):
            continue
        if not isinstance(t.fn.structured_outputs, tf.Tensor | tf.TensorSpec):
            continue
        found.append((t, FunctionGraph.from_concrete_function(t.fn)))
    return found


def f3(ctx: Context) -> Result:
    graphs = _graphs(ctx, training=True)
    if not graphs:
        return Result("F3", SKIP, "no training=True trace to inspect (see R3)")
    for t, graph in graphs:
        hit = dropout_on_output(graph)
        if hit:
            return Result(
                "F3",
                FAIL,
                f"in the training trace {t.name}, the random op {hit} "
                "reaches the output without a weight layer in between: "
                "dropout on the output features; remove it (consumers add "
                "their own)",
            )
    return Result(
        "F3",
        PASS,
        f"no random op reaches the output directly in {len(graphs)} "
        "training trace(s)",
    )


def c3(ctx: Context) -> Result:
    for t, graph in _graphs(ctx, training=False):
        hit = probability_output(graph)
        if hit:
            return Result(
                "C3",
                FAIL,
                f"the output of {t.name} is computed by {hit}: the model "
                "returns probabilities; return the logits (the input of the "
                "softmax/sigmoid) and name the activation in the card",
            )
    out, error = _base(ctx)
    if error is None and isinstance(out, np.ndarray) and out.ndim == 2:
        rows = out.astype(np.float64)
        if (
            rows.size
            and rows.min() >= 0.0
            and rows.max() <= 1.0
            and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3)
        ):
            return Result(
                "C3",
                WARN,
                "outputs look like probabilities (rows in [0, 1] summing to "
                "1); the contract asks for logits",
            )
    if ctx.card is None:
        return Result(
            "C3",
            WARN,
            "outputs are not probabilities, but no model card says softmax "
            "or sigmoid or where the labels are",
        )
    labels = "labels in the card" if ctx.card.labels else "no labels in card"
    msg = f"logits; activation {ctx.card.activation}; {labels}"
    if not ctx.card.labels:
        return Result("C3", WARN, msg + "; add the label names to the card")
    return Result("C3", PASS, msg)


def fine_tuning(ctx: Context, rule: str) -> Result:
    return Result(rule, SKIP, "checked as R3 to R7")


def d1(ctx: Context) -> Result:
    try:
        out = ctx.call(cache=False)
    except Exception:  # noqa: BLE001
        return Result("D1", SKIP, "the model could not be called")
    try:
        again = ctx.call(cache=False)
    except Exception as e:  # noqa: BLE001
        return Result("D1", WARN, f"a second call failed: {_short(e)}")
    import tensorflow as tf

    a = [np.asarray(x) for x in tf.nest.flatten(out)]
    b = [np.asarray(x) for x in tf.nest.flatten(again)]
    if all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)):
        return Result("D1", PASS, "two inference calls give identical output")
    diff = max(
        float(np.max(np.abs(x.astype(np.float64) - y)))
        for x, y in zip(a, b, strict=True)
    )
    return Result(
        "D1",
        WARN,
        f"two inference calls on the same input differ (max {diff:.3g}); "
        "inference mode should not be random",
    )


def m1(ctx: Context) -> Result:
    if ctx.card_error:
        return Result("M1", FAIL, ctx.card_error)
    card = ctx.card
    if card is None:
        return Result(
            "M1",
            WARN,
            "no model card (assets/imagehub.json); models from other "
            "publishers have none, so the task and input size were "
            + ("given" if ctx.task_source == "argument" else "inferred"),
        )
    problems = []
    if card.task != ctx.task:
        problems.append(
            f"card says task {card.task!r}, checked as {ctx.task!r}"
        )
    out, error = _base(ctx)
    if error is None and isinstance(out, np.ndarray) and out.ndim == 2:
        if ctx.size == tuple(card.default_size) and (
            out.shape[1] != card.num_outputs
        ):
            problems.append(
                f"card says {card.num_outputs} outputs, the model returns "
                f"{out.shape[1]}"
            )
    lo, hi = card.min_size, card.max_size
    d = card.default_size
    if lo and (d[0] < lo[0] or d[1] < lo[1]):
        problems.append(f"default size {d} is below min_size {lo}")
    if hi and (d[0] > hi[0] or d[1] > hi[1]):
        problems.append(f"default size {d} is above max_size {hi}")
    if problems:
        return Result(
            "M1",
            FAIL,
            "the card disagrees with the model: " + "; ".join(problems),
        )
    return Result(
        "M1",
        PASS,
        f"card: {card.task}, {card.num_outputs} outputs, default size "
        f"{d[0]}x{d[1]}, consistent with the model",
    )


def m2(ctx: Context) -> Result:
    sigs = getattr(ctx.obj, "signatures", None) or {}
    names = list(sigs.keys()) if hasattr(sigs, "keys") else []
    card = ctx.card
    if card is None:
        if not names:
            return Result(
                "M2",
                WARN,
                "no serving signatures (and no card asking for "
                "them); model servers cannot use it",
            )
        wanted = [n for n in (SIGNATURE_FLOAT, SIGNATURE_BYTES) if n in names]
        results = [_probe_signature(ctx, sigs[n], n) for n in wanted]
        problems = [r for r in results if r]
        msg = f"signatures: {', '.join(names)}"
        if problems or SIGNATURE_FLOAT not in names:
            return Result(
                "M2",
                WARN,
                msg + "; " + ("; ".join(problems) or f"no {SIGNATURE_FLOAT}"),
            )
        return Result("M2", WARN, msg + " work; no card lists them")
    listed = list(card.signatures)
    if not listed:
        return Result(
            "M2",
            WARN,
            f"the card lists no serving signatures; add {SIGNATURE_FLOAT} "
            f"and {SIGNATURE_BYTES}",
        )
    problems = []
    for name in listed:
        if name not in names:
            problems.append(f"{name!r} is in the card but not in the model")
            continue
        problem = _probe_signature(ctx, sigs[name], name)
        if problem:
            problems.append(problem)
    if problems:
        return Result(
            "M2",
            FAIL,
            "; ".join(problems) + f" (model has: {', '.join(names) or 'none'})",
        )
    missing = [s for s in (SIGNATURE_FLOAT, SIGNATURE_BYTES) if s not in names]
    if missing:
        return Result(
            "M2",
            WARN,
            f"{', '.join(listed)} work; no {' or '.join(missing)} signature",
        )
    return Result("M2", PASS, f"signatures {', '.join(listed)} work")


def _probe_signature(ctx: Context, fn: Any, name: str) -> str | None:
    """Calls a serving signature on probe input; returns a problem or None."""
    import tensorflow as tf

    _, kwargs = fn.structured_input_signature
    if len(kwargs) != 1:
        return f"{name!r} takes inputs {sorted(kwargs)}, expected one"
    ((key, spec),) = kwargs.items()
    batch = spec.shape[0] if spec.shape.rank and spec.shape[0] else 2
    try:
        if spec.dtype == tf.string:
            if key != INPUT_IMAGE_BYTES:
                return (
                    f"{name!r} input is {key!r}, expected {INPUT_IMAGE_BYTES!r}"
                )
            img = (ctx.images(1, ctx.size)[0] * 255).astype(np.uint8)
            jpeg = tf.io.encode_jpeg(img).numpy()
            out = fn(**{key: tf.constant([jpeg] * batch)})
        else:
            if key != INPUT_IMAGES:
                return f"{name!r} input is {key!r}, expected {INPUT_IMAGES!r}"
            h = (
                spec.shape[1]
                if spec.shape.rank == 4 and spec.shape[1]
                else (ctx.size[0])
            )
            w = (
                spec.shape[2]
                if spec.shape.rank == 4 and spec.shape[2]
                else (ctx.size[1])
            )
            out = fn(**{key: tf.constant(ctx.images(batch, (h, w)))})
    except Exception as e:  # noqa: BLE001
        return f"{name!r} failed: {_short(e, 160)}"
    want = OUTPUT_KEYS.get(ctx.task or "", None)
    if want and want not in out:
        return f"{name!r} outputs {sorted(out)}, expected {want!r}"
    value = out[want] if want else next(iter(out.values()))
    if value.shape.rank != 2 or value.shape[0] != batch:
        return f"{name!r} output {want!r} has shape {value.shape}"
    return None
