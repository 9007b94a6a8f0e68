"""`embed`: feature vectors (or logits) for many images."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from imagehub import outputs
from imagehub.embed import _writer
from imagehub.embed._batches import Batch
from imagehub.embed._batches import dataset_batches
from imagehub.embed._defaults import DEFAULTS
from imagehub.embed._engine import engine_used
from imagehub.embed._engine import open_with_engine
from imagehub.embed._engine import set_num_images
from imagehub.embed._engine import start_engine
from imagehub.embed._inputs import check_inputs_exist
from imagehub.embed._inputs import list_inputs
from imagehub.embed._model import OpenedModel
from imagehub.embed._run import RUNNERS
from imagehub.embed._run import EmbedResult
from imagehub.embed._run import EmbedSummary
from imagehub.embed._run import Inputs
from imagehub.embed._run import Progress
from imagehub.embed._run import check_resize
from imagehub.embed._run import require_beam
from imagehub.embed._run import run_config

if TYPE_CHECKING:
    from imagehub.data import ImageIndex

logger = logging.getLogger(__name__)


def run_batches(
    opened: OpenedModel,
    index: ImageIndex,
    on_batch: Callable[[Batch, np.ndarray | None], None],
    batch_size: int,
    resize: str,
    progress: Progress | None,
    workers: int | None = None,
) -> None:
    """Decodes `index`'s images ahead and runs the model batch by batch."""
    total = len(index)
    done = 0
    if progress is not None:
        progress(0, total)
    batches = dataset_batches(
        index, opened.image_size, resize, batch_size, workers=workers
    )
    for batch in batches:
        outputs = None
        if batch.images is not None:
            # The first images compile (or choose) the engine: its probes.
            start_engine(opened, batch.images, batch.paths)
            outputs = opened(batch.images)
        on_batch(batch, outputs)
        done += batch.size
        if progress is not None:
            progress(done, total)


