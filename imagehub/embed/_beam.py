"""`embed` as an Apache Beam pipeline: RunInference with an imagehub model.

    paths (scan locally, or Beam's file matching for remote patterns)
      -> Reshuffle -> BatchElements(batch_size) of paths
      -> read bytes (Beam FileSystems) and decode the batch in one
         TensorFlow call (`imagehub.data.decode_batch`: the local
         runner's fast path and pixels)
      -> RunInference(ImagehubModelHandler): one model call per decoded
         `ImageBatch` (RunInference's own batching skipped)
      -> one Arrow table per batch -> WriteToParquetBatched shards
         OUT.parquet/part-SSSSS-of-NNNNN.parquet
    decode failures -> OUT.errors.csv (path, reason)

After the Reshuffle every step works on whole batches, so the per-image
Python work is what the local runner does too (reading the file); the
steps after it fuse into one stage, and nothing but paths is pickled
between stages (bench/beam.py measures the CPU per image of both).

The same rows as the local runner: path, vector, and logits for classifiers.
Runs on the DirectRunner by default; any runner by pipeline options.
Needs Apache Beam: `imagehub.embed` checks for it (`require_beam`) before
importing this module.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquetBatched
from apache_beam.metrics.metric import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import ModelHandler
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from imagehub import hub
from imagehub import outputs
from imagehub.data import DEFAULT_MAX_PIXELS
from imagehub.data import HEADER_UNKNOWN
from imagehub.data import ImageIndex
from imagehub.data import meant_as_image
from imagehub.embed._beam_batch import ImageBatch
from imagehub.embed._defaults import DEFAULTS
from imagehub.embed._model import OpenedModel
from imagehub.embed._run import EmbedSummary
from imagehub.embed._run import Inputs
from imagehub.embed._run import run_config
from imagehub.embed._writer import arrow_schema
from imagehub.embed._writer import config_path
from imagehub.embed._writer import errors_path
from imagehub.embed._writer import output_stem
from imagehub.embed._writer import to_table

logger = logging.getLogger(__name__)

METRICS_NAMESPACE = "imagehub"
ERRORS_TAG = "errors"


def _is_remote(path: str) -> bool:
    return "://" in path


def pipeline_options(options: Mapping[str, Any] | None) -> PipelineOptions:
    """Beam `PipelineOptions` from {"runner": "DataflowRunner", ...}."""
    flags = []
    for key, value in (options or {}).items():
        key = str(key).lstrip("-")
        if value is True or value == "":
            flags.append(f"--{key}")
        else:
            flags.append(f"--{key}={value}")
    return PipelineOptions(flags)


class ImagehubModelHandler(ModelHandler):
    """RunInference model handler for reusable image SavedModels.

    `load_model` loads the handle with `imagehub.load` (or compiles it
    for `engine`) once per worker process; RunInference shares it across
    the process's threads. The input is already batched: each element is
    an `ImageBatch` of at most `batch_size` images, as `ReadAndDecode`
    decoded it, so RunInference's own batching is skipped and each
    element is one model call. Its prediction is one `PredictionResult`
    whose example is the batch's paths and whose inference is the
    model's (n, outputs) rows (the pixels stop at the model).

    Args:
        handle: A handle `imagehub.load` accepts on the workers.
        batch_size: Largest batch passed to the model.
        image_size: (height, width) of the examples.
        engine: What runs the model on the workers (`imagehub.engines`);
            a compiled model is made once per worker machine and cached.
        num_images: Images in the job, when known (for `auto`).
    """

    def __init__(
        self,
        handle: str,
        batch_size: int,
        image_size: tuple[int, int],
        engine: str = "tensorflow",
        num_images: int | None = None,
    ):
        super().__init__()
        self._handle = handle
        self._batch_size = batch_size
        self._image_size = (int(image_size[0]), int(image_size[1]))
        self._engine = engine
        self._num_images = num_images

    def load_model(self) -> OpenedModel:
        if self._engine != "tensorflow":
            from imagehub.embed._engine import open_with_engine

            return open_with_engine(
                self._handle,
                self._image_size,
                self._engine,
                self._batch_size,
                self._num_images,
            )
        obj = hub.load(hub.resolve(self._handle))
        facts = hub.resolve_facts(
            self._handle, obj=obj, image_size=self._image_size
        )
        return OpenedModel(obj=obj, facts=facts)

    def run_inference(self, batch, model, inference_args=None):
        return [PredictionResult(batch.paths, model(batch.images))]

    def should_skip_batching(self) -> bool:
        return True  # each element is a decoded batch

    def get_num_bytes(self, batch) -> int:
        return int(batch.images.nbytes)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


class ReadAndDecode(beam.DoFn):
    """[(path, matched, header)] -> `ImageBatch`; errors on `errors`.

    Takes a batch of paths (`beam.BatchElements`), reads each through
    Beam's FileSystems (local, gs://, s3://, ...) and decodes them
    together with `imagehub.data.decode_batch`: plain JPEGs by one
    TensorFlow call per batch at a reduced DCT scale, the pixels of the
    local runner's `imagehub.data.dataset`. `header` is what the
    launcher's scan found (`ImageIndex.plain_jpeg`), or `HEADER_UNKNOWN` for
    remote files (read here). A matched file (`matched`) that
    does not decode and is not meant as an image
    (`imagehub.data.meant_as_image`: a ``LICENSE.txt`` beside the photos)
    is passed over, as the local runner's listing does; a named path that
    fails is always an error.
    """

    def __init__(
        self, image_size: tuple[int, int], resize: str, max_pixels: int
    ):
        super().__init__()
        self._size = (int(image_size[0]), int(image_size[1]))
        self._resize = resize
        self._max_pixels = int(max_pixels)

    def setup(self) -> None:
        self._passed_over = Metrics.counter(METRICS_NAMESPACE, "passed_over")

    def process(self, elements: Sequence[tuple[str, bool, Any]]):
        from imagehub.data import decode_batch

        read: list[tuple[str, bool, Any, bytes]] = []
        for path, matched, header in elements:
            try:
                with FileSystems.open(
                    path,
                    mime_type="application/octet-stream",
                    compression_type=CompressionTypes.UNCOMPRESSED,
                ) as f:
                    read.append((path, matched, header, f.read()))
            except Exception as e:  # noqa: BLE001  a bad file, not a bug
                error = (path, f"cannot read the file: {e}")
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error)
        if not read:
            return
        paths = [r[0] for r in read]
        decoded = decode_batch(
            [r[3] for r in read],
            self._size,
            self._resize,
            plain_sizes=[r[2] for r in read],
            max_pixels=self._max_pixels,
            names=paths,
        )
        for i, reason in decoded.errors:
            path, matched, _, data = read[i]
            if matched and not meant_as_image(path, data):
                self._passed_over.inc()
            else:
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, (path, reason))
        if decoded.ok:
            ok = tuple(paths[i] for i in decoded.ok)
            yield ImageBatch(ok, decoded.images)


class Count(beam.DoFn):
    """Passes elements through, counting them in a Beam metric."""

    def __init__(self, name: str):
        super().__init__()
        self._name = name

    def setup(self) -> None:
        self._counter = Metrics.counter(METRICS_NAMESPACE, self._name)

    def process(self, element):
        self._counter.inc()
        yield element


class ToTable(beam.DoFn):
    """PredictionResult(paths, rows) -> one Arrow table.

    The rows of a whole batch go to `WriteToParquetBatched` as one table,
    built from the output array without a Python object per value.
    """

    def __init__(self, with_logits: bool):
        super().__init__()
        self._with_logits = with_logits

    def setup(self) -> None:
        self._embedded = Metrics.counter(METRICS_NAMESPACE, "embedded")

    def process(self, result):
        paths = result.example
        vectors = np.asarray(result.inference, np.float32)
        self._embedded.inc(len(paths))
        yield to_table(paths, vectors, self._with_logits)


def _csv_line(error: tuple[str, str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(error)
    return buffer.getvalue()


def _local_index(inputs: Inputs) -> ImageIndex:
    from imagehub.embed._inputs import list_inputs

    return list_inputs(inputs)


def _remote_patterns(inputs: Sequence[str]) -> tuple[list[str], list[str]]:
    """Splits remote inputs into glob patterns and list files."""
    patterns: list[str] = []
    paths: list[str] = []
    for item in inputs:
        if item.lower().endswith(".txt"):
            with FileSystems.open(item) as f:
                text = f.read().decode("utf-8")
            paths.extend(line.strip() for line in text.splitlines() if line)
        elif item.endswith("/"):
            patterns.append(item + "**")
        else:
            patterns.append(item)
    return patterns, paths


def embed_beam(
    handle: str,
    inputs: Inputs,
    output: str,
    batch_size: int = DEFAULTS.batch_size,
    image_size: Any = None,
    resize: str = DEFAULTS.resize,
    options: Mapping[str, Any] | None = None,
    engine: str = DEFAULTS.engine,
) -> EmbedSummary:
    """Runs `embed` as a Beam pipeline and waits for it.

    Args:
        handle: The model handle; every worker loads it with imagehub.load,
            so it must be reachable from the workers.
        inputs: Local folders, globs, list files or images (listed here), or
            remote (``gs://``, ``s3://``...) globs, folders ending in "/" and
            list files (matched by Beam's filesystems).
        output: OUT.parquet: a folder of Parquet shards. A local output is
            published only when the pipeline succeeds.
        batch_size: Largest batch RunInference passes to the model.
        image_size: (height, width); default: the model card's.
        resize: A mode of `imagehub.data.RESIZE_MODES`.
        options: Beam pipeline options; DirectRunner when no runner given.
        engine: What runs the model on the workers (`imagehub.engines`).

    Returns:
        An `EmbedSummary` (rows and errors counted by Beam metrics).
    """
    if not output.lower().endswith(".parquet"):
        raise ValueError(
            f"runner='beam' writes Parquet shards; got output={output!r}, "
            "expected OUT.parquet"
        )
    output_stem(output)
    remote_out = _is_remote(output)
    # The launcher needs the facts (input size, task), not the weights:
    # the resolver loads the model only when it has no card.
    facts = hub.resolve_facts(handle, image_size=image_size, resize=resize)
    size = facts.require_size()
    with_logits = facts.is_classifier

    items = (
        [os.fspath(inputs)]
        if isinstance(inputs, (str, os.PathLike))
        else [os.fspath(i) for i in inputs]
    )
    local_items = [i for i in items if not _is_remote(i)]
    remote_items = [i for i in items if _is_remote(i)]
    # (path, matched, header): the launcher's scan already read the
    # headers of local files; workers read those of remote ones.
    named: list[tuple[str, bool, Any]] = []
    skipped: list[tuple[str, str]] = []
    max_pixels = DEFAULT_MAX_PIXELS
    if local_items:
        index = _local_index(local_items)
        headers: list[Any] = (
            list(index.plain_jpeg)
            if index.plain_jpeg is not None
            else [HEADER_UNKNOWN] * len(index)
        )
        named = list(
            zip(index.paths, [False] * len(index), headers, strict=True)
        )
        skipped = list(index.skipped)
        max_pixels = index.max_pixels
    patterns, listed = _remote_patterns(remote_items)
    named += [(p, False, HEADER_UNKNOWN) for p in listed]

    if remote_out:
        staging = None
        shards_prefix = output.rstrip("/") + "/part"
        errors_out = errors_path(output)
    else:
        # Removed by the next run if this one is killed.
        staging = outputs.temp_sibling(output, directory=True)
        shards_prefix = os.path.join(staging, "shards", "part")
        errors_out = os.path.join(staging, "errors.csv")

    handler = ImagehubModelHandler(
        handle,
        batch_size,
        size,
        engine=engine,
        num_images=None if patterns else len(named),
    )
    schema = arrow_schema(with_logits)

    try:
        pipeline = beam.Pipeline(options=pipeline_options(options))
        sources = []
        if named:
            sources.append(pipeline | "Paths" >> beam.Create(named))
        for i, pattern in enumerate(patterns):
            sources.append(
                pipeline
                | f"Match{i}" >> fileio.MatchFiles(pattern)
                | f"MatchedPath{i}"
                >> beam.Map(lambda m: (m.path, True, HEADER_UNKNOWN))
            )
        if not sources:
            sources.append(pipeline | "NoPaths" >> beam.Create([]))
        decoded = (
            sources
            | "AllPaths" >> beam.Flatten()
            | "Spread" >> beam.Reshuffle()
            # Read, decode and batch in one stage: whole batches of
            # decoded images go to the model, never single images.
            | "Batch"
            >> beam.BatchElements(
                min_batch_size=batch_size, max_batch_size=batch_size
            )
            | "ReadDecode"
            >> beam.ParDo(ReadAndDecode(size, resize, max_pixels))
            # A coder that sizes batches without encoding them.
            .with_output_types(ImageBatch)
            .with_outputs(ERRORS_TAG, main="images")
        )
        (
            decoded.images
            | "RunInference" >> RunInference(handler)
            | "ToTable" >> beam.ParDo(ToTable(with_logits))
            | "WriteParquet"
            >> WriteToParquetBatched(
                shards_prefix, schema, file_name_suffix=".parquet"
            )
        )
        scan_errors = pipeline | "Skipped" >> beam.Create(skipped)
        (
            (decoded[ERRORS_TAG], scan_errors)
            | "AllErrors" >> beam.Flatten()
            | "CountErrors" >> beam.ParDo(Count("errors"))
            | "ErrorLine" >> beam.Map(_csv_line)
            | "WriteErrors"
            >> beam.io.WriteToText(
                errors_out, shard_name_template="", header="path,reason"
            )
        )
        result = pipeline.run()
        result.wait_until_finish()
        counts = {}
        for name in ("embedded", "errors"):
            query = result.metrics().query(
                MetricsFilter()
                .with_namespace(METRICS_NAMESPACE)
                .with_name(name)
            )
            counters = query["counters"]
            # Some runners report only attempted (not committed) values.
            counts[name] = int(
                sum(
                    (c.committed if c.committed is not None else c.attempted)
                    or 0
                    for c in counters
                )
            )
        config = run_config(
            facts,
            batch_size=batch_size,
            resize=resize,
            beam_options=options or {},
        )
        with FileSystems.create(config_path(output)) as f:
            f.write((json.dumps(config, indent=2) + "\n").encode())
        if staging is not None:
            shards = os.path.join(staging, "shards")
            os.makedirs(shards, exist_ok=True)
            # embed() applied the overwrite rule before the pipeline ran.
            outputs.commit(shards, output, overwrite=True)
            if counts["errors"]:
                outputs.commit(errors_out, errors_path(output), overwrite=True)
            else:  # nothing failed: no errors file (an older one goes)
                outputs.discard(errors_path(output))
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    processed = counts["embedded"] + counts["errors"]
    return EmbedSummary(
        output=output,
        errors_path=errors_path(output),
        rows=counts["embedded"],
        errors=counts["errors"],
        processed=processed,
        engine=engine,
        engine_reason="chosen on each worker" if engine == "auto" else "",
    )
