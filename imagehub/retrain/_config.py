"""The hyperparameters and options of `imagehub retrain`, in one place;
where a run reads and writes; the progress events it reports.

`RetrainConfig` holds every flag of tensorflow_hub's old
`make_image_classifier` under the same name, with the same default and the
same meaning, plus imagehub's new options. The command-line flags take their
names and defaults from the fields below and their help from the docstring
under each field (see `_flags.py`); a numeric field also declares its valid
range. The resolved config is saved beside every output.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

from imagehub.engines import ENGINE_CHOICES
from imagehub.spec import RESIZE_MODES

# The old tool's default module (TF2 MobileNet V2 feature vector).
DEFAULT_TFHUB_MODULE = (
    "https://tfhub.dev/google/tf2-preview/mobilenet_v2/feature_vector/4"
)
DISTRIBUTION_STRATEGIES = ("", "mirrored")
TFLITE_QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
# Quantizations that keep float arithmetic: their TFLite model must agree
# with the SavedModel on >= FLOAT_AGREEMENT_MIN of the validation images.
FLOAT_QUANTIZATIONS = ("none", "float16")
FLOAT_AGREEMENT_MIN = 0.99


def quantization_label(quantize: str) -> str:
    """How messages name a --tflite_quantize value: ``none`` reads "no
    quantization", ``int8`` "int8 quantization"."""
    return (
        "no quantization" if quantize == "none" else f"{quantize} quantization"
    )


CLASS_WEIGHTS = ("auto", "none")
AUGMENTATION_FLAGS = "flags"
AUGMENTATION_RANDAUGMENT = "randaugment"
AUGMENTATIONS = (AUGMENTATION_FLAGS, AUGMENTATION_RANDAUGMENT)
# RandAugment's strength: two random operations per image at half of
# their maximal magnitude (keras.layers.RandAugment's defaults, those of
# the RandAugment paper's small-data settings).
RANDAUGMENT_OPS = 2
RANDAUGMENT_MAGNITUDE = 0.5
OPTIMIZERS = ("sgd", "adam")
RECIPE_IMAGEHUB = "imagehub"
RECIPE_OLD = "make_image_classifier"
RECIPES = (RECIPE_IMAGEHUB, RECIPE_OLD)


@dataclasses.dataclass(frozen=True)
class _Range:
    """The values a field accepts: `holds(value)`, and how an error names
    them (``expected ...``)."""

    holds: Callable[[Any], bool]
    expected: str