def embed(
    model: Any,
    inputs: Inputs,
    output: str | os.PathLike[str] | None = None,
    *,
    batch_size: int = DEFAULTS.batch_size,
    image_size: Any = None,
    resize: str = DEFAULTS.resize,
    progress: Progress | None = None,
    part_size: int = DEFAULTS.part_size,
    workers: int | None = None,
    runner: str = DEFAULTS.runner,
    beam_options: Mapping[str, str] | None = None,
    overwrite: bool = False,
    engine: str = DEFAULTS.engine,
    precision: str = "float32",
    calibration_images: Any = None,
    min_agreement: float | None = None,
) -> EmbedResult | EmbedSummary:
    """Computes a feature vector (or logits) for every image of `inputs`.

    Images are decoded ahead of the model through `imagehub.data.dataset`
    (the same pixels as `imagehub.data.load_image`), and passed through the
    model's `__call__` in inference mode. With an `output`, rows are
    streamed to disk in parts of `part_size` (memory does not grow with the
    number of images), a rerun with the same output and settings skips the
    images already written, and files that cannot be decoded are listed in
    `OUT.errors.csv` while the run goes on. Inputs are checked before the
    model is loaded, and one output is written by one run at a time (a
    second run waits briefly, then fails naming the first).

    A classifier's row has its logits both as `vector` (so readers of
    `vector` work for any model) and as `logits`.

    Args:
        model: A handle for `imagehub.load`, or a loaded model (local
            runner only).
        inputs: A folder, glob pattern, text file of paths, image path, or
            a sequence of these.
        output: OUT.parquet or OUT.npy (the paths go to OUT.paths.txt), or
            None to return the vectors. With `runner="beam"`: OUT.parquet,
            written as a folder of Parquet shards.
        batch_size: Images per model call.
        image_size: (height, width) or "H,W"; default: the model card's.
        resize: How images are fitted to `image_size`: a mode of
            `imagehub.data.RESIZE_MODES`.
        progress: Called with (files done, files to do) after each batch.
        part_size: Rows per part file (local runner).
        workers: Decoding threads (local runner; default: TensorFlow's).
        runner: ``"local"`` or ``"beam"`` (Apache Beam; DirectRunner unless
            `beam_options` names another runner).
        beam_options: Beam pipeline options, e.g. ``{"runner":
            "DataflowRunner", "project": ..., "temp_location": ...}``.
        overwrite: Replace an existing output made with other settings
            (or by something else) instead of refusing it; the old output
            stays until the new one is complete (local runner).
        engine: What runs the model: ``"auto"``, ``"tensorflow"``,
            ``"litert"`` or ``"openvino"`` (`imagehub.engines`; the rows
            agree within 1e-4 relative, checked before use).
        precision: ``"float32"``, or ``"int8"``: LiteRT's post-training
            quantized model (local runner), calibrated on
            `calibration_images` (a folder, glob or list file; default: a
            seeded sample of up to 100 of the job's own images, none of
            the first batch's 8 its agreement is measured on), refused
            below `min_agreement` (default
            `imagehub.engines.MIN_AGREEMENT`) with an
            `imagehub.engines.AgreementError`. The agreement is returned
            (`EmbedSummary.agreement`) and saved in OUT.config.json.

    Returns:
        An `EmbedResult` when `output` is None, else an `EmbedSummary`.

    Raises:
        ValueError: A bad argument (named in the message).
        FileNotFoundError: An input does not exist.
        imagehub.outputs.OutputExistsError: `output` exists and cannot be
            resumed (other settings), and `overwrite` is False.
        imagehub.outputs.OutputLockedError: Another run is writing
            `output`.

    Example:
        >>> imagehub.embed("path/to/model", "photos/", "photos.parquet")
    """
    if runner not in RUNNERS:
        raise ValueError(
            f"Unknown runner {runner!r}; expected one of {RUNNERS}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    check_resize(resize)
    check_inputs_exist(inputs)  # before anything is loaded or written
    if runner == "beam":
        require_beam()
        from imagehub.embed import _beam

        if precision != "float32":
            raise ValueError(f"precision {precision!r} needs runner='local'")

        if output is None:
            raise ValueError(
                "runner='beam' writes its results; pass output=OUT.parquet"
            )
        if not isinstance(model, (str, os.PathLike)):
            raise ValueError(
                "runner='beam' loads the model on the workers; pass its "
                f"handle, not a loaded object ({type(model).__name__})"
            )
        outputs.check_target(
            output, overwrite, detail="the Beam runner does not resume"
        )
        return _beam.embed_beam(
            os.fspath(model),
            inputs,
            os.fspath(output),
            batch_size=batch_size,
            image_size=image_size,
            resize=resize,
            options=beam_options,
            engine=engine,
        )
    if beam_options:
        raise ValueError("beam_options need runner='beam'")
    if output is not None:
        _writer.output_stem(os.fspath(output))  # fail before loading
    index = list_inputs(inputs)

    def job(opened: OpenedModel) -> LocalJob:
        return LocalJob(opened, index, batch_size, resize, progress, workers)

    def open_job_model() -> OpenedModel:
        return open_with_engine(
            model,
            image_size,
            engine,
            batch_size,
            len(index),
            precision=precision,
            calibration_images=calibration_images,
            min_agreement=min_agreement,
            job_paths=index.paths,
        )

    if output is None:
        return _embed_in_memory(job(open_job_model()))
    output = os.fspath(output)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with outputs.output_lock(output):
        return _embed_to_file(
            job(open_job_model()),
            output,
            part_size=part_size,
            overwrite=overwrite,
            engine=engine,
            precision=precision,
        )


@dataclasses.dataclass(frozen=True)
class LocalJob:
    """What the local runner runs: a model, its images and how.

    Attributes:
        opened: The model.
        index: The images.
        batch_size: Images per model call.
        resize: How images are fitted to the input size.
        progress: Called with (files done, files to do), or None.
        workers: Decoding threads, or None for TensorFlow's.
    """

    opened: OpenedModel
    index: ImageIndex
    batch_size: int
    resize: str
    progress: Progress | None
    workers: int | None

    def run(
        self,
        on_batch: Callable[[Batch, np.ndarray | None], None],
        index: ImageIndex | None = None,
    ) -> None:
        """`run_batches` on `index` (default: all of the job's images)."""
        run_batches(
            self.opened,
            self.index if index is None else index,
            on_batch,
            self.batch_size,
            self.resize,
            self.progress,
            self.workers,
        )


def _embed_in_memory(job: LocalJob) -> EmbedResult:
    good: list[str] = []
    chunks: list[np.ndarray] = []
    errors = list(job.index.skipped)

    def on_batch(batch: Batch, outputs: np.ndarray | None) -> None:
        errors.extend(batch.errors)
        if outputs is not None:
            good.extend(batch.paths)
            chunks.append(outputs)

    job.run(on_batch)
    opened = job.opened
    vectors = (
        np.concatenate(chunks)
        if chunks
        else np.zeros((0, opened.num_outputs), np.float32)
    )
    return EmbedResult(
        paths=good,
        vectors=vectors,
        logits=vectors if opened.is_classifier else None,
        errors=errors,
    )


def _embed_to_file(
    job: LocalJob,
    output: str,
    *,
    part_size: int,
    overwrite: bool,
    engine: str,
    precision: str,
) -> EmbedSummary:
    opened, index = job.opened, job.index
    writer = _writer.PartWriter(
        output,
        num_outputs=opened.num_outputs,
        with_logits=opened.is_classifier,
        part_size=part_size,
        config=run_config(
            opened.facts,
            batch_size=job.batch_size,
            resize=job.resize,
            precision=precision,
        ),
        overwrite=overwrite,
    )
    done = writer.done_paths()
    todo = index.subset(i for i, p in enumerate(index.paths) if p not in done)
    new_skipped = [(p, r) for p, r in index.skipped if p not in done]
    if done:
        logger.info(
            "Resuming %s: %d of %d files already done",
            output,
            len(index) - len(todo),
            len(index),
        )
    writer.add_errors(new_skipped)

    def on_batch(batch: Batch, outputs: np.ndarray | None) -> None:
        writer.add_errors(batch.errors)
        if outputs is not None:
            writer.add(batch.paths, outputs)

    set_num_images(opened, len(todo))
    job.run(on_batch, todo)
    used = engine_used(opened, engine)
    if used.agreement is not None:
        writer.annotate(agreement=dataclasses.asdict(used.agreement))
    rows, errors = writer.close()
    return EmbedSummary(
        output=output,
        errors_path=_writer.errors_path(output),
        rows=rows,
        errors=errors,
        processed=len(todo),
        engine=used.engine,
        engine_reason=used.reason,
        agreement=used.agreement,
    )
