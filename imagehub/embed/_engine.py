"""Which inference engine runs an embed or classify job's model.

`open_with_engine` returns the same `OpenedModel` `open_model` does, with
its `obj` replaced by an `EngineRunner` when an engine other than
TensorFlow runs the model (`imagehub.engines`). When the compiled model
(or, for `auto`, the remembered choice and its compiled model) is in the
cache and the model card gives the input size, the SavedModel is not
loaded into TensorFlow at all. Otherwise the engine is compiled at the
first batch, whose decoded images are the parity probes: real images of
the job, as the parity check wants.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagehub import hub
from imagehub.embed._model import OpenedModel
from imagehub.embed._model import open_model
from imagehub.embed._run import Agreement
from imagehub.spec import read_card

logger = logging.getLogger(__name__)

ENGINE_DEFAULT = "auto"
# int8 without --calibration_images: how many of the job's own images it
# is calibrated on at most, and the seed of their choice.
CALIBRATION_SAMPLE = 100
CALIBRATION_SEED = 0
# int8: the job images held back from calibration, the first batch's
# first ones: the probes the agreement with the float model is measured on.
HELD_BACK = 8


@dataclasses.dataclass(frozen=True)
class EngineUsed:
    """The engine that ran a job, and why (printed by the CLI).

    Attributes:
        engine: The engine.
        reason: Why it was used, and how it was checked.
        agreement: int8 only: its measured agreement.
    """

    engine: str
    reason: str
    agreement: Agreement | None = None


@dataclasses.dataclass(frozen=True)
class Int8Options:
    """How an int8 model is calibrated and accepted.

    Attributes:
        calibration_images: A folder, glob or list file (or decoded
            images) to calibrate on; None: a sample of `job_paths`.
        min_agreement: The smallest agreement with the float model that
            may run (a cached model's measured one is checked too); None:
            `imagehub.engines.MIN_AGREEMENT`.
        job_paths: The job's images: the default calibration's pool,
            of which a seeded sample of up to `CALIBRATION_SAMPLE` (none
            of the held-back images) is calibrated on.
    """

    calibration_images: Any = None
    min_agreement: float | None = None
    job_paths: Sequence[str] | None = None


class EngineRunner:
    """Runs batches through a compiled model, compiling it (or choosing it,
    for `auto`) on the first batch when the cache did not have it.

    Args:
        model_dir: The SavedModel directory.
        engine: One of `imagehub.engines.ENGINE_CHOICES`.
        image_size: (height, width).
        batch_size: The job's batch size (what `auto` times).
        num_images: Images in the job (`auto` compiles only for big ones).
        reference: The SavedModel loaded by TensorFlow, when it is.
        compiled: A compiled model read from the cache, if any.
        used: Why `compiled` was chosen, when it is given.
        int8: How LiteRT's int8 model is calibrated and accepted (see
            `imagehub.engines.compile_model`); None runs float32.
    """

    def __init__(
        self,
        model_dir: str,
        engine: str,
        image_size: tuple[int, int],
        batch_size: int,
        num_images: int | None,
        reference: Any = None,
        compiled: Any = None,
        used: EngineUsed | None = None,
        int8: Int8Options | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.engine = engine
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_images = num_images
        self.reference = reference
        self.compiled = compiled
        self._used = used
        self.int8 = int8
        self.precision = "float32" if int8 is None else "int8"

    @property
    def used(self) -> EngineUsed | None:
        """What runs the job and why; for `auto`'s first run, where its
        race over the job's batches stands."""
        from imagehub import engines

        if isinstance(self.compiled, engines.Race):
            choice = engines.current_choice(self.compiled, None)
            return EngineUsed(choice.engine, choice.reason)
        return self._used

    def start(
        self, probes: np.ndarray | None, paths: Sequence[str] = ()
    ) -> None:
        """Compiles or chooses the engine; `probes` are job images (the
        first batch), `paths` their files."""
        from imagehub import engines

        if self.engine == "auto":
            self.compiled, choice = engines.choose_engine(
                self.model_dir,
                image_size=self.image_size,
                batch_size=self.batch_size,
                probe_images=probes,
                reference=self.reference,
                num_images=self.num_images,
            )
            self._used = EngineUsed(choice.engine, choice.reason)
        else:
            minimum = engines.MIN_AGREEMENT
            if self.int8 is not None and self.int8.min_agreement is not None:
                minimum = self.int8.min_agreement
            calibration, calibrated_on = self._calibration(probes, paths)
            if self.int8 is not None and probes is not None:
                # Exactly the images kept out of the calibration sample.
                probes = probes[:HELD_BACK]
            self.compiled = engines.compile_model(
                self.model_dir,
                self.engine,
                image_size=self.image_size,
                precision=self.precision,
                probe_images=probes,
                calibration_images=calibration,
                calibrated_on=calibrated_on,
                min_agreement=minimum,
                reference=self.reference,
            )
            info = self.compiled.info
            if self.compiled.from_cache and info.calibrated_on:
                calibrated_on = (
                    f"{info.calibrated_on}, when it was compiled (cached)"
                )
            if info.agreement is not None and info.agreement < minimum:
                # A cached int8 model was measured when it was compiled.
                raise engines.AgreementError(
                    f"Engine {info.engine} int8 keeps {info.agreement_metric}"
                    f" {info.agreement:.4f} with the float model on "
                    f"{info.probes} held-back {info.probe_source}, below "
                    f"the minimum {minimum}; use --precision float32, or "
                    "lower --min_agreement"
                )
            self._used = _used(self.engine, info, minimum, calibrated_on)
        logger.debug("Engine %s (%s)", self._used.engine, self._used.reason)

    def _calibration(
        self, probes: np.ndarray | None, paths: Sequence[str]
    ) -> tuple[Any, str]:
        """int8: (calibration images, what they are); float32: (None, "")."""
        from imagehub import engines

        int8 = self.int8
        if int8 is None:
            return None, ""
        if int8.calibration_images is not None:
            images = _decoded(int8.calibration_images, self.image_size)
            if isinstance(int8.calibration_images, (str, os.PathLike)):
                what = f"--calibration_images {int8.calibration_images}"
            else:
                what = "the calibration images given"
            return images, f"{len(images)} images of {what}"
        cached = engines.load_compiled(
            self.model_dir,
            self.engine,
            image_size=self.image_size,
            precision=self.precision,
        )
        if cached is not None:  # compile_model reads it, uncalibrated
            return None, "the images of the run that compiled it (cached)"
        if int8.job_paths is None or probes is None:
            raise ValueError(
                "precision int8 needs calibration images: pass "
                "calibration_images (--calibration_images DIR)"
            )
        held_back = paths[:HELD_BACK]
        chosen = calibration_sample(int8.job_paths, held_back)
        return _decode_sample(chosen, self.image_size)

    def __call__(self, images: Any) -> np.ndarray:
        if self.compiled is None:
            self.start(np.asarray(images, np.float32))
        return self.compiled(images)