# The ranges of the numeric fields, checked by `RetrainConfig`.
_AT_LEAST_ONE = _Range(lambda v: int(v) >= 1, "an integer >= 1")
_AT_LEAST_ONE_OR_NONE = _Range(
    lambda v: v is None or v >= 1, "an integer >= 1 or None"
)
_PIXELS_OR_NONE = _Range(
    lambda v: v is None or int(v) >= 1, "a positive number of pixels or None"
)
_POSITIVE = _Range(lambda v: math.isfinite(v) and v > 0, "a positive number")
_POSITIVE_OR_NONE = _Range(
    lambda v: v is None or (math.isfinite(v) and v > 0),
    "a positive number or None",
)
_NOT_NEGATIVE = _Range(lambda v: math.isfinite(v) and v >= 0, "a number >= 0")
_NOT_NEGATIVE_OR_NONE = _Range(
    lambda v: v is None or (math.isfinite(v) and v >= 0),
    "a number >= 0 or None",
)
_OPEN_FRACTION = _Range(lambda v: 0.0 < v < 1.0, "a fraction in (0, 1)")
_FRACTION_BELOW_ONE = _Range(lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")
_FRACTION = _Range(lambda v: 0.0 <= v <= 1.0, "a fraction in [0, 1]")
_FRACTION_OR_NONE = _Range(
    lambda v: v is None or 0.0 <= v <= 1.0, "a number in [0, 1]"
)


def _field(
    default: Any,
    help: str | None = None,
    *,
    old: bool = True,
    valid: _Range | None = None,
    **extra: Any,
) -> Any:
    """A dataclass field: its default, for a number its `valid` range, and
    `old` for the old tool's flags (same name, default and meaning as in
    make_image_classifier). The flag's help is `help` when given (a text
    computed from constants), else the docstring under the field.

    A field imagehub's recipe chooses when it is not given defaults to None
    and names make_image_classifier's default as ``old_default`` (see
    `RetrainConfig.resolved`)."""
    return dataclasses.field(
        default=default,
        metadata={"help": help, "old": old, "valid": valid, **extra},
    )


@dataclasses.dataclass(frozen=True)
class RetrainConfig:
    """Everything `make_image_classifier` needs: data, model, training,
    outputs. Build one with keyword arguments; unset fields keep the old
    tool's defaults, except `train_epochs`, `learning_rate` and
    `l2_regularizer` (`RECIPE_CHOSEN`): None, "chosen by the recipe". On
    cached features the default `recipe` searches those it is not given
    (see `_recipe.py`) and keeps those given, whatever their value; every
    other training (``recipe="make_image_classifier"``, which trains
    exactly as the old tool, and training on images without cached
    features) uses the given value, else make_image_classifier's default
    (`resolved`).

    Example:
        >>> config = RetrainConfig(
        ...     image_dir="photos", tfhub_module="feature_vector_dir",
        ...     saved_model_dir="out/model", train_epochs=10)
    """

    # --- the old make_image_classifier flags ---------------------------
    image_dir: str | None = _field(None)
    """A directory with subdirectories of images, one per class. If unset, the
    flower photos bundled with imagehub are used. The images are split into
    training and validation parts."""
    tfhub_module: str = _field(DEFAULT_TFHUB_MODULE)
    """Handle of the image feature-vector SavedModel to retrain on (a directory,
    file:// or https:// URL); --model is an alias."""
    image_size: int | None = _field(None, valid=_PIXELS_OR_NONE)
    """Height and width of the images fed to the module. Taken from the model
    card, else from the module's traced input signature; needed only for
    variable-size modules without a card."""
    saved_model_dir: str | None = _field(None)
    """Export the trained classifier as a SavedModel directory here (the
    imagehub classification API, with model card and serving signatures)."""
    tflite_output_file: str | None = _field(None)
    """Export the trained classifier as a .tflite file here."""
    labels_output_file: str | None = _field(None)
    """Write the class names (image subdirectory names) here, one a line, in the
    order of the model's outputs."""
    summaries_dir: str | None = _field(None)
    """Where to save summary logs for TensorBoard (loss, accuracy and learning
    rate per epoch; written without TensorBoard installed)."""
    assert_accuracy_at_least: float | None = _field(
        None, valid=_FRACTION_OR_NONE
    )
    """If set, fail (non-zero exit, nothing exported) when the final validation
    accuracy is below this number (between 0 and 1)."""
    train_epochs: int | None = _field(
        None, valid=_AT_LEAST_ONE_OR_NONE, old_default=5
    )
    """Training makes this many passes over the training images (default:
    chosen by the recipe, by early stopping on the validation images;
    make_image_classifier's, and without cached features: 5)."""
    do_fine_tuning: bool = _field(False)
    """Train the module together with the new classification layer."""
    batch_size: int = _field(32, valid=_AT_LEAST_ONE)
    """Number of images in each training step's batch."""
    learning_rate: float | None = _field(
        None, valid=_POSITIVE_OR_NONE, old_default=0.005
    )
    """The learning rate of gradient descent (default: chosen by the recipe
    on the validation images; make_image_classifier's, and without cached
    features: 0.005; fine-tuning after a warm start: the head's / 10)."""
    momentum: float = _field(0.9, valid=_NOT_NEGATIVE)
    """The momentum of gradient descent (SGD optimizer)."""
    dropout_rate: float = _field(0.2, valid=_FRACTION_BELOW_ONE)
    """Fraction of the features dropped before the classification layer during
    training."""
    l1_regularizer: float = _field(0.0, valid=_NOT_NEGATIVE)
    """L1 regularization coefficient of the classification layer."""
    l2_regularizer: float | None = _field(
        None, valid=_NOT_NEGATIVE_OR_NONE, old_default=0.0001
    )
    """L2 regularization coefficient of the classification layer (default:
    chosen by the recipe on the validation images; make_image_classifier's,
    and without cached features: 0.0001)."""
    label_smoothing: float = _field(0.1, valid=_FRACTION)
    """Label smoothing coefficient of the cross-entropy loss."""
    validation_split: float = _field(0.2, valid=_OPEN_FRACTION)
    """Fraction of the images held out for validation."""
    do_data_augmentation: bool = _field(False)
    """Randomly distort the training images (rotation, flip, shifts, shear, zoom
    as set by the flags below)."""
    rotation_range: float = _field(40, valid=_NOT_NEGATIVE)
    """Random rotation range in DEGREES (converted correctly for Keras, which
    expects a fraction of a full turn)."""
    horizontal_flip: bool = _field(True)
    """Randomly flip training images horizontally."""
    width_shift_range: float = _field(0.2, valid=_NOT_NEGATIVE)
    """Random horizontal shift: a fraction of the width if < 1, else pixels."""
    height_shift_range: float = _field(0.2, valid=_NOT_NEGATIVE)
    """Random vertical shift: a fraction of the height if < 1, else pixels."""
    shear_range: float = _field(0.2, valid=_NOT_NEGATIVE)
    """Random shear angle range in degrees."""
    zoom_range: float = _field(0.2, valid=_NOT_NEGATIVE)
    """Random zoom range: images are zoomed by 1 +- this fraction."""
    distribution_strategy: str = _field("", choices=DISTRIBUTION_STRATEGIES)
    """Distribution strategy: '' (none) or 'mirrored' (all local GPUs)."""
    use_mixed_precision: bool = _field(False)
    """Train with the mixed_float16 policy (float16 compute, float32 weights and
    logits); useful on recent GPUs."""
    set_memory_growth: bool = _field(False)
    """Let TensorFlow grow GPU memory as needed."""
    # --- new in imagehub ------------------------------------------------
    cache_features: bool | None = _field(None, old=False)
    """Run the frozen module once per image and train the classifier on the
    cached features (default: on when the module is frozen and augmentation
    is off)."""
    resize: str = _field("stretch", old=False, choices=RESIZE_MODES)
    """How images are brought to the module's size: stretch (the old tool's
    behaviour), crop (central crop) or pad (letterbox)."""
    class_weights: str = _field("none", old=False, choices=CLASS_WEIGHTS)
    """'auto' weights each class by the inverse of its frequency among the
    training images; 'none' weights all images alike."""
    early_stopping_patience: int | None = _field(
        None, old=False, valid=_AT_LEAST_ONE_OR_NONE
    )
    """Stop when the validation loss has not improved for this many epochs, and
    keep the best epoch's weights."""
    seed: int | None = _field(None, old=False)
    """Seed of the split, the initial weights, dropout and the batch order; also
    makes TensorFlow's ops deterministic."""
    resume: bool = _field(False, old=False)
    """Continue an interrupted run from its last checkpoint (in
    --checkpoint_dir)."""
    checkpoint_dir: str | None = _field(None, old=False)
    """Where a checkpoint is written after each epoch (default: beside the first
    output, '<name>_checkpoints')."""
    tflite_quantize: str = _field(
        "none", old=False, choices=TFLITE_QUANTIZATIONS
    )
    """TFLite post-training quantization: none, dynamic (int8 weights), float16,
    or int8 (calibrated on training images)."""
    report_dir: str | None = _field(None, old=False)
    """Where metrics.json, the hyperparameters, the plots and report.html go
    (default: beside the SavedModel, '<name>_report')."""
    optimizer: str = _field("sgd", old=False, choices=OPTIMIZERS)
    """sgd (with --momentum, the old tool's) or adam."""
    validate_images: bool = _field(True, old=False)
    """Decode every image once before training and leave out (and report) the
    ones that do not decode. With cached features the feature pass does this
    instead."""
    recipe: str = _field(RECIPE_IMAGEHUB, old=False, choices=RECIPES)
    """How the head is trained on cached features. imagehub: try a small grid of
    learning rates and L2 strengths, each with early stopping on the
    validation images, keep the best, then train it on training + validation
    images (given flags fix their part, whatever their value:
    --learning_rate, --l2_regularizer, --train_epochs); with
    --do_fine_tuning, the head is searched that way on the frozen module's
    features before the whole model trains. make_image_classifier: the old
    tool's training exactly (--train_epochs of SGD from a random head)."""
    augmentation: str = _field(
        AUGMENTATION_FLAGS,
        # Computed, so not a docstring: it names RandAugment's settings.
        help=(
            "With --do_data_augmentation: flags (rotation, flip, shifts, "
            "shear, zoom as set by their flags) or randaugment (a horizontal "
            "flip if --horizontal_flip, then keras.layers.RandAugment: "
            f"{RANDAUGMENT_OPS} random operations per image at magnitude "
            f"{RANDAUGMENT_MAGNITUDE})."
        ),
        old=False,
        choices=AUGMENTATIONS,
    )
    multi_label: bool = _field(False, old=False)
    """Each image may show several classes: a sigmoid head trained with binary
    cross-entropy (on cached features, or with --do_fine_tuning /
    --do_data_augmentation on the images after a warm start), one threshold
    per class chosen on the validation images (stored in the model card),
    scored by mAP and per-class F1. Needs --labels_csv."""
    labels_csv: str | None = _field(None, old=False)
    """With --multi_label: a CSV file of 'path,labels' rows, labels separated by
    ';' (e.g. 'img/1.jpg,cat;dog'); relative paths are read from --image_dir,
    else from the CSV's folder. An optional first row 'path,labels' is a
    header."""
    engine: str = _field("auto", old=False, choices=ENGINE_CHOICES)
    """What runs the frozen module's feature pass: auto (as for imagehub
    embed: the fastest engine that keeps parity with TensorFlow, measured
    once per model on this machine; TensorFlow for jobs under 1000 images
    until then), tensorflow, litert or openvino (compiled once, checked
    against TensorFlow within 1e-4, cached). Not with --do_fine_tuning,
    whose module trains in TensorFlow."""
    overwrite: bool = _field(False, old=False)
    """Replace existing outputs (--saved_model_dir, --tflite_output_file,
    --labels_output_file, the report folder) and start the checkpoint folder
    over. Without it an existing output is refused before training starts;
    the old one stays until the new one is complete."""

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            value = getattr(self, name)
            return ValueError(f"{name}={value!r}; expected {expected}")

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            valid = f.metadata["valid"]
            if valid is not None and not valid.holds(value):
                raise bad(f.name, valid.expected)
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise bad(f.name, f"one of {choices}")
        if (
            self.augmentation != AUGMENTATION_FLAGS
            and not self.do_data_augmentation
        ):
            raise bad("augmentation", "used with --do_data_augmentation")
        if self.multi_label and not self.labels_csv:
            raise bad("labels_csv", "a CSV file with --multi_label")
        if self.labels_csv and not self.multi_label:
            raise bad("labels_csv", "None without --multi_label")
        if self.cache_features and not self.frozen_backbone_without_aug:
            raise ValueError(
                "cache_features=True needs a frozen module without "
                "augmentation (features change every step when "
                "do_fine_tuning or do_data_augmentation is set); drop "
                "--cache_features or those flags"
            )
        if self.engine not in ("auto", "tensorflow"):
            if self.do_fine_tuning:
                raise ValueError(
                    f"engine={self.engine!r} runs the feature pass of a "
                    "frozen module; with do_fine_tuning the module trains "
                    "in TensorFlow; drop --engine (or use --engine auto) or "
                    "--do_fine_tuning"
                )
            if not self.use_feature_cache:
                raise ValueError(
                    f"engine={self.engine!r} runs the feature pass, which "
                    "a run without cached features does not make "
                    "(--do_data_augmentation or --cache_features=false); "
                    "drop --engine or those flags"
                )

    @property
    def frozen_backbone_without_aug(self) -> bool:
        return not self.do_fine_tuning and not self.do_data_augmentation

    @property
    def searches(self) -> bool:
        """Whether imagehub's recipe trains the head (cached features)."""
        return self.recipe == RECIPE_IMAGEHUB and self.use_feature_cache

    @property
    def warm_starts(self) -> bool:
        """Whether fine-tuning starts from a head trained by imagehub's
        recipe on the frozen module's features."""
        return self.recipe == RECIPE_IMAGEHUB and self.do_fine_tuning

    @property
    def use_feature_cache(self) -> bool:
        """Whether training runs on cached features (resolves None)."""
        if self.cache_features is None:
            return self.frozen_backbone_without_aug
        return bool(self.cache_features)

    def given(self, name: str) -> bool:
        """Whether a field of `RECIPE_CHOSEN` was given (is not None)."""
        return getattr(self, name) is not None

    def resolved(self, name: str) -> Any:
        """A field's value; for a field of `RECIPE_CHOSEN` left None,
        make_image_classifier's default: what every training but imagehub's
        search uses (the one place those defaults are applied)."""
        value = getattr(self, name)
        if value is None and name in RECIPE_CHOSEN:
            return _FIELDS[name].metadata["old_default"]
        return value

    @property
    def resolved_train_epochs(self) -> int:
        """--train_epochs, else make_image_classifier's 5."""
        return int(self.resolved("train_epochs"))

    @property
    def resolved_learning_rate(self) -> float:
        """--learning_rate, else make_image_classifier's 0.005."""
        return float(self.resolved("learning_rate"))

    @property
    def resolved_l2_regularizer(self) -> float:
        """--l2_regularizer, else make_image_classifier's 0.0001."""
        return float(self.resolved("l2_regularizer"))

    def image_learning_rate(self, warm_rate: float | None) -> float:
        """The learning rate of training on images: --learning_rate when
        given, else after a warm start whose head was trained at
        `warm_rate` that rate / 10, else make_image_classifier's."""
        if self.given("learning_rate") or warm_rate is None:
            return self.resolved_learning_rate
        return warm_rate / 10

    def _used(self, name: str) -> Any:
        """How hparams.json's ``resolved`` records a `RECIPE_CHOSEN`
        field: its value as used, or what the recipe does instead."""
        if self.given(name) or not (self.searches or self.warm_starts):
            return self.resolved(name)
        if self.searches:
            return "searched"
        if name == "learning_rate":
            return "searched head's / 10"
        return self.resolved(name)  # fine-tuning's epochs and Keras L2

    def replace(self, **changes: Any) -> RetrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as given, as a JSON-ready dict, plus the resolved
        choices: under ``resolved``, each field of `RECIPE_CHOSEN` as used,
        "searched" when imagehub's recipe chooses it (metrics.json's
        ``recipe`` has the chosen value)."""
        out = dataclasses.asdict(self)
        out["resolved"] = {
            **{name: self._used(name) for name in RECIPE_CHOSEN},
            "cache_features": self.use_feature_cache,
            "recipe": (
                self.recipe if self.searches or self.warm_starts else RECIPE_OLD
            ),
            "warm_start": self.warm_starts,
        }
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(RetrainConfig)}
# The fields imagehub's recipe chooses when they are not given (None).
RECIPE_CHOSEN = tuple(
    name for name, f in _FIELDS.items() if "old_default" in f.metadata
)


def old_flag_names() -> tuple[str, ...]:
    """Names of make_image_classifier's flags, in definition order."""
    return tuple(
        f.name for f in dataclasses.fields(RetrainConfig) if f.metadata["old"]
    )


