"""`auto`: the fastest installed engine that kept parity, by measurement.

For a SavedModel (by content), input size, batch size and precision on
this machine (architecture and cores), `choose_engine` compiles every
installed engine (each verified against TensorFlow, see `compile_model`),
times each on the job's own images in interleaved rounds (the median of
`ROUNDS` per engine, so a noisy neighbour slows all of them alike), picks
the fastest and remembers the choice in the cache. Later runs read the
choice and load only the chosen engine's compiled model: TensorFlow does
not load the SavedModel.

A small job whose choice is not known yet runs on TensorFlow: compiling
costs seconds per engine (about 10 s for LiteRT's converter), which fewer
than `AUTO_MIN_IMAGES` images do not pay back. A bigger job's first run
compiles the engines that convert in about a second (OpenVINO) and times
them; an engine slow to convert (LiteRT: 5 to 20 s here) is compiled too
only when the job would still take `SLOW_COMPILE_PAYBACK_S` seconds or more
at the best measured speed (a shorter job cannot win back the conversion,
and made the first run slower than TensorFlow's: bench/results/engines.md),
or when its compiled model is already in the cache. `--engine litert`, or
`choose_engine` with no `num_images` (as `imagehub bench`), compiles it
whatever the job.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from imagehub.engines import _compile
from imagehub.engines import _store
from imagehub.engines._base import ENGINE_CHOICES
from imagehub.engines._base import CompiledModel
from imagehub.engines._base import check_engine
from imagehub.engines._errors import EngineError

logger = logging.getLogger(__name__)

AUTO_MIN_IMAGES = 1000
ROUNDS = 5
# Engines whose conversion takes many seconds (measured on this machine:
# LiteRT 7 s for MobileNetV3Small, 14 s for EfficientNetB0; OpenVINO 0.2
# to 0.6 s), and the job length at the best speed already measured from
# which a first run compiles them anyway.
SLOW_TO_COMPILE = ("litert",)
SLOW_COMPILE_PAYBACK_S = 60.0


@dataclasses.dataclass(frozen=True)
class EngineChoice:
    """Which engine `auto` picked, and why.

    Attributes:
        engine: The engine used.
        reason: One sentence for the user.
        images_per_second: What was measured per engine (may be empty).
        refused: engine -> why it was not a candidate.
    """

    engine: str
    reason: str
    images_per_second: Mapping[str, float] = dataclasses.field(
        default_factory=dict
    )
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _speeds(measured: Mapping[str, float]) -> str:
    ranked = sorted(measured.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{e} {v:.1f}" for e, v in ranked) + " images/s"


def cached_choice(
    model: str | os.PathLike[str],
    *,
    image_size: tuple[int, int],
    batch_size: int,
    precision: str = "float32",
) -> tuple[CompiledModel | None, EngineChoice] | None:
    """An earlier `auto` choice for this model here, without TensorFlow.

    Returns:
        (compiled model, choice) for LiteRT or OpenVINO, (None, choice)
        when TensorFlow was fastest, or None when nothing usable is
        remembered (never measured, or the chosen compiled model is gone).
    """
    model_dir = _compile._model_dir(model)
    digest = _store.content_hash(model_dir)
    path = _store.choice_path(digest, image_size, batch_size, precision)
    data = _store.read_json(path)
    if data is None or not isinstance(data.get("engine"), str):
        return None
    measured = dict(data.get("images_per_second") or {})
    choice = EngineChoice(
        engine=data["engine"],
        reason=f"auto: fastest here when measured ({_speeds(measured)})",
        images_per_second=measured,
        refused=dict(data.get("refused") or {}),
    )
    if choice.engine == "tensorflow":
        return None, choice
    try:
        compiled = _compile.load_compiled(
            model_dir,
            choice.engine,
            image_size=image_size,
            precision=precision,
            digest=digest,
        )
    except EngineError:
        return None
    if compiled is None:
        return None
    return compiled, choice


def choose_engine(
    model: str | os.PathLike[str],
    *,
    image_size: tuple[int, int],
    batch_size: int,
    probe_images: npt.ArrayLike | None = None,
    reference: Any = None,
    num_images: int | None = None,
    precision: str = "float32",
) -> tuple[CompiledModel, EngineChoice]:
    """Picks the engine for a job: remembered, measured, or TensorFlow.

    Args:
        model: A SavedModel directory or handle.
        image_size: (height, width).
        batch_size: The job's batch size (what is timed).
        probe_images: The job's first decoded images (parity probes and
            timing input); default: generated images.
        reference: The SavedModel loaded by TensorFlow, if it is.
        num_images: Images in the job; below `AUTO_MIN_IMAGES` nothing is
            compiled unless a choice is remembered. None: measure.
        precision: "float32" (auto never picks int8 by itself).

    Returns:
        (compiled model, choice).
    """
    remembered = cached_choice(
        model, image_size=image_size, batch_size=batch_size, precision=precision
    )
    model_dir = _compile._model_dir(model)
    if remembered is not None:
        compiled, choice = remembered
        if compiled is None:
            compiled = _compile.tensorflow_model(
                model_dir, image_size, reference
            )
        return compiled, choice
    # Loaded once, the reference of every engine.
    tensorflow = _compile.tensorflow_model(model_dir, image_size, reference)
    if num_images is not None and num_images < AUTO_MIN_IMAGES:
        return tensorflow, EngineChoice(
            engine="tensorflow",
            reason=(
                f"auto: {num_images} images, fewer than {AUTO_MIN_IMAGES}; "
                "compiling another engine would cost more than it saves "
                "(pass --engine litert or openvino to compile anyway)"
            ),
        )
    probes = probe_images
    if probes is None:
        probes = _compile.generated_probes(image_size)
    probes = np.asarray(probes, np.float32)
    digest = _store.content_hash(model_dir)
    quick = [
        e
        for e in ("litert", "openvino")
        if e not in SLOW_TO_COMPILE
        or num_images is None
        or _is_compiled(model_dir, e, image_size, precision, digest)
    ]
    candidates, refused = _compile.compile_engines(
        model_dir, quick, tensorflow, precision=precision, probe_images=probes
    )
    measured = time_engines(candidates, probes, batch_size)
    slow = [e for e in ("litert", "openvino") if e not in quick]
    if slow and num_images is not None:
        seconds = num_images / max(measured.values())
        if seconds >= SLOW_COMPILE_PAYBACK_S:
            more, refused_more = _compile.compile_engines(
                model_dir,
                slow,
                tensorflow,
                precision=precision,
                probe_images=probes,
            )
            candidates.update(more)
            refused.update(refused_more)
            measured = time_engines(candidates, probes, batch_size)
        else:
            for engine in slow:
                refused[engine] = (
                    f"not compiled: this job of {num_images} images takes "
                    f"about {seconds:.0f} s at the best speed measured, "
                    f"less than {SLOW_COMPILE_PAYBACK_S:.0f} s, too short to "
                    f"win back {engine}'s conversion (5 to 20 s); "
                    f"--engine {engine} compiles it"
                )
    best = max(measured, key=lambda engine: measured[engine])
    _store.write_json(
        _store.choice_path(digest, image_size, batch_size, precision),
        {
            "engine": best,
            "images_per_second": measured,
            "refused": refused,
            "batch_size": batch_size,
            "machine": _store.machine_id(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    skipped = [e for e in refused if refused[e].startswith("not compiled")]
    choice = EngineChoice(
        engine=best,
        reason=f"auto: fastest of the engines that kept parity, measured "
        f"now ({_speeds(measured)})"
        + (
            f"; {', '.join(skipped)} not compiled, as the job is too short "
            "to win back the conversion"
            if skipped
            else ""
        ),
        images_per_second=measured,
        refused=refused,
    )
    return candidates[best], choice


def _is_compiled(
    model_dir: str,
    engine: str,
    image_size: tuple[int, int],
    precision: str,
    digest: str,
) -> bool:
    """Whether the cache has `engine`'s compiled model of this SavedModel."""
    try:
        found = _compile.load_compiled(
            model_dir,
            engine,
            image_size=image_size,
            precision=precision,
            digest=digest,
        )
    except EngineError:
        return False
    return found is not None


