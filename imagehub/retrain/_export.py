"""Stage 6 of a run, `export`: the SavedModel, the TFLite model, the labels
file and the report, all staged in temporary siblings, checked, then moved
into place together: all or nothing.

TFLite conversion reads the exported SavedModel's float signature
(`serving_default`: [0, 1] images in, logits out). Quantization is
post-training: ``dynamic`` (int8 weights), ``float16`` (float16 weights) or
``int8`` (integer arithmetic, calibrated on training images; float input and
output, so callers feed the same [0, 1] images). The converted model then
classifies the validation images beside the SavedModel; the share of equal
top-1 classes is the agreement rate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import numpy as np

from imagehub import outputs
from imagehub.retrain import _report
from imagehub.retrain._config import FLOAT_AGREEMENT_MIN
from imagehub.retrain._config import FLOAT_QUANTIZATIONS
from imagehub.retrain._config import STAGE_EXPORT
from imagehub.retrain._config import TFLITE_QUANTIZATIONS
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import output_kind
from imagehub.retrain._config import output_paths
from imagehub.retrain._config import quantization_label
from imagehub.retrain._config import report
from imagehub.retrain._errors import TFLiteMismatchError
from imagehub.retrain._evaluate import Evaluation
from imagehub.retrain._features import Data
from imagehub.retrain._features import images
from imagehub.retrain._fit import FitResult
from imagehub.retrain._model import Model
from imagehub.retrain._prepare import Prepared
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import write_labels

logger = logging.getLogger(__name__)

# Training images used to calibrate int8 quantization.
_REPRESENTATIVE_IMAGES = 100


@dataclasses.dataclass(frozen=True)
class TFLiteCheck:
    """How the TFLite model agrees with the SavedModel.

    Attributes:
        quantize: The quantization (``none``: float32, no quantization).
        agreement: Share of validation images with the same decision.
        count: Number of validation images compared.
        bytes: Size of the .tflite file.
        compared: What the decision is: ``top-1`` (the top class), or
            ``label-set`` (every class at its threshold, multi-label).
    """

    quantize: str
    agreement: float
    count: int
    bytes: int
    compared: str = "top-1"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line: the quantization and the agreement."""
        return (
            f"TFLite ({quantization_label(self.quantize)}) {self.compared} "
            f"agreement with the SavedModel: {self.agreement:.1%} of "
            f"{self.count} validation images"
        )


@dataclasses.dataclass(frozen=True)
class Exported:
    """What `export` wrote.

    Attributes:
        outputs: Output kind (``saved_model``, ``tflite``, ``labels``,
            ``report``) -> absolute path, in the order written.
        tflite: The TFLite check, or None without a TFLite output.
        metrics: The metrics document (as in metrics.json).
    """

    outputs: dict[str, str]
    tflite: TFLiteCheck | None
    metrics: dict[str, Any]


def export(
    prepared: Prepared,
    model: Model,
    data: Data,
    fit: FitResult,
    evaluation: Evaluation,
    progress: ProgressFn | None,
) -> Exported:
    """Stages every output in temporary siblings, checks them, then moves
    them all into place.

    Raises:
        TFLiteMismatchError: The float TFLite model disagrees with the
            SavedModel; nothing is written then.
    """
    config = prepared.config
    written = export_progress(prepared, progress)

    def convert(path: str) -> tuple[TFLiteCheck, bytes]:
        return _tflite(prepared, model, data, path)

    with staging() as (staged, scratch):
        tflite = stage_models(
            prepared, model, staged, scratch, written, convert
        )
        metrics = _report.metrics_document(
            prepared, model, data, fit, evaluation, tflite
        )
        if prepared.report_dir:
            tmp = outputs.temp_sibling(prepared.report_dir, directory=True)
            staged.append((tmp, prepared.report_dir))
            _report.write_report(
                tmp,
                metrics=metrics,
                hparams=_report.hparams_document(prepared, model),
                history=fit.history,
                class_names=list(prepared.class_names),
                val_paths=list(evaluation.paths),
                val_labels=evaluation.labels,
                val_predictions=evaluation.predictions,
                resize=config.resize,
            )
            written()
        written_to = commit_staged(staged, config)
    return Exported(outputs=written_to, tflite=tflite, metrics=metrics)