def _used(
    engine: str, info: Any, minimum: float, calibrated_on: str
) -> EngineUsed:
    """What ran, from a compiled model's `imagehub.engines.CompiledInfo`."""
    from imagehub import engines

    if info.agreement is None:
        reason = engines.describe_check(info)
        return EngineUsed(engine, f"--engine {engine}; {reason}")
    agreement = Agreement(
        metric=info.agreement_metric,
        value=info.agreement,
        images=info.probes,
        image_source=info.probe_source,
        min_agreement=minimum,
        calibration=calibrated_on,
    )
    return EngineUsed(
        engine, f"--engine {engine}; {agreement.describe()}", agreement
    )


def calibration_sample(
    job_paths: Sequence[str], held_back: Sequence[str]
) -> list[str]:
    """int8's default calibration images: a seeded sample of the job's.

    Args:
        job_paths: The job's images.
        held_back: The images the agreement is measured on; none of them
            is chosen.

    Returns:
        Up to `CALIBRATION_SAMPLE` paths, in the job's order; the same
        ones for the same job.
    """
    skip = set(held_back)
    pool = [p for p in job_paths if p not in skip]
    count = min(CALIBRATION_SAMPLE, len(pool))
    rng = np.random.default_rng(CALIBRATION_SEED)
    return [pool[i] for i in sorted(rng.choice(len(pool), count, False))]


def _decode_sample(
    paths: Sequence[str], size: tuple[int, int]
) -> tuple[np.ndarray, str]:
    """(float32 images, what they are) of `calibration_sample`'s paths;
    files that do not decode are left out."""
    from imagehub.data import ImageError
    from imagehub.data import load_image

    images = []
    for path in paths:
        try:
            images.append(load_image(path, size))
        except ImageError as e:
            logger.warning("Not calibrating on %s: %s", path, e.reason)
    if not images:
        raise ValueError(
            f"precision int8: of the job's images, {len(paths)} are left "
            f"to calibrate on besides the first {HELD_BACK} (held back to "
            "measure agreement), and none decodes; pass "
            "--calibration_images DIR"
        )
    what = (
        f"{len(images)} of the job's own images (a seeded sample, none of "
        "the held-back ones)"
    )
    logger.info("int8: calibrating on %s", what)
    return np.stack(images).astype(np.float32), what


def start_engine(
    opened: OpenedModel, images: Any, paths: Sequence[str]
) -> None:
    """Compiles (or chooses) a runner's engine on the job's first batch
    (its probe images), before the batch is run; no-op otherwise."""
    runner = opened.obj
    if isinstance(runner, EngineRunner) and runner.compiled is None:
        runner.start(np.asarray(images, np.float32), paths)


