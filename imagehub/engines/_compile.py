"""Compiling a SavedModel for an engine, once, verified, cached.

compile_model(model, engine)
  -> resolve the handle, hash the SavedModel's files
  -> cache hit: load the artifact (TensorFlow is not asked to load
     the SavedModel)
  -> else: load the SavedModel, convert it in a staging folder, run
     the probe images through the engine and through TensorFlow,
     refuse on a difference above the tolerance (float32) or an
     agreement below the minimum (int8), then publish the entry
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import numpy.typing as npt

from imagehub.engines import _litert
from imagehub.engines import _openvino
from imagehub.engines import _store
from imagehub.engines._base import ENGINES
from imagehub.engines._base import MIN_AGREEMENT
from imagehub.engines._base import PARITY_TOLERANCE
from imagehub.engines._base import CompiledInfo
from imagehub.engines._base import CompiledModel
from imagehub.engines._base import ImageSize
from imagehub.engines._base import RuntimeModel
from imagehub.engines._base import check_engine
from imagehub.engines._base import check_precision
from imagehub.engines._base import relative_difference
from imagehub.engines._errors import AgreementError
from imagehub.engines._errors import EngineError
from imagehub.engines._errors import ParityError
from imagehub.engines._tensorflow import Conversion
from imagehub.engines._tensorflow import SourceModel
from imagehub.engines._tensorflow import TensorFlowModel
from imagehub.engines._tensorflow import tensorflow_version
from imagehub.spec import TASK_CLASSIFICATION

if TYPE_CHECKING:
    from imagehub import hub

logger = logging.getLogger(__name__)

# engine -> (its converter, the CompiledModel class that runs it).
_BACKENDS: dict[
    str, tuple[Callable[[Conversion], None], type[RuntimeModel]]
] = {
    "litert": (_litert.convert, _litert.LiteRTModel),
    "openvino": (_openvino.convert, _openvino.OpenVINOModel),
}
PROBES = 8
FIX = "use --engine tensorflow (engine='tensorflow' in Python)"


def engine_version(engine: str) -> str:
    """The installed runtime's version; EngineUnavailableError if none."""
    check_engine(engine)
    if engine == "tensorflow":
        return tensorflow_version()
    return _BACKENDS[engine][1].runtime.version()


def available_engines() -> tuple[str, ...]:
    """The engines whose runtimes are installed, TensorFlow first."""
    found = []
    for engine in ENGINES:
        try:
            engine_version(engine)
        except EngineError:
            continue
        found.append(engine)
    return tuple(found)


def generated_probes(image_size: ImageSize, count: int = PROBES) -> np.ndarray:
    """Smooth gradients with noise in [0, 1]: probes when a job has none."""
    height, width = image_size
    rng = np.random.default_rng(0)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    images = []
    for _ in range(count):
        weights = rng.random((3, 3), dtype=np.float32)
        image = weights[0] * y + weights[1] * x + weights[2] * (1 - x * y)
        image = image / 3 + 0.2 * rng.random(image.shape, dtype=np.float32)
        images.append(np.clip(image, 0.0, 1.0))
    return np.stack(images).astype(np.float32)


def _model_dir(model: str | os.PathLike[str]) -> str:
    from imagehub import hub

    return hub.resolve(os.fspath(model))


def model_facts(
    model_dir: str,
    image_size: Any = None,
    *,
    task: str | None = None,
    reference: Any = None,
) -> tuple[hub.ModelFacts, Any]:
    """`hub.resolve_facts` of the SavedModel `model_dir` (its size and
    task as embed and the rest of imagehub see them: the argument, the
    card, the traces, the handle) and the model loaded, if it is.

    Args:
        model_dir: The SavedModel directory.
        image_size: (height, width) given by the caller, if any.
        task: The task given by the caller, if any.
        reference: The SavedModel already loaded, if it is.

    Returns:
        (facts, `reference`, or the SavedModel loaded when it has no card
        and no `image_size` was given: its traces may tell the size, and
        the caller reuses it instead of loading it again).
    """
    from imagehub import hub

    def facts(obj: Any, load: bool) -> hub.ModelFacts:
        return hub.resolve_facts(
            model_dir, obj=obj, image_size=image_size, task=task, load=load
        )

    found = facts(reference, load=False)
    if found.card is None and reference is None and image_size is None:
        reference = hub.load(model_dir)
        found = facts(reference, load=True)
    return found, reference