def stage_models(
    prepared: Prepared,
    model: Model,
    staged: list[tuple[str, str]],
    scratch: str,
    written: Callable[[], None],
    tflite: Callable[[str], tuple[TFLiteCheck, bytes]],
    extra: dict[str, Any] | None = None,
) -> TFLiteCheck | None:
    """Exports the classifier SavedModel (a temporary sibling of
    --saved_model_dir, or a folder in `scratch` for a TFLite model only),
    its TFLite model and the labels file, each added to `staged` as
    ``(tmp, final)``. The card's activation is ``sigmoid`` for a
    --multi_label run, else ``softmax``.

    Args:
        written: Called after each output is staged.
        tflite: Converts and checks the SavedModel at the path given
            (`check_tflite`); called with --tflite_output_file only.
        extra: The card's ``extra`` facts.

    Returns:
        The TFLite check, or None without a TFLite output.
    """
    from imagehub.export import export_classifier

    config = prepared.config
    activation = "sigmoid" if config.multi_label else "softmax"
    kind = " --multi_label" if config.multi_label else ""
    source = f"imagehub retrain{kind} on {config.tfhub_module}"
    check = None
    if config.saved_model_dir or config.tflite_output_file:
        if config.saved_model_dir:
            path = outputs.temp_sibling(config.saved_model_dir, directory=True)
            os.rmdir(path)
            staged.append((path, config.saved_model_dir))
        else:
            path = os.path.join(scratch, "saved_model")
        export_classifier(
            model.classifier,
            path,
            labels=list(prepared.class_names),
            activation=activation,
            image_size=model.image_size,
            source=source,
            extra=extra,
        )
        if config.saved_model_dir:
            written()
    if config.tflite_output_file:
        check, content = tflite(path)
        tmp = outputs.temp_sibling(config.tflite_output_file)
        with open(tmp, "wb") as f:
            f.write(content)
        staged.append((tmp, config.tflite_output_file))
        written()
    if config.labels_output_file:
        tmp = outputs.temp_sibling(config.labels_output_file)
        write_labels(tmp, prepared.class_names)
        staged.append((tmp, config.labels_output_file))
        written()
    return check


def export_progress(
    prepared: Prepared, progress: ProgressFn | None
) -> Callable[[], None]:
    """A function to call after each output is staged: it sends the
    ``export`` event (outputs done / outputs asked for, the report
    folder included)."""
    wanted = [path for _, path in output_paths(prepared.config)]
    total = sum(1 for w in [*wanted, prepared.report_dir] if w)
    done = 0

    def written() -> None:
        nonlocal done
        done += 1
        report(progress, STAGE_EXPORT, done, total)

    return written


@contextlib.contextmanager
def staging() -> Iterator[tuple[list[tuple[str, str]], str]]:
    """A list for staged ``(tmp, final)`` outputs and a scratch folder.
    On leaving, the outputs still staged (an error came before
    `commit_staged`) are discarded and the scratch folder removed."""
    staged: list[tuple[str, str]] = []
    scratch = tempfile.mkdtemp(prefix="imagehub-retrain-")
    try:
        yield staged, scratch
    finally:
        for tmp, _ in staged:
            outputs.discard(tmp)
        shutil.rmtree(scratch, ignore_errors=True)


def commit_staged(
    staged: list[tuple[str, str]], config: RetrainConfig
) -> dict[str, str]:
    """Moves each staged ``(tmp, final)`` output into place, then empties
    `staged`; returns output kind -> absolute path written."""
    written: dict[str, str] = {}
    for tmp, final in staged:
        outputs.commit(tmp, final, overwrite=config.overwrite)
        written[output_kind(final, config)] = os.path.abspath(final)
        logger.info("wrote %s", final)
    staged.clear()
    return written


def _val_images(prepared: Prepared, model: Model, data: Data):
    for batch, _ in images(prepared, model, data.val):
        yield batch.numpy()


def _representative(prepared: Prepared, model: Model, data: Data):
    count = 0
    for batch, _ in images(prepared, model, data.train):
        for image in batch.numpy():
            yield image[None]
            count += 1
            if count >= _REPRESENTATIVE_IMAGES:
                return


def _tflite(
    prepared: Prepared, model: Model, data: Data, saved_model: str
) -> tuple[TFLiteCheck, bytes]:
    return check_tflite(
        saved_model,
        prepared.config.tflite_quantize,
        representative_images=lambda: _representative(prepared, model, data),
        validation_images=lambda: _val_images(prepared, model, data),
    )