def select_engine(
    model: str | os.PathLike[str],
    engine: str,
    *,
    image_size: tuple[int, int],
    batch_size: int,
    probe_images: npt.ArrayLike | None = None,
    reference: Any = None,
    num_images: int | None = None,
) -> tuple[CompiledModel, EngineChoice]:
    """The float32 model a job's `--engine` asks for, and why it runs.

    `auto` is `choose_engine`; `tensorflow` runs the SavedModel itself;
    `litert` and `openvino` are compiled (or read from the cache) and
    verified against TensorFlow on `probe_images` (`compile_model`).

    Args:
        model: A SavedModel directory or handle.
        engine: One of `ENGINE_CHOICES`.
        image_size: (height, width).
        batch_size: The job's batch size (what `auto` times).
        probe_images: The job's first decoded images (parity probes).
        reference: The SavedModel loaded by TensorFlow, if it is.
        num_images: Images in the job (`auto` compiles only for big ones).

    Returns:
        (compiled model, choice); `choice.reason` is one line for the user.

    Raises:
        ValueError: An unknown engine.
        EngineError: The engine is not installed, cannot convert the
            model, or differs from TensorFlow (`ParityError`).
    """
    check_engine(engine, ENGINE_CHOICES)
    if engine == "auto":
        return choose_engine(
            model,
            image_size=image_size,
            batch_size=batch_size,
            probe_images=probe_images,
            reference=reference,
            num_images=num_images,
        )
    compiled = _compile.compile_model(
        model,
        engine,
        image_size=image_size,
        probe_images=probe_images,
        reference=reference,
    )
    how = _compile.describe_check(compiled.info)
    if compiled.from_cache:
        how = f"compiled model from the cache, {how}"
    return compiled, EngineChoice(
        engine=engine, reason=f"--engine {engine}; {how}"
    )


def time_engines(
    models: Mapping[str, CompiledModel],
    images: np.ndarray,
    batch_size: int,
    rounds: int = ROUNDS,
) -> dict[str, float]:
    """Images/s of each model on a batch of `batch_size` images made of
    `images`: one warm-up call, then `rounds` interleaved timed calls,
    median per model."""
    reps = -(-batch_size // len(images))
    batch = np.concatenate([images] * reps)[:batch_size]
    for model in models.values():
        model(batch)  # warm-up: first-call allocations
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model(batch)
            times[name].append(time.perf_counter() - start)
    return {
        name: round(batch_size / statistics.median(t), 2)
        for name, t in times.items()
    }