def load_compiled(
    model: str | os.PathLike[str],
    engine: str,
    *,
    image_size: Any = None,
    precision: str = "float32",
    digest: str | None = None,
) -> CompiledModel | None:
    """The compiled model from the cache, without loading the SavedModel
    (unless it has no card and no `image_size` is given: then its traces
    tell the size).

    Args:
        model: A SavedModel directory or a handle `imagehub.resolve`
            accepts.
        engine: "litert" or "openvino".
        image_size: (height, width); default: the model's
            (`hub.resolve_facts`: its card, its traces, its handle).
        precision: "float32" or "int8".
        digest: The SavedModel's content hash, when already known.

    Returns:
        The compiled model, or None when the cache has none for this
        SavedModel's content, engine, engine version, precision and size.
    """
    check_engine(engine, tuple(_BACKENDS))
    check_precision(precision)
    model_dir = _model_dir(model)
    size = model_facts(model_dir, image_size)[0].require_size()
    version = engine_version(engine)
    digest = digest or _store.content_hash(model_dir)
    entry = _store.entry_dir(digest, engine, version, precision, size)
    info = _store.read_info(entry)
    if info is None:
        return None
    logger.debug(
        "Engine %s %s (%s): compiled model read from the cache %s",
        engine,
        version,
        precision,
        entry,
    )
    return _BACKENDS[engine][1](info, entry, from_cache=True)


