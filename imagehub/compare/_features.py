"""One model's side of a comparison: its features of every image, through
retrain's own stages (so the feature cache is retrain's, under the same
key), and the facts the table shows (size on disk, feature width, input
size, license, features per second).

Retrain caches the features of a folder in ``<checkpoint_dir>/features``
under a key of the module, input size, resize mode and the images in the
order of its training/validation split. Compare runs `retrain.prepare`,
`retrain.build` and `retrain.load_data` with the seed it reports and a
checkpoint folder per model, so that `imagehub retrain` with the same
``--seed`` and ``--checkpoint_dir`` (the command compare prints) reads
those features instead of computing them again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import time
from typing import Any

import numpy as np

from imagehub.compare._config import ModelRefusedError

logger = logging.getLogger(__name__)

# Timing stops after this long (and at least two passes).
SPEED_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class ModelFeatures:
    """A model's features of the compared images, and its facts.

    Attributes:
        handle: The model as given.
        module_dir: The resolved SavedModel folder.
        features: float32 [num_images, num_features], in the order of the
            compared index (rows of images that did not decode are 0).
        present: Whether each image's features exist.
        image_size: (height, width) the model ran at.
        num_features: Feature width.
        size_bytes: The SavedModel's size on disk.
        license: The model card's license, or "".
        computed: Whether the features were computed (False: read from
            the cache).
        checkpoint_dir: The retrain checkpoint folder holding the cache,
            or None without caching.
        prepared: retrain's `Prepared` of this model (for the probe).
        model: retrain's `Model` of this model (for the probe and timing).
    """

    handle: str
    module_dir: str
    features: np.ndarray
    present: np.ndarray
    image_size: tuple[int, int]
    num_features: int
    size_bytes: int
    license: str
    computed: bool
    checkpoint_dir: str | None
    prepared: Any
    model: Any


def cache_folder(cache_root: str, handle: str) -> str:
    """The retrain checkpoint folder of `handle` under `cache_root`: a
    readable name plus a digest of the handle (two handles never share)."""
    stem = handle.rstrip("/\\").replace("\\", "/").split("/")[-1] or "model"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:40]
    digest = hashlib.sha256(handle.encode()).hexdigest()[:8]
    return os.path.join(cache_root, f"{stem}-{digest}")


def size_on_disk(path: str) -> int:
    """Bytes of every file under `path`."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                continue
    return total


def refuse_classifier(handle: str) -> None:
    """Raises `ModelRefusedError` for a classification model: the
    reusable classification API returns logits only, so there are no
    features to probe."""
    from imagehub import hub

    # Only the card says classification; nothing is loaded to ask.
    facts = hub.resolve_facts(handle, load=False)
    if facts.is_classifier:
        raise ModelRefusedError(
            f"{handle} is a classification model: it outputs "
            f"{facts.num_outputs} class logits and no feature vector, so "
            "compare cannot probe its features. Compare its backbone "
            "instead, exported as a feature vector (imagehub export "
            "--task feature_vector ...)."
        )