def _decoded(images: Any, size: tuple[int, int]) -> Any:
    """A folder, glob or list file of images -> decoded float32 images;
    anything else (None, an array) as it is."""
    if not isinstance(images, (str, os.PathLike)):
        return images
    from imagehub.data import load_image
    from imagehub.embed._inputs import list_inputs

    paths = list_inputs(os.fspath(images)).paths
    if not paths:
        raise ValueError(f"--calibration_images {images}: no images found")
    decoded = []
    for path in paths:
        with open(path, "rb") as f:
            decoded.append(load_image(f.read(), size))
    return np.stack(decoded).astype(np.float32)


def set_num_images(opened: OpenedModel, num_images: int) -> None:
    """Tells the runner the job's size, once the inputs are listed."""
    if isinstance(opened.obj, EngineRunner):
        opened.obj.num_images = num_images


def engine_used(opened: OpenedModel, engine: str) -> EngineUsed:
    """What ran `opened` (after at least one batch, for a runner)."""
    runner = opened.obj
    if isinstance(runner, EngineRunner) and runner.used is not None:
        return runner.used
    if engine == "tensorflow":
        return EngineUsed("tensorflow", "--engine tensorflow")
    return EngineUsed("tensorflow", f"--engine {engine}: no batch was run")


def open_with_engine(
    model: Any,
    image_size: Any,
    engine: str,
    batch_size: int,
    num_images: int | None,
    *,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    precision: str = "float32",
    calibration_images: Any = None,
    min_agreement: float | None = None,
    job_paths: Sequence[str] | None = None,
) -> OpenedModel:
    """`open_model`, with `engine` (see the module docstring) running it.

    `precision="int8"` runs LiteRT's int8 model (`engine` "auto" or
    "litert"), calibrated on `calibration_images` (default: a seeded
    sample of up to `CALIBRATION_SAMPLE` of `job_paths`, none of the
    first batch's `HELD_BACK` images its agreement is measured on) and
    refused below `min_agreement` (default
    `imagehub.engines.MIN_AGREEMENT`).

    Raises:
        ValueError: An unknown engine, or an engine other than TensorFlow
            asked to run an already loaded object.
    """
    from imagehub import engines

    if engine not in engines.ENGINE_CHOICES:
        raise ValueError(
            f"Unknown engine {engine!r}; expected one of "
            f"{engines.ENGINE_CHOICES}"
        )
    if precision not in engines.PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}; expected one of "
            f"{engines.PRECISIONS}"
        )
    int8 = None
    if precision != "float32":
        if engine not in ("auto", "litert"):
            raise ValueError(
                f"precision {precision!r} runs on engine 'litert' only, "
                f"got engine {engine!r}; use --engine litert"
            )
        engine = "litert"
        int8 = Int8Options(calibration_images, min_agreement, job_paths)
    if engine == "tensorflow":
        return open_model(model, image_size, labels=labels)
    if not isinstance(model, (str, os.PathLike)):
        if engine == "auto":
            return open_model(model, image_size, labels=labels)
        raise ValueError(
            f"engine={engine!r} compiles a SavedModel; pass its handle or "
            "path, not a loaded object (or use engine='tensorflow')"
        )
    if int8 is None and read_card(hub.resolve(model)) is not None:
        # With a card the facts need no TensorFlow; a cached compiled
        # model then runs without the SavedModel ever being loaded.
        facts = hub.resolve_facts(model, image_size=image_size, labels=labels)
        if facts.image_size is not None and facts.path is not None:
            runner = _cached_runner(
                facts.path, engine, facts.image_size, batch_size, num_images
            )
            if runner is not None:
                return OpenedModel(obj=runner, facts=facts)
    opened = open_model(model, image_size, labels=labels)
    facts = opened.facts
    if facts.num_outputs is None:
        # Known before the object is replaced (the probe runs TensorFlow).
        facts = dataclasses.replace(facts, num_outputs=opened.num_outputs)
    runner = EngineRunner(
        facts.path or hub.resolve(model),
        engine,
        opened.image_size,
        batch_size,
        num_images,
        reference=opened.obj,
        int8=int8,
    )
    return OpenedModel(obj=runner, facts=facts)


def _cached_runner(
    model_dir: str,
    engine: str,
    size: tuple[int, int],
    batch_size: int,
    num_images: int | None,
) -> EngineRunner | None:
    from imagehub import engines

    if engine == "auto":
        remembered = engines.cached_choice(
            model_dir, image_size=size, batch_size=batch_size
        )
        if remembered is None or remembered[0] is None:
            return None
        compiled, choice = remembered
        used = EngineUsed(choice.engine, choice.reason)
    else:
        compiled = engines.load_compiled(model_dir, engine, image_size=size)
        if compiled is None:
            return None
        used = EngineUsed(
            engine,
            f"--engine {engine}; compiled model from the cache, "
            + engines.describe_check(compiled.info),
        )
    logger.debug("Engine %s (%s)", used.engine, used.reason)
    return EngineRunner(
        model_dir,
        engine,
        size,
        batch_size,
        num_images,
        compiled=compiled,
        used=used,
    )
