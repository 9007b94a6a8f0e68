"""`auto`: the fastest installed engine that kept parity, by measurement.

For a SavedModel (by content), input size, batch size and precision on
this machine (architecture and cores), `choose_engine` compiles the
installed engines in the background (each verified against TensorFlow,
see `compile_model`) and returns a `Race`, which TensorFlow starts: the
engines take turns on the job's own batches (interleaved, the median of
up to `ROUNDS` timed batches each, so a noisy neighbour slows all of them
alike, and no image is run twice), the fastest runs the rest of the job,
and the choice is remembered in the cache. Later runs read the choice and
load only the chosen engine's compiled model: TensorFlow does not load
the SavedModel.

A small job whose choice is not known yet runs on TensorFlow: compiling
costs seconds per engine (about 10 s for LiteRT's converter), which fewer
than `AUTO_MIN_IMAGES` images do not pay back. A bigger job's first run
compiles the engines that convert in about a second (OpenVINO) and races
them; an engine slow to convert (LiteRT: 5 to 20 s here) joins the race
only when the rest of the job would still take `SLOW_COMPILE_PAYBACK_S`
seconds or more at the leader's speed (a shorter job cannot win back the
conversion, and made the first run slower than TensorFlow's:
bench/results/engines.md), or when its compiled model is already in the
cache. `--engine litert`, or `choose_engine` with no `num_images` (as
`imagehub bench`), compiles it whatever the job.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
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
from imagehub.engines._race import Entry
from imagehub.engines._race import Race
from imagehub.engines._race import Standings

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
    """Picks the engine for a job: remembered, raced, or TensorFlow.

    Args:
        model: A SavedModel directory or handle.
        image_size: (height, width).
        batch_size: The job's batch size (what is timed).
        probe_images: The job's first decoded images (parity probes);
            default: generated images.
        reference: The SavedModel loaded by TensorFlow, if it is.
        num_images: Images in the job; below `AUTO_MIN_IMAGES` nothing is
            compiled unless a choice is remembered. None: compile every
            installed engine.
        precision: "float32" (auto never picks int8 by itself).

    Returns:
        (compiled model, choice). On a first run the model is a `Race`
        over the job's own batches: `current_choice` says where it
        stands, and `Race.settle` races it on given images when there is
        no job to race on.
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
    refused: dict[str, str] = {}

    def compile_in_background(engines: list[str]) -> dict[str, Entry]:
        """Futures of `engines` compiled against `tensorflow` on a
        thread of their own, one after the other, while the job runs."""
        if not engines:
            return {}
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="imagehub-compile"
        )
        entries = {
            engine: pool.submit(
                _compile.compile_model,
                model_dir,
                engine,
                image_size=tensorflow.image_size,
                reference=tensorflow.source.obj,
                precision=precision,
                probe_images=probes,
            )
            for engine in engines
        }
        pool.shutdown(wait=False)  # the submitted ones still run
        return entries

    slow = [e for e in ("litert", "openvino") if e not in quick]

    def late_entry(speed: float, done: int) -> dict[str, Entry]:
        """The slow-to-convert engines, compiled when the rest of the
        job at the leader's `speed` would still pay for them."""
        if not slow or num_images is None:
            return {}
        seconds = max(0, num_images - done) / speed
        if seconds < SLOW_COMPILE_PAYBACK_S:
            for engine in slow:
                refused[engine] = (
                    f"not compiled: the rest of this job of {num_images} "
                    f"images takes about {seconds:.0f} s at the best speed "
                    f"measured, less than {SLOW_COMPILE_PAYBACK_S:.0f} s, "
                    f"too short to win back {engine}'s conversion (5 to "
                    f"20 s); --engine {engine} compiles it"
                )
            return {}
        return compile_in_background(slow)

    def settled(standings: Standings) -> None:
        _store.write_json(
            _store.choice_path(digest, image_size, batch_size, precision),
            {
                "engine": standings.winner,
                "images_per_second": dict(standings.images_per_second),
                "refused": refused,
                "batch_size": batch_size,
                "machine": _store.machine_id(),
                "measured_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
                ),
            },
        )
        logger.debug("auto settled: %s", standings)

    race = Race(
        {"tensorflow": tensorflow},
        entries=compile_in_background(quick),
        info=dataclasses.replace(
            tensorflow.info, engine="auto", content_hash=digest
        ),
        batch_size=batch_size,
        rounds=race_rounds(num_images, batch_size, 1 + len(quick)),
        settled=settled,
        late_entry=late_entry,
        refused=refused,
        num_batches=_batches(num_images, batch_size),
    )
    return race, current_choice(race, None)


def race_rounds(num_images: int | None, batch_size: int, engines: int) -> int:
    """Timed batches per engine in a first run's race: `ROUNDS`, fewer
    when the race would otherwise take more than a third of the job."""
    batches = _batches(num_images, batch_size)
    if batches is None:
        return ROUNDS
    return max(1, min(ROUNDS, batches // (3 * max(1, engines))))


def _batches(num_images: int | None, batch_size: int) -> int | None:
    """The batches of a job of `num_images` images, if known."""
    if num_images is None:
        return None
    return -(-num_images // max(1, batch_size))


def current_choice(
    compiled: object, choice: EngineChoice | None
) -> EngineChoice:
    """What runs a job and why, as it stands: `choice` as `choose_engine`
    or `select_engine` returned it, unless `compiled` (what runs the
    job's batches) is a `Race`, whose standings say it."""
    if not isinstance(compiled, Race):
        if choice is None:
            raise ValueError("choice is needed unless compiled is a Race")
        return choice
    standings = compiled.standings
    measured = dict(standings.images_per_second)
    refused = dict(compiled.refused)
    skipped = [e for e in refused if refused[e].startswith("not compiled")]
    note = (
        f"; {', '.join(skipped)} not compiled, as the job is too short "
        "to win back the conversion"
        if skipped
        else ""
    )
    racers = " and ".join(compiled.racers)
    if standings.winner is not None:
        return EngineChoice(
            engine=standings.winner,
            reason="auto: fastest of the engines that kept parity, timed on "
            f"this job's first batches ({_speeds(measured)})" + note,
            images_per_second=measured,
            refused=refused,
        )
    if standings.images == 0:
        return EngineChoice(
            engine="auto",
            reason=f"auto: {racers} will take turns on the job's first "
            "batches (each engine checked against TensorFlow as it "
            "compiles, meanwhile); the fastest runs the rest" + note,
            refused=refused,
        )
    leader = (
        max(measured, key=lambda e: measured[e])
        if measured
        else compiled.racers[0]
    )
    timed = f" ({_speeds(measured)})" if measured else ""
    return EngineChoice(
        engine=leader,
        reason=f"auto: the job ended before the race settled; {racers} "
        f"shared its batches{timed}; nothing remembered" + note,
        images_per_second=measured,
        refused=refused,
    )


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
