"""The checker: scan, load, probe every rule, report."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from imagehub.check import _probes as P
from imagehub.check import _probes_input as In
from imagehub.check import _probes_task as T
from imagehub.check._context import Context
from imagehub.check._report import FAIL
from imagehub.check._report import SKIP
from imagehub.check._report import Report
from imagehub.check._report import Result
from imagehub.hub import HubError
from imagehub.hub import ModelFacts
from imagehub.hub import facts_from
from imagehub.scan import ScanResult
from imagehub.scan import scan
from imagehub.spec import DEFAULT_IMAGE_SIZE
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import TASKS
from imagehub.spec import parse_image_size
from imagehub.spec import read_card
from imagehub.spec import rules_for_task

logger = logging.getLogger(__name__)

# Rules that need a working __call__ (all but R9 and the card's).
_NEEDS_CALL = (
    frozenset(
        {"R2", "R3", "R4", "R5", "R6", "R7", "R8", "I1", "I3", "I4", "I5"}
    )
    | {f"{g}{i}" for g in "FC" for i in range(1, 5)}
    | {"D1"}
)
# Rules that call __call__ with the images alone: skipped when R2 finds
# that it requires more (every such call would fail the same way).
_CALLS_WITH_IMAGES = frozenset(
    {"R3", "R4", "R8", "I4", "F1", "F2", "C1", "C2", "D1"}
)


def _probe_table(task: str) -> list[tuple[str, Callable[[Context], Result]]]:
    own = "F" if task == TASK_FEATURE_VECTOR else "C"
    table: dict[str, Callable[[Context], Result]] = {
        "R1": P.r1,
        "R2": P.r2,
        "R3": P.r3,
        "R4": P.r4,
        "R5": P.r5,
        "R6": P.r6,
        "R7": P.r7,
        "R8": P.r8,
        "R9": P.r9,
        "I1": In.i1,
        "I2": In.i2,
        "I3": In.i3,
        # I4 before F2/C2: it records the outputs at each size.
        "I4": In.i4,
        "I5": In.i5,
        f"{own}1": lambda c: T.output_shape(c, f"{own}1"),
        f"{own}2": lambda c: T.output_constant(c, f"{own}2"),
        f"{own}3": T.f3 if own == "F" else T.c3,
        f"{own}4": lambda c: T.fine_tuning(c, f"{own}4"),
        "D1": T.d1,
        "M1": T.m1,
        "M2": T.m2,
    }
    order = [*rules_for_task(task)]
    order.insert(order.index("M1"), "D1")
    return [(rule, table[rule]) for rule in order if rule in table]


def _resolve(path_or_handle: str | os.PathLike[str]) -> str:
    from imagehub.hub import resolve

    return resolve(path_or_handle)


def check(
    path_or_handle: str | os.PathLike[str],
    task: str | None = None,
    image_size: int | tuple[int, int] | None = None,
    trust: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Checks an image SavedModel against every rule of SPEC.md.

    First scans the protobuf without loading anything (`scan`); a model
    with ops that touch files or the host is refused unless `trust`. Then
    loads it and probes each rule of the task (R, I, F or C, M) plus D1
    (deterministic inference).

    Rules M1 and M2 (imagehub's model card and signatures) WARN, never
    FAIL, when a model has no card, as models from other publishers do;
    they FAIL when a card is present and disagrees with the model.

    Args:
        path_or_handle: A SavedModel directory or any handle
            `imagehub.resolve` accepts.
        task: ``"feature_vector"`` or ``"classification"``; default: the
            card's, else inferred from the model (and said so).
        image_size: (height, width) of the probes; default: the card's
            default size, else the traces' fixed size, else 224x224.
        trust: Load the model even when the scan refuses it.
        progress: Called with each rule ID before it is probed.

    Returns:
        The Report; `report.exit_code` is 0 (conforming), 1 (some rule
        fails) or 2 (refused, not loadable).

    Raises:
        ValueError: `task` or `image_size` is not valid.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}")
    size = parse_image_size(image_size)
    try:
        path = _resolve(path_or_handle)
    except (HubError, OSError) as e:
        return _not_checked(os.fspath(path_or_handle), task, size, None, e)
    try:
        scan_result = scan(path)
    except (FileNotFoundError, ValueError) as e:
        return _not_checked(path, task, size, None, e)
    if scan_result.refused and not trust:
        return _unloaded(
            path,
            task,
            size,
            scan_result,
            f"refused by the safety scan: {', '.join(scan_result.ops)} "
            "(see scan); nothing was loaded. Pass --trust (trust=True) "
            "to load it anyway",
        )
    card, card_error = None, None
    try:
        card = read_card(path)
    except ValueError as e:
        card_error = str(e)
    import tensorflow as tf

    logger.info("Loading %s", path)
    try:
        obj = tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001 - any load error
        return _not_checked(path, task, size, scan_result, e)
    ctx = Context(obj, path, card, card_error)
    facts = facts_from(
        obj,
        card,
        handle=os.fspath(path_or_handle),
        path=path,
        image_size=size,
        task=task,
    )
    notes = _choose_size(ctx, facts)
    chosen, task_notes = _choose_task(ctx, facts)
    notes += task_notes
    results = []
    r1_failed = r2_failed = False
    for rule, probe in _probe_table(chosen):
        if progress is not None:
            progress(rule)
        if r1_failed and rule in _NEEDS_CALL:
            results.append(Result(rule, SKIP, "needs __call__ (R1 failed)"))
            continue
        if r2_failed and rule in _CALLS_WITH_IMAGES:
            results.append(
                Result(rule, SKIP, "needs __call__(images) to work (R2 failed)")
            )
            continue
        try:
            result = probe(ctx)
        except Exception as e:  # noqa: BLE001 - a probe's crash is a finding
            logger.debug("Probe %s raised", rule, exc_info=True)
            result = Result(rule, FAIL, f"probe raised {type(e).__name__}: {e}")
        if rule == "R1" and result.status == FAIL:
            r1_failed = True
        if rule == "R2" and result.status == FAIL and ctx.argspec:
            r2_failed = len(P.required_args(ctx.argspec)) > 1
        logger.debug("%s %s %s", rule, result.status, result.message)
        results.append(result)
    if scan_result.refused:
        notes.append("loaded despite the scan's refusal (trust=True)")
    return Report(
        path=path,
        task=ctx.task,
        task_source=ctx.task_source,
        image_size=ctx.size,
        scan=scan_result,
        results=tuple(results),
        loaded=True,
        notes=tuple(notes),
    )


# Where the probes' image size came from, when a note should say so.
_SIZE_NOTES = {
    "traces": "taken from the traces",
    "signature": "taken from the serving signature",
    "handle": "taken from the handle's name",
}


def _choose_size(ctx: Context, facts: ModelFacts) -> list[str]:
    if facts.image_size is not None:
        ctx.size, ctx.size_source = facts.image_size, facts.size_source
        if facts.size_source not in _SIZE_NOTES:
            return []
        h, w = facts.image_size
        return [f"image size {h}x{w} {_SIZE_NOTES[facts.size_source]}"]
    h, w = ctx.size = DEFAULT_IMAGE_SIZE
    ctx.size_source = "fallback"
    return [
        f"no card and no fixed size in the traces: probed at {h}x{w} "
        "(pass image_size / --image_size to choose)"
    ]


def _choose_task(ctx: Context, facts: ModelFacts) -> tuple[str, list[str]]:
    """The task to check against (also set on `ctx`), and notes."""
    if facts.task is not None:
        ctx.task, ctx.task_source = facts.task, facts.task_source
        return facts.task, []
    task, why = T.infer_task(ctx)
    ctx.task, ctx.task_source = task, "inferred"
    return task, [
        f"task inferred as {task} ({why}); pass task / --task to choose"
    ]


def _not_checked(
    path: str,
    task: str | None,
    size: tuple[int, int] | None,
    scan_result: ScanResult | None,
    error: BaseException,
) -> Report:
    text = " ".join(str(error).split())
    what = "not loadable" if scan_result is not None else "not found"
    return _unloaded(
        path, task, size, scan_result, f"{what}: {type(error).__name__}: {text}"
    )


def _unloaded(
    path: str,
    task: str | None,
    size: tuple[int, int] | None,
    scan_result: ScanResult | None,
    error: str,
) -> Report:
    """The report of a model that was not loaded, saying why."""
    return Report(
        path=path,
        task=task,
        task_source="argument" if task else "unknown",
        image_size=size,
        scan=scan_result,
        error=error,
    )