def check_tflite(
    saved_model: str,
    quantize: str,
    *,
    representative_images: Callable[[], Iterable[np.ndarray]],
    validation_images: Callable[[], Iterable[np.ndarray]],
    decide: Callable[[np.ndarray], np.ndarray] | None = None,
    compared: str = "top-1",
) -> tuple[TFLiteCheck, bytes]:
    """Converts a staged SavedModel and checks the TFLite model agrees
    with it on the validation images.

    Args:
        saved_model: The exported classifier.
        quantize: One of ``TFLITE_QUANTIZATIONS``.
        representative_images: Training images for ``int8`` calibration
            (see `convert`).
        validation_images: Returns an iterable of image batches.
        decide: Maps logits to the decisions compared (see `agreement`);
            None: the top-1 class.
        compared: What `decide` decides, in messages.

    Returns:
        The check and the .tflite model's bytes.

    Raises:
        TFLiteMismatchError: A float model disagrees.
    """
    import tensorflow as tf

    content = convert(
        saved_model, quantize, representative_images=representative_images
    )
    loaded = tf.saved_model.load(saved_model)
    serving = loaded.signatures[SIGNATURE_FLOAT]

    def reference(batch):
        out = serving(images=tf.constant(batch))
        return next(iter(out.values())).numpy()

    rate, count = agreement(
        reference, TFLiteClassifier(content), validation_images(), decide
    )
    check_agreement(rate, count, quantize, compared)
    check = TFLiteCheck(
        quantize=quantize,
        agreement=rate,
        count=count,
        bytes=len(content),
        compared=compared,
    )
    return check, content


# --- TFLite conversion and its check -----------------------------------------


def convert(
    saved_model_dir: str,
    quantize: str = "none",
    representative_images: Callable[[], Iterable[np.ndarray]] | None = None,
) -> bytes:
    """Converts a classifier SavedModel's float signature to TFLite.

    Args:
        saved_model_dir: The exported classifier.
        quantize: One of ``TFLITE_QUANTIZATIONS``.
        representative_images: For ``int8``: returns an iterable of float32
            [1, H, W, 3] arrays of training images, for calibration.

    Returns:
        The flatbuffer bytes.

    Raises:
        ValueError: `quantize` is unknown, or ``int8`` lacks images.
    """
    import tensorflow as tf

    if quantize not in TFLITE_QUANTIZATIONS:
        raise ValueError(
            f"quantize={quantize!r}; expected one of {TFLITE_QUANTIZATIONS}"
        )
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[SIGNATURE_FLOAT]
    )
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative_images is None:
            raise ValueError(
                "quantize='int8' needs representative_images (training "
                "images for calibration)"
            )

        def representative():
            for image in representative_images():
                yield [np.asarray(image, np.float32)]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        ]
    return converter.convert()


class TFLiteClassifier:
    """Runs a .tflite classifier on float32 image batches (numpy)."""

    def __init__(self, model_content: bytes):
        import tensorflow as tf

        self._interpreter = tf.lite.Interpreter(model_content=model_content)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch: tuple[int, ...] | None = None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if self._batch != images.shape:
            self._interpreter.resize_tensor_input(
                self._input["index"], images.shape
            )
            self._interpreter.allocate_tensors()
            self._batch = images.shape
        self._interpreter.set_tensor(self._input["index"], images)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output["index"]))


def agreement(
    reference: Callable[[np.ndarray], Any],
    lite: Callable[[np.ndarray], np.ndarray],
    batches: Iterable[np.ndarray],
    decide: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, int]:
    """The share of images on which both models decide the same.

    Args:
        reference: The SavedModel: image batch -> logits.
        lite: The TFLite model: image batch -> logits.
        batches: Image batches.
        decide: Logits [n, classes] -> decisions [n, ...]; an image agrees
            when all of its decisions are equal. None: the top-1 class
            (a multi-label model passes its thresholds instead).

    Returns:
        ``(rate, count)``; rate is 1.0 when there are no images.
    """
    if decide is None:

        def decide(logits: np.ndarray) -> np.ndarray:
            return np.argmax(logits, axis=-1)

    same = count = 0
    for batch in batches:
        batch = np.asarray(batch, np.float32)
        equal = decide(np.asarray(reference(batch))) == decide(lite(batch))
        same += int(np.sum(equal.reshape(len(batch), -1).all(axis=1)))
        count += len(batch)
    return (same / count if count else 1.0), count


def check_agreement(
    rate: float, count: int, quantize: str, compared: str = "top-1"
) -> None:
    """Raises for a float model below `FLOAT_AGREEMENT_MIN`; logs else.

    Raises:
        TFLiteMismatchError: float model agreement below the minimum.
    """
    message = (
        f"TFLite ({quantization_label(quantize)}) {compared} agrees with "
        "the SavedModel on "
        f"{rate:.1%} of {count} validation images"
    )
    if quantize in FLOAT_QUANTIZATIONS and rate < FLOAT_AGREEMENT_MIN:
        raise TFLiteMismatchError(
            f"{message}; a float model must agree on at least "
            f"{FLOAT_AGREEMENT_MIN:.0%}. Nothing was exported. This points "
            "to an op the TFLite converter handles differently; please "
            "report it with the module you used."
        )
    if rate < FLOAT_AGREEMENT_MIN:
        logger.warning("%s (quantization costs accuracy)", message)
    else:
        logger.info("%s", message)
