"""Stage 1 of a run, `prepare`: check the options and the outputs, read the
images folder and the module's model card, choose the seed and split the
images.

Also the input size to train at, checked against the module's facts once
it is loaded (`_model.build`).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from imagehub.retrain._checkpoint import has_checkpoint
from imagehub.retrain._checkpoint import remove_checkpoint
from imagehub.retrain._checkpoint import stored_seed
from imagehub.retrain._config import STAGE_VALIDATE
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import default_checkpoint_dir
from imagehub.retrain._config import default_report_dir
from imagehub.retrain._config import image_dir as resolved_image_dir
from imagehub.retrain._config import output_paths
from imagehub.retrain._config import report
from imagehub.retrain._errors import FlagValueError
from imagehub.retrain._errors import ImageSizeError
from imagehub.retrain._errors import RetrainError
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import ModelCard

if TYPE_CHECKING:
    from imagehub.hub import ModelFacts

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What `prepare` found: the run's images, module and seed.

    Attributes:
        config: The run's settings as given.
        seed: The seed in use (given, stored with the checkpoint being
            resumed, or drawn).
        image_dir: The images folder read.
        images: Every usable image (an `imagehub.data.ImageIndex`).
        train: The training part of `images`.
        val: The validation part of `images`.
        class_names: Class names in the order of the logits.
        skipped: ``(path, reason)`` of every file left out so far.
        module_dir: The resolved feature-vector SavedModel folder.
        card: Its model card, or None.
        checkpoint_dir: Where checkpoints and cached features go, or None.
        report_dir: Where the report goes, or None.
    """

    config: RetrainConfig
    seed: int
    image_dir: str
    images: Any
    train: Any
    val: Any
    class_names: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    module_dir: str
    card: ModelCard | None
    checkpoint_dir: str | None
    report_dir: str | None


def prepare(config: RetrainConfig, progress: ProgressFn | None) -> Prepared:
    """Checks the options, reads the images and the module's card, seeds
    the run (Keras's global seed too) and splits the images.

    Raises:
        FlagValueError: A missing --image_dir, or a --tfhub_module that
            does not resolve or is not a feature vector.
        RetrainError: Too few classes or images.
        OutputExistsError: An output exists and --overwrite is not set.
    """
    import keras

    if config.set_memory_growth:
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    # With cached features the feature pass reads every image once anyway
    # (and bad ones drop out of it), so a separate pre-flight pass would
    # only double the decoding.
    images = scan(
        config,
        progress,
        validate=config.validate_images and not config.use_feature_cache,
    )
    module_dir, card = resolve_module(config)
    checkpoint_dir = default_checkpoint_dir(config)
    report_dir = default_report_dir(config)
    check_outputs(config, checkpoint_dir, report_dir)
    seed = config.seed
    if seed is None and config.resume:
        seed = stored_seed(checkpoint_dir)
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    keras.utils.set_random_seed(int(seed))
    train, val = split_images(images, config.validation_split, int(seed))
    return Prepared(
        config=config,
        seed=int(seed),
        image_dir=resolved_image_dir(config),
        images=images,
        train=train,
        val=val,
        class_names=tuple(images.class_names),
        skipped=tuple(images.skipped),
        module_dir=module_dir,
        card=card,
        checkpoint_dir=checkpoint_dir,
        report_dir=report_dir,
    )


def resolve_module(config: RetrainConfig) -> tuple[str, ModelCard | None]:
    """The --tfhub_module's local folder and its model card.

    Its task comes from `imagehub.hub.resolve_facts` (the card; the
    module is not loaded here, `build` loads it once).

    Raises:
        FlagValueError: It does not resolve or is not a feature vector.
    """
    from imagehub import hub
    from imagehub.hub import HubError

    try:
        module_dir = hub.resolve(config.tfhub_module)
    except HubError as e:
        raise FlagValueError(f"--tfhub_module: {e}") from e
    facts = hub.resolve_facts(module_dir, load=False)
    if facts.task not in (None, TASK_FEATURE_VECTOR):
        raise FlagValueError(
            f"--tfhub_module {config.tfhub_module!r} is a {facts.task} "
            "model; retraining needs an image feature vector model (export "
            "one with `imagehub export`)"
        )
    return module_dir, facts.card


def split_images(images: Any, validation_split: float, seed: int):
    """``(train, val)`` parts of an `imagehub.data.ImageIndex`.

    Raises:
        RetrainError: One part would be empty.
    """
    from imagehub import data

    train, val = data.split(images, validation_split, seed)
    if not len(train) or not len(val):
        raise RetrainError(
            f"{len(images)} images cannot be split into training and "
            f"validation with validation_split={validation_split}; "
            "add images"
        )
    return train, val


