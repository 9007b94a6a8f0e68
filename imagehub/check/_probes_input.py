"""Probes of the image input (I) on a loaded model."""

from __future__ import annotations

from imagehub.check._context import Context
from imagehub.check._graph import FunctionGraph
from imagehub.check._graph import channels_first_formats
from imagehub.check._probes import _short
from imagehub.check._report import FAIL
from imagehub.check._report import PASS
from imagehub.check._report import SKIP
from imagehub.check._report import WARN
from imagehub.check._report import Result


def i1(ctx: Context) -> Result:
    problems = []
    for t, spec in zip(ctx.traces, ctx.input_specs(), strict=True):
        dtype = getattr(spec, "dtype", None)
        shape = getattr(spec, "shape", None)
        if dtype is None or shape is None:
            problems.append(f"{t.name}: input is {type(spec).__name__}")
            continue
        if dtype.name != "float32":
            problems.append(f"{t.name}: dtype {dtype.name}")
        if shape.rank is not None and (shape.rank != 4 or shape[3] != 3):
            problems.append(f"{t.name}: shape {shape}")
    if problems:
        return Result(
            "I1",
            FAIL,
            "input is not float32 [batch, height, width, 3] in "
            + "; ".join(problems[:3]),
        )
    return Result(
        "I1",
        PASS,
        f"all {len(ctx.traces)} traces take float32 [batch, height, width, 3]",
    )


def i2(ctx: Context) -> Result:
    if ctx.card is None:
        return Result(
            "I2",
            WARN,
            "no model card documents the input range; the contract is RGB "
            "in [0, 1] (not checkable from the outside)",
        )
    lo, hi = ctx.card.input_range
    if (float(lo), float(hi)) != (0.0, 1.0):
        return Result(
            "I2",
            FAIL,
            f"the card says the input range is [{lo}, {hi}]; the model must "
            "take [0, 1] and rescale inside",
        )
    return Result("I2", PASS, "the card documents RGB input in [0, 1]")


def i3(ctx: Context) -> Result:
    return Result("I3", SKIP, "checked as R8 (batch sizes 1, 3 and 8)")


def probe_sizes(ctx: Context) -> tuple[list[tuple[int, int]], str]:
    """The sizes I4 probes and how they were chosen."""
    card = ctx.card
    h, w = ctx.size
    if card is not None and card.fixed_size:
        return [card.default_size], "fixed size in the card"
    static = ctx.static_size() if card is None else None
    if static is not None:
        return [static], "fixed by the traces"
    sizes: list[tuple[int, int]] = []
    lo = card.min_size if card is not None else None
    hi = card.max_size if card is not None else None
    if lo:
        sizes.append(lo)
    sizes.append((h, w))
    # A non-square size inside the range.
    w2 = w + max(8, w // 4)
    if hi and w2 > hi[1]:
        w2 = max(lo[1] if lo else 1, w - max(8, w // 4))
    if w2 != h:
        sizes.append((h, w2))
    if hi:
        sizes.append(hi)
    unique = list(dict.fromkeys(sizes))
    how = "the card's range" if card is not None else "no card: guessed"
    return unique, how


def i4(ctx: Context) -> Result:
    sizes, how = probe_sizes(ctx)
    failed = []
    for size in sizes:
        try:
            out = ctx.call(size=size)
            ctx.size_outputs[size] = out
        except Exception as e:  # noqa: BLE001
            failed.append(f"{size[0]}x{size[1]}: {_short(e, 120)}")
    listed = ", ".join(f"{h}x{w}" for h, w in sizes)
    if ctx.card is None:
        msg = (
            f"no model card documents the permitted sizes; probed {listed} "
            f"({how})"
        )
        if failed:
            msg += "; failed: " + "; ".join(failed)
        return Result("I4", WARN, msg + "; document them in a card (M1)")
    if failed:
        return Result(
            "I4",
            FAIL,
            f"sizes the card permits fail: {'; '.join(failed)}; fix the "
            "card's size range or the model",
        )
    return Result("I4", PASS, f"every probed size works: {listed} ({how})")


def i5(ctx: Context) -> Result:
    found: list[str] = []
    for t in ctx.traces:
        graph = FunctionGraph.from_concrete_function(t.fn)
        found.extend(channels_first_formats(graph))
    found = list(dict.fromkeys(found))
    if found:
        return Result(
            "I5",
            FAIL,
            f"{len(found)} channels-first ops in the traced graphs, e.g. "
            f"{'; '.join(found[:3])}; build the model channels_last (NHWC)",
        )
    return Result(
        "I5", PASS, f"no channels-first data_format in {len(ctx.traces)} traces"
    )