def compile_model(
    model: str | os.PathLike[str],
    engine: str,
    *,
    image_size: Any = None,
    precision: str = "float32",
    probe_images: npt.ArrayLike | None = None,
    calibration_images: npt.ArrayLike | None = None,
    calibrated_on: str = "",
    tolerance: float = PARITY_TOLERANCE,
    min_agreement: float = MIN_AGREEMENT,
    task: str | None = None,
    reference: Any = None,
    use_cache: bool = True,
) -> CompiledModel:
    """Compiles a reusable SavedModel for `engine`, or reads it cached.

    A new compilation is verified before use: the probe images run
    through the engine and through TensorFlow (the SavedModel's
    `__call__`), and a float32 model whose outputs differ by more than
    `tolerance` (relative) is refused. An int8 model is compared on the
    probe images (held back from calibration): top-1 agreement for
    classifiers, mean cosine similarity otherwise, refused below
    `min_agreement`. Only verified models are cached.

    Args:
        model: A SavedModel directory or a handle `imagehub.resolve`
            accepts.
        engine: One of `ENGINES`.
        image_size: (height, width); default: the model's
            (`hub.resolve_facts`: its card, its traces, its handle).
        precision: "float32", or "int8" (LiteRT only).
        probe_images: float32 (n, height, width, 3) images in [0, 1] for
            the parity check, ideally the job's own; default: generated.
        calibration_images: int8 only: images to calibrate on. A cached
            int8 model calibrated on other images is compiled again.
        calibrated_on: int8 only: what `calibration_images` are, in words
            (kept in the cache entry's info).
        tolerance: Largest relative difference a float32 engine may show.
        min_agreement: Smallest agreement an int8 engine may show.
        task: "classification" or "feature_vector" (int8's agreement
            metric); default: the model card's, else unknown
            (cosine similarity).
        reference: The SavedModel already loaded by TensorFlow, if it is.
        use_cache: False compiles anew and does not publish the result.

    Returns:
        The compiled model (`from_cache` says whether it was compiled).

    Raises:
        ParityError: A float32 engine differs from TensorFlow.
        AgreementError: An int8 model agrees too little.
        EngineUnavailableError: The engine is not installed.
        EngineError: The engine cannot convert this model.
    """
    check_engine(engine)
    check_precision(precision)
    model_dir = _model_dir(model)
    facts, reference = model_facts(
        model_dir, image_size, task=task, reference=reference
    )
    size = facts.require_size()
    if engine == "tensorflow":
        if precision != "float32":
            raise ValueError("engine 'tensorflow' runs float32 only")
        return tensorflow_model(model_dir, size, reference)
    digest = _store.content_hash(model_dir)
    calibration = calibration_digest = None
    if precision == "int8" and calibration_images is not None:
        calibration = _as_images(calibration_images, size, "calibration_images")
        calibration_digest = hashlib.sha256(calibration.tobytes()).hexdigest()
    replace = False
    if use_cache:
        cached = load_compiled(
            model_dir,
            engine,
            image_size=size,
            precision=precision,
            digest=digest,
        )
        if cached is not None and calibration_digest in (
            None,
            cached.info.calibration_digest,
        ):
            return cached
        replace = cached is not None  # calibrated on other images
    if precision == "int8" and calibration is None:
        raise ValueError(
            "precision int8 needs calibration images "
            "(--calibration_images DIR); they must not be the probe images"
        )
    convert, model_class = _BACKENDS[engine]
    version = model_class.runtime.version()
    source = _source(model_dir, size, reference)
    probes, probe_source = _probes(probe_images, size)
    entry = _store.entry_dir(digest, engine, version, precision, size)
    entry_staging = _store.new_staging(entry)
    staging: str | None = entry_staging  # None once published
    try:
        start = time.perf_counter()
        try:
            convert(Conversion(source, entry_staging, precision, calibration))
        except (ValueError, EngineError):
            raise
        except Exception as e:  # noqa: BLE001  converters raise anything
            raise EngineError(
                f"Engine {engine} {version} could not convert "
                f"{model_dir}: {type(e).__name__}: {e}; {FIX}"
            ) from e
        seconds = time.perf_counter() - start
        reference_out = source(probes)
        info = CompiledInfo(
            engine=engine,
            version=version,
            precision=precision,
            image_size=size,
            num_outputs=int(reference_out.shape[-1]),
            content_hash=digest,
            probes=len(probes),
            probe_source=probe_source,
            compile_seconds=round(seconds, 3),
            calibration_digest=calibration_digest or "",
            calibrated_on=calibrated_on if precision == "int8" else "",
        )
        compiled = model_class(info, entry_staging, from_cache=False)
        info = _verify(
            compiled,
            info,
            probes,
            reference_out,
            tolerance=tolerance,
            min_agreement=min_agreement,
            task=facts.task,
        )
        compiled.info = info
        logger.debug(
            "Engine %s %s (%s): compiled %s in %.1f s; %s",
            engine,
            version,
            precision,
            model_dir,
            seconds,
            describe_check(info),
        )
        if not use_cache:
            # Loaded already (LiteRT maps the file, OpenVINO reads it).
            compiled.path = None
            return compiled
        compiled.path = _store.publish(
            entry_staging, entry, info, replace=replace
        )
        staging = None
        return compiled
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def tensorflow_model(
    model_dir: str, size: ImageSize, reference: Any = None
) -> TensorFlowModel:
    """The SavedModel itself as the TensorFlow engine; its `source.obj`
    is the reference every other engine is checked against, so a job
    that compiles several engines loads the SavedModel once."""
    info = CompiledInfo(
        engine="tensorflow",
        version=tensorflow_version(),
        precision="float32",
        image_size=size,
        num_outputs=0,
        content_hash="",
    )
    return TensorFlowModel(_source(model_dir, size, reference), info)


def compile_engines(
    model_dir: str,
    engines: Iterable[str],
    tensorflow: TensorFlowModel,
    **options: Any,
) -> tuple[dict[str, CompiledModel], dict[str, str]]:
    """`tensorflow` and every other engine of `engines`, compiled at its
    input size against its loaded SavedModel (`compile_model` with
    `options`), and why each refused one was refused (not installed,
    cannot convert, parity or agreement).

    Returns:
        (engine -> compiled model, TensorFlow first; engine -> why).
    """
    compiled: dict[str, CompiledModel] = {"tensorflow": tensorflow}
    refused: dict[str, str] = {}
    for engine in dict.fromkeys(engines):
        if engine == "tensorflow":
            continue
        try:
            compiled[engine] = compile_model(
                model_dir,
                engine,
                image_size=tensorflow.image_size,
                reference=tensorflow.source.obj,
                **options,
            )
        except (EngineError, ValueError) as e:
            logger.debug("engine %s refused: %s", engine, e)
            refused[engine] = str(e)
    return compiled, refused


