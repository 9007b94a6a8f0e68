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
from imagehub.spec import read_card

logger = logging.getLogger(__name__)

ENGINE_DEFAULT = "auto"


@dataclasses.dataclass(frozen=True)
class EngineUsed:
    """The engine that ran a job, and why (printed by the CLI)."""

    engine: str
    reason: str


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
        precision: "float32", or "int8" (LiteRT; see `compile_model`).
        calibration_images: int8: a folder (or images) to calibrate on.
        min_agreement: int8: the smallest agreement with the float model
            that may run (a cached model's measured one is checked too).
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
        precision: str = "float32",
        calibration_images: Any = None,
        min_agreement: float | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.engine = engine
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_images = num_images
        self.reference = reference
        self.compiled = compiled
        self.used = used
        self.precision = precision
        self.calibration_images = calibration_images
        self.min_agreement = min_agreement

    def start(self, probes: np.ndarray | None) -> None:
        """Compiles or chooses the engine; `probes` are job images."""
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
            self.used = EngineUsed(choice.engine, choice.reason)
        else:
            minimum = self.min_agreement
            if minimum is None:
                minimum = engines.MIN_AGREEMENT
            self.compiled = engines.compile_model(
                self.model_dir,
                self.engine,
                image_size=self.image_size,
                precision=self.precision,
                probe_images=probes,
                calibration_images=_decoded(
                    self.calibration_images, self.image_size
                ),
                min_agreement=minimum,
                reference=self.reference,
            )
            info = self.compiled.info
            if info.agreement is not None and info.agreement < minimum:
                # A cached int8 model was measured when it was compiled.
                raise engines.AgreementError(
                    f"Engine {info.engine} int8 keeps {info.agreement_metric}"
                    f" {info.agreement:.4f} with the float model on "
                    f"{info.probes} held-back {info.probe_source}, below "
                    f"the minimum {minimum}; use --precision float32, or "
                    "lower --min_agreement"
                )
            self.used = EngineUsed(
                self.engine,
                f"--engine {self.engine}; "
                + engines.describe_check(self.compiled.info),
            )
        logger.debug("Engine %s (%s)", self.used.engine, self.used.reason)

    def __call__(self, images: Any) -> np.ndarray:
        if self.compiled is None:
            self.start(np.asarray(images, np.float32))
        return self.compiled(images)


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
) -> OpenedModel:
    """`open_model`, with `engine` (see the module docstring) running it.

    `precision="int8"` runs LiteRT's int8 model (`engine` "auto" or
    "litert"), calibrated on `calibration_images` and refused below
    `min_agreement` (default `imagehub.engines.MIN_AGREEMENT`).

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
    int8: dict[str, Any] = {}
    if precision != "float32":
        if engine not in ("auto", "litert"):
            raise ValueError(
                f"precision {precision!r} runs on engine 'litert' only, "
                f"got engine {engine!r}; use --engine litert"
            )
        engine = "litert"
        int8 = {
            "precision": precision,
            "calibration_images": calibration_images,
            "min_agreement": min_agreement,
        }
    if engine == "tensorflow":
        return open_model(model, image_size, labels=labels)
    if not isinstance(model, (str, os.PathLike)):
        if engine == "auto":
            return open_model(model, image_size, labels=labels)
        raise ValueError(
            f"engine={engine!r} compiles a SavedModel; pass its handle or "
            "path, not a loaded object (or use engine='tensorflow')"
        )
    if not int8 and read_card(hub.resolve(model)) is not None:
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
        **int8,
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