def field_help() -> dict[str, str]:
    """The help of each `RetrainConfig` field: the docstring under it in
    the source (what IDEs and documentation tools show for the attribute),
    on one line, else its ``help`` metadata; "" when the source cannot be
    read (a build without .py files)."""
    import ast
    import inspect
    import textwrap

    helps = {
        f.name: f.metadata["help"] or ""
        for f in dataclasses.fields(RetrainConfig)
    }
    try:
        source = textwrap.dedent(inspect.getsource(RetrainConfig))
    except (OSError, TypeError):
        return helps
    cls = ast.parse(source).body[0]
    if not isinstance(cls, ast.ClassDef):
        return helps
    for field, after in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
            and not helps[field.target.id]
        ):
            helps[field.target.id] = " ".join(after.value.value.split())
    return helps


# --- where a run reads and writes -----------------------------------------
DEFAULT_IMAGE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "_default",
    "flowers",
)


def image_dir(config: RetrainConfig) -> str:
    """--image_dir, else the flower photos bundled with imagehub."""
    return config.image_dir or DEFAULT_IMAGE_DIR


def output_paths(config: RetrainConfig) -> list[tuple[str, str | None]]:
    """``(kind, path)`` of the model outputs, in the order they are
    written; the path is None for an output that was not asked for."""
    return [
        ("saved_model", config.saved_model_dir),
        ("tflite", config.tflite_output_file),
        ("labels", config.labels_output_file),
    ]