def describe_check(info: CompiledInfo) -> str:
    """One line: how the compiled model was verified."""
    if info.agreement is not None:
        return (
            f"{info.agreement_metric} {info.agreement:.4f} with the float "
            f"model on {info.probes} {info.probe_source}"
        )
    if info.max_relative_difference is None:
        return "the SavedModel itself"
    return (
        f"parity kept: max relative difference "
        f"{info.max_relative_difference:.1e} from TensorFlow on "
        f"{info.probes} {info.probe_source}"
    )


def _source(model_dir: str, size: ImageSize, reference: Any) -> SourceModel:
    if reference is None:
        from imagehub import hub

        reference = hub.load(model_dir)
    return SourceModel(model_dir=model_dir, obj=reference, image_size=size)


def _as_images(images: Any, size: ImageSize, name: str) -> np.ndarray:
    array = np.asarray(images, np.float32)
    if array.ndim != 4 or array.shape[1:] != (*size, 3) or not len(array):
        raise ValueError(
            f"{name} must be float32 (n, {size[0]}, {size[1]}, 3) images, "
            f"got shape {array.shape}"
        )
    return array


def _probes(images: Any, size: ImageSize) -> tuple[np.ndarray, str]:
    if images is None:
        return generated_probes(size), "generated images"
    return _as_images(images, size, "probe_images")[:PROBES], "job images"


def _verify(
    compiled: CompiledModel,
    info: CompiledInfo,
    probes: np.ndarray,
    reference_out: np.ndarray,
    *,
    tolerance: float,
    min_agreement: float,
    task: str | None,
) -> CompiledInfo:
    import dataclasses

    outputs = compiled(probes)
    if info.precision == "int8":
        metric, agreement = measure_agreement(outputs, reference_out, task)
        if agreement < min_agreement:
            raise AgreementError(
                f"Engine {info.engine} int8 keeps {metric} {agreement:.4f} "
                f"with the float model on {len(probes)} held-back "
                f"{info.probe_source}, below the minimum {min_agreement}; "
                "use --precision float32, or lower --min_agreement"
            )
        return dataclasses.replace(
            info, agreement=agreement, agreement_metric=metric
        )
    # One image alone too: a resized interpreter must agree as well.
    single = compiled(probes[:1])
    difference = max(
        relative_difference(outputs, reference_out),
        relative_difference(single, reference_out[:1]),
    )
    if not difference <= tolerance:
        raise ParityError(
            f"Engine {info.engine} {info.version} differs from TensorFlow "
            f"on this model by {difference:.2e} (max relative difference on "
            f"{len(probes)} {info.probe_source}; allowed {tolerance:.0e}), "
            f"so it was not used; {FIX}"
        )
    return dataclasses.replace(info, max_relative_difference=difference)


def measure_agreement(
    outputs: np.ndarray, reference: np.ndarray, task: str | None
) -> tuple[str, float]:
    """(metric, value): top-1 agreement for classifiers, else the mean
    cosine similarity of the feature vectors."""
    outputs = np.asarray(outputs, np.float64)
    reference = np.asarray(reference, np.float64)
    if task == TASK_CLASSIFICATION:
        same = outputs.argmax(-1) == reference.argmax(-1)
        return "top-1 agreement", float(same.mean())
    dot = (outputs * reference).sum(-1)
    norms = np.linalg.norm(outputs, axis=-1) * np.linalg.norm(
        reference, axis=-1
    )
    cosine = dot / np.maximum(norms, 1e-12)
    return "mean cosine similarity", float(cosine.mean())