def check_outputs(
    config: RetrainConfig, checkpoint_dir: str | None, report_dir: str | None
) -> None:
    """Refuses existing outputs before any training, unless --overwrite
    (then an earlier run's checkpoint is removed, its cached features
    kept: their key says whether they still apply).

    Raises:
        OutputExistsError: An output exists and --overwrite is not set.
    """
    from imagehub import outputs

    for _, path in output_paths(config):
        if path:
            outputs.check_target(path, config.overwrite)
    if report_dir:
        outputs.check_target(report_dir, config.overwrite)
    if checkpoint_dir and not config.resume:
        if not config.overwrite and has_checkpoint(checkpoint_dir):
            raise outputs.OutputExistsError(
                checkpoint_dir,
                "it holds the checkpoint of an earlier run; --resume "
                "continues that run",
            )
        if config.overwrite:
            remove_checkpoint(checkpoint_dir)


# --- the images ------------------------------------------------------------


def check_classes(index: Any, image_dir: str) -> None:
    """Raises if a class folder has no usable image in `index`."""
    counts = np.bincount(
        np.asarray(index.labels, np.int64), minlength=len(index.class_names)
    )
    empty = [n for n, c in zip(index.class_names, counts, strict=True) if not c]
    if empty:
        raise RetrainError(
            f"class folders without usable images: {', '.join(empty)} "
            f"(in {image_dir}); add images or remove the folders"
        )


def scan(config: RetrainConfig, progress: ProgressFn | None, validate: bool):
    """The labelled images of --image_dir (an `imagehub.data.ImageIndex`),
    decoded once first when `validate`.

    Raises:
        FlagValueError: The folder is missing or has fewer than two class
            folders.
        RetrainError: A class has no usable image.
    """
    from imagehub import data

    image_dir = resolved_image_dir(config)
    try:
        index = data.scan_classes(image_dir)
    except (FileNotFoundError, ValueError) as e:
        raise FlagValueError(f"--image_dir: {e}") from e
    # Files that are not images (a LICENSE.txt, .DS_Store) are noted;
    # images that do not decode are warned about.
    for path, reason in index.skipped:
        logger.info("not used: %s: %s", path, reason)
    scanned = len(index.skipped)
    if validate:
        index = data.validate(
            index,
            progress=lambda done, total: report(
                progress, STAGE_VALIDATE, done, total
            ),
        )
    for path, reason in index.skipped[scanned:]:
        warn_left_out(path, reason)
    check_classes(index, image_dir)
    return index


def warn_left_out(path: str, reason: str) -> None:
    logger.warning("left out %s: %s", path, reason)


# --- the module's input size -------------------------------------------------


def module_image_size(prepared: Prepared, loaded: Any) -> tuple[int, int]:
    """The input size to train at (`resolve_image_size`), from the
    module's card, else the traces of its `loaded` object.

    Raises:
        ImageSizeError: --image_size does not fit, or no size is known.
    """
    from imagehub import hub

    config = prepared.config
    facts = hub.facts_from(
        loaded,
        prepared.card,
        handle=config.tfhub_module,
        path=prepared.module_dir,
    )
    return resolve_image_size(facts, config.image_size, config.tfhub_module)


def resolve_image_size(
    facts: ModelFacts, requested: int | None, module: str = "the module"
) -> tuple[int, int]:
    """The input size to train at: --image_size when the module takes it,
    else the size `imagehub.hub.facts_from` resolved (card, traces,
    serving signature, handle).

    Args:
        facts: The module's facts, from its card and loaded object.
        requested: --image_size (square), or None.
        module: The handle, for messages.

    Returns:
        (height, width).

    Raises:
        ImageSizeError: `requested` does not fit, or no size is known.
    """
    known = facts.image_size
    if requested is None:
        if known is None:
            raise ImageSizeError(
                f"{module} has no model card and accepts images of any "
                "size; set --image_size (e.g. the size its documentation "
                "advertises, often 224)"
            )
        return known
    want = (int(requested), int(requested))
    if facts.fixed_size and known is not None and want != known:
        where = (
            f"model card fixes the input size to {known[0]}x{known[1]}"
            if facts.card is not None
            else f"traced signature expects {known[0]}x{known[1]} images"
        )
        raise ImageSizeError(
            f"--image_size {requested} does not fit {module}: its {where}. "
            f"Drop --image_size or pass --image_size {known[0]}"
        )
    card = facts.card
    if card is not None:
        low, high = card.min_size, card.max_size
        if (low and (want[0] < low[0] or want[1] < low[1])) or (
            high and (want[0] > high[0] or want[1] > high[1])
        ):
            raise ImageSizeError(
                f"--image_size {requested} does not fit {module}: its "
                f"model card permits sizes from {low} to {high or 'any'} "
                f"(default {card.default_size[0]})"
            )
    return want