def output_kind(path: str, config: RetrainConfig) -> str:
    """The kind of output `path` is (``report`` if no model output)."""
    for kind, value in output_paths(config):
        if value and path == value:
            return kind
    return "report"


def _stem(path: str) -> str:
    path = os.path.abspath(path).rstrip(os.sep)
    root, ext = os.path.splitext(path)
    return root if ext in (".tflite", ".txt") else path


def _output_base(config: RetrainConfig) -> str | None:
    for _, path in output_paths(config):
        if path:
            return _stem(path)
    return None


def default_report_dir(config: RetrainConfig) -> str | None:
    """--report_dir, else ``<saved model>_report`` beside the SavedModel
    (or beside the first output); None when nothing is exported."""
    if config.report_dir:
        return config.report_dir
    base = _output_base(config)
    return None if base is None else f"{base}_report"


def default_checkpoint_dir(config: RetrainConfig) -> str | None:
    """--checkpoint_dir, else ``<saved model>_checkpoints``."""
    if config.checkpoint_dir:
        return config.checkpoint_dir
    base = _output_base(config) or (
        _stem(config.report_dir) if config.report_dir else None
    )
    return None if base is None else f"{base}_checkpoints"


# --- progress events ----------------------------------------------------------
# Stages, in the order a run reports them.
STAGE_VALIDATE = "validate"  # decoding every image once; done/total images
STAGE_FEATURES = "features"  # caching features; done/total images
STAGE_TRAIN = "train"  # a training step; done/total steps of `epoch`
STAGE_EPOCH_END = "epoch_end"  # after the checkpoint; done/total epochs
STAGE_SEARCH = "search"  # the recipe's grid; done/total settings tried
STAGE_EXPORT = "export"  # writing outputs; done/total outputs
STAGES = (
    STAGE_VALIDATE,
    STAGE_FEATURES,
    STAGE_TRAIN,
    STAGE_EPOCH_END,
    STAGE_SEARCH,
    STAGE_EXPORT,
)


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """One step of progress.

    Attributes:
        stage: One of `STAGES`.
        done: Units done so far in this stage (images, steps, epochs).
        total: Units in this stage.
        epoch: The 1-based epoch of ``train`` and ``epoch_end`` events.
        logs: Metrics so far (``loss``, ``accuracy``, ``val_accuracy``...).
    """

    stage: str
    done: int
    total: int
    epoch: int | None = None
    logs: dict[str, Any] = dataclasses.field(default_factory=dict)


ProgressFn = Callable[[ProgressEvent], None]


def report(progress: ProgressFn | None, *args: Any, **kwargs: Any) -> None:
    """Sends a `ProgressEvent` to `progress` if there is one."""
    if progress is not None:
        progress(ProgressEvent(*args, **kwargs))