def model_features(
    handle: str,
    image_dir: str,
    index: Any,
    *,
    seed: int,
    cache_root: str | None,
    batch_size: int,
    resize: str,
    subset: bool,
    progress: Any = None,
) -> ModelFeatures:
    """Runs retrain's prepare, build and load_data for one model.

    Args:
        handle: The model's handle.
        image_dir: The images folder.
        index: The compared images (an `imagehub.data.ImageIndex`).
        seed: The seed of retrain's split (and so of the cache key).
        cache_root: Folder of the per-model retrain checkpoint folders, or
            None to cache nothing.
        batch_size: Images per batch.
        resize: retrain's resize mode.
        subset: Whether `index` is a subset of the folder (then it
            replaces the folder's images in retrain's split).
        progress: retrain's progress callback (``features`` events).

    Raises:
        ModelRefusedError: A classification model.
        RetrainError: retrain's own refusals (bad module, sizes).
    """
    from imagehub import data
    from imagehub import retrain

    refuse_classifier(handle)
    checkpoint_dir = (
        cache_folder(cache_root, handle) if cache_root is not None else None
    )
    config = retrain.RetrainConfig(
        image_dir=image_dir,
        tfhub_module=handle,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        batch_size=batch_size,
        resize=resize,
        # Only so that prepare accepts a folder where `imagehub retrain`
        # has since left its checkpoint: compare never trains in it.
        resume=checkpoint_dir is not None,
    )
    prepared = retrain.prepare(config, None)
    if subset:
        train, val = data.split(index, config.validation_split, seed)
        prepared = dataclasses.replace(
            prepared, images=index, train=train, val=val, skipped=()
        )
    model = retrain.build(prepared)
    computed = []

    def on_event(event: Any) -> None:
        if event.stage == "features":
            computed.append(True)
        if progress is not None:
            progress(event)

    loaded = retrain.load_data(prepared, model, on_event)
    rows = {p: i for i, p in enumerate(index.paths)}
    features = np.zeros((len(index), model.num_features), np.float32)
    present = np.zeros(len(index), bool)
    for part, feats in (
        (loaded.train, loaded.train_features),
        (loaded.val, loaded.val_features),
    ):
        where = [rows[p] for p in part.paths]
        features[where] = feats
        present[where] = True
    card = prepared.card
    height, width = model.image_size
    return ModelFeatures(
        handle=handle,
        module_dir=prepared.module_dir,
        features=features,
        present=present,
        image_size=(int(height), int(width)),
        num_features=int(model.num_features),
        size_bytes=size_on_disk(prepared.module_dir),
        license=(card.license if card is not None else "") or "",
        computed=bool(computed),
        checkpoint_dir=checkpoint_dir,
        prepared=prepared,
        model=model,
    )


def sample_images(
    index: Any, image_size: tuple[int, int], count: int, resize: str
) -> np.ndarray:
    """The first `count` images of `index` that decode, at `image_size`."""
    from imagehub import data

    part = index.subset(range(min(count, len(index))))
    batches = data.dataset(part, image_size, batch_size=count, resize=resize)
    return np.concatenate([np.asarray(x) for x, _ in batches])


def images_per_second(run: Any, images: np.ndarray, batch_size: int) -> float:
    """Features per second of `run` on `images`, after one warm-up pass:
    passes repeat until `SPEED_SECONDS` have gone by (at least two)."""
    batches = [
        images[i : i + batch_size] for i in range(0, len(images), batch_size)
    ]
    for batch in batches:
        run(batch)
    done, passes, start = 0, 0, time.perf_counter()
    while passes < 2 or time.perf_counter() - start < SPEED_SECONDS:
        for batch in batches:
            np.asarray(run(batch))
            done += len(batch)
        passes += 1
    return done / (time.perf_counter() - start)


def measure_speed(
    found: ModelFeatures,
    images: np.ndarray,
    engine: str,
    batch_size: int,
    num_images: int,
) -> dict[str, float]:
    """Features per second, engine name -> speed: TensorFlow's always,
    and `engine`'s when it is another (``auto``: the one `imagehub.embed`
    would pick for a job of `num_images` images). An engine that cannot
    run this model is logged and left out."""
    from imagehub import engines

    reference = found.model.backbone.resolved_object
    speeds = {}
    tf_model = engines.compile_model(
        found.module_dir,
        "tensorflow",
        image_size=found.image_size,
        reference=reference,
    )
    speeds["tensorflow"] = images_per_second(tf_model, images, batch_size)
    if engine == "tensorflow":
        return speeds
    try:
        if engine == "auto":
            compiled, choice = engines.choose_engine(
                found.module_dir,
                image_size=found.image_size,
                batch_size=batch_size,
                probe_images=images,
                reference=reference,
                num_images=num_images,
            )
            if isinstance(compiled, engines.Race):
                # No job to race on here: race on the sample.
                compiled.settle(images[:batch_size])
            name = engines.current_choice(compiled, choice).engine
        else:
            compiled = engines.compile_model(
                found.module_dir,
                engine,
                image_size=found.image_size,
                probe_images=images[:8],
                reference=reference,
            )
            name = engine
    except engines.EngineError as e:
        logger.warning("%s: engine %s not timed: %s", found.handle, engine, e)
        return speeds
    if name != "tensorflow":
        speeds[name] = images_per_second(compiled, images, batch_size)
    return speeds
