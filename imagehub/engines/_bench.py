"""`benchmark`: images/s of each engine on one model, side by side.

One process compiles the model for each engine asked for (verified
against TensorFlow as `compile_model` always does; an engine that is
refused or not installed gets a row saying why), then times all of them
in interleaved rounds on the same batch (`time_engines`: a warm-up call,
then the median of `rounds` calls each, so a noisy neighbour slows every
engine alike). TensorFlow is always measured: it is the baseline of
`vs_tensorflow`. What `imagehub bench` prints and what bench/engines.py
reports for "the model alone".
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import statistics
import time
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from imagehub.engines import _compile
from imagehub.engines._auto import ROUNDS
from imagehub.engines._base import ENGINES
from imagehub.engines._base import CompiledModel
from imagehub.engines._base import check_engine
from imagehub.engines._base import check_precision
from imagehub.engines._base import cpu_threads
from imagehub.engines._errors import EngineError

logger = logging.getLogger(__name__)

# `auto`'s rounds: `imagehub bench` shows what `auto` measures.
BENCH_ROUNDS = ROUNDS
BENCH_BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class BenchmarkRow:
    """One engine's figures.

    Attributes:
        engine: One of `ENGINES`.
        precision: "float32" or "int8".
        version: The engine runtime's version ("" when not installed).
        images_per_second: Median over the rounds; None when refused.
        vs_tensorflow: images_per_second over TensorFlow's.
        check: How the compiled model was verified, or why it was refused.
        max_relative_difference: float32 parity with TensorFlow.
        agreement: int8 only: agreement with the float model.
        compile_seconds: Conversion time (0 when read from the cache).
        refused: Why the engine did not run, else None.
    """

    engine: str
    precision: str
    version: str
    images_per_second: float | None
    vs_tensorflow: float | None
    check: str
    max_relative_difference: float | None = None
    agreement: float | None = None
    compile_seconds: float = 0.0
    refused: str | None = None


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """A benchmark run: the rows and what they were measured on.

    Attributes:
        model: The SavedModel directory.
        image_size: (height, width).
        batch_size: Images per timed call.
        rounds: Timed calls per engine.
        precision: The precision asked for (TensorFlow runs float32).
        machine: Cores, CPU, Python and runtime versions.
        rows: One per engine, TensorFlow first.
    """

    model: str
    image_size: tuple[int, int]
    batch_size: int
    rounds: int
    precision: str
    machine: str
    rows: tuple[BenchmarkRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(engines: Sequence[str] = ENGINES) -> str:
    """``N cores, CPU, Python X, tensorflow Y, litert Z, ...``."""
    parts = [
        f"{cpu_threads()} cores",
        cpu_name(),
        f"Python {platform.python_version()}",
    ]
    for engine in engines:
        try:
            parts.append(f"{engine} {_compile.engine_version(engine)}")
        except EngineError:
            parts.append(f"{engine} not installed")
    return ", ".join(parts)


def _installed(engine: str) -> str:
    """The engine's runtime version, or "" when it is not installed."""
    try:
        return _compile.engine_version(engine)
    except EngineError:
        return ""


def benchmark(
    model: str | os.PathLike[str],
    *,
    engines: Sequence[str] = ENGINES,
    batch_size: int = BENCH_BATCH_SIZE,
    precision: str = "float32",
    rounds: int = BENCH_ROUNDS,
    image_size: Any = None,
    images: npt.ArrayLike | None = None,
    calibration_images: npt.ArrayLike | None = None,
    min_agreement: float = 0.0,
    use_cache: bool = True,
) -> BenchmarkResult:
    """Measures images/s of each engine on `model` in one process.

    Args:
        model: A SavedModel directory or handle.
        engines: Engines to compare; TensorFlow is always added (first).
        batch_size: Images per timed call.
        precision: "float32", or "int8" for the engines other than
            TensorFlow (LiteRT only; others get a refused row).
        rounds: Interleaved timed calls per engine (the median counts).
        image_size: (height, width); default: the model's
            (`hub.resolve_facts`: its card, its traces, its handle).
        images: float32 (n, height, width, 3) images in [0, 1]: parity
            probes (int8: held back from calibration) and the timed batch
            (repeated up to `batch_size`); default: generated images.
        calibration_images: int8 only; default: generated images other
            than the probes.
        min_agreement: int8: refuse below this agreement (default 0:
            measured and reported, not enforced).
        use_cache: False compiles anew and caches nothing.

    Returns:
        The rows, TensorFlow first, and the machine line.

    Raises:
        ValueError: An unknown engine or precision, or a bad batch size.
    """
    check_precision(precision)
    for engine in engines:
        check_engine(engine)
    if batch_size < 1 or rounds < 1:
        raise ValueError(
            f"batch_size and rounds must be at least 1, got {batch_size} "
            f"and {rounds}"
        )
    model_dir = _compile._model_dir(model)
    facts, reference = _compile.model_facts(model_dir, image_size)
    size = facts.require_size()
    probes = images
    if probes is None:
        probes = _compile.generated_probes(size)
    probes = np.asarray(probes, np.float32)
    calibration = calibration_images
    if precision == "int8" and calibration is None:
        # Generated images other than the probes: a later slice.
        generated = _compile.generated_probes(size, 2 * _compile.PROBES)
        calibration = generated[_compile.PROBES :]
    # Loaded once, the reference of every engine.
    tensorflow = _compile.tensorflow_model(model_dir, size, reference)
    compiled, refused = _compile.compile_engines(
        model_dir,
        engines,
        tensorflow,
        precision=precision,
        probe_images=images,
        calibration_images=calibration,
        min_agreement=min_agreement,
        use_cache=use_cache,
    )
    start = time.perf_counter()
    speeds = time_engines(compiled, probes, batch_size, rounds)
    logger.debug("bench: timed in %.1f s", time.perf_counter() - start)
    baseline = speeds["tensorflow"]
    rows = []
    for engine in ("tensorflow", *dict.fromkeys(engines)):
        if engine in refused:
            why = refused[engine]
            rows.append(
                BenchmarkRow(
                    engine=engine,
                    precision=precision,
                    version=_installed(engine),
                    images_per_second=None,
                    vs_tensorflow=None,
                    check=f"refused: {why}",
                    refused=why,
                )
            )
            continue
        if engine not in compiled or any(r.engine == engine for r in rows):
            continue
        info = compiled[engine].info
        speed = speeds[engine]
        rows.append(
            BenchmarkRow(
                engine=engine,
                precision=info.precision,
                version=info.version,
                images_per_second=speed,
                vs_tensorflow=round(speed / baseline, 2) if baseline else None,
                check=_compile.describe_check(info),
                max_relative_difference=info.max_relative_difference,
                agreement=info.agreement,
                compile_seconds=info.compile_seconds,
            )
        )
    return BenchmarkResult(
        model=model_dir,
        image_size=size,
        batch_size=batch_size,
        rounds=rounds,
        precision=precision,
        machine=machine_line(),
        rows=tuple(rows),
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
