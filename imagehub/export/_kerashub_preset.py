"""Loading KerasHub presets for export: the model, its ImageConverter,
labels and license, with network failures as imagehub's OfflineError.

`load_preset` reads the preset's config first and refuses text models and
families imagehub cannot export before any weights are downloaded. A
`kaggle://` or `hf://` preset (or a built-in name, fetched from Kaggle)
without network fails at once with the offline message, never a
traceback or a half-minute of retries.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from imagehub.export._kerashub import INTERPOLATING
from imagehub.export._kerashub import KerasHubModel
from imagehub.export._kerashub import check_family
from imagehub.export._kerashub import family_name
from imagehub.export._kerashub import import_keras_hub
from imagehub.export._kerashub import own_converter
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import TASKS

_log = logging.getLogger(__name__)

_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md")
_REMOTE_SCHEMES = ("kaggle://", "hf://")
# Exception class names (anywhere in the chain, any base) that mean "the
# network is not there": requests, urllib3, httpx, huggingface_hub.
_NETWORK_ERRORS = frozenset(
    {
        "ConnectionError",
        "ConnectTimeout",
        "ConnectError",
        "ProxyError",
        "NewConnectionError",
        "NameResolutionError",
        "MaxRetryError",
        "Timeout",
        "TimeoutException",
        "LocalEntryNotFoundError",
        "OfflineModeIsEnabled",
    }
)


def is_preset_path(path: str) -> bool:
    """True for kaggle:// and hf:// handles and local preset folders."""
    if path.startswith(_REMOTE_SCHEMES):
        return True
    return (
        os.path.isdir(path)
        and os.path.isfile(os.path.join(path, "config.json"))
        and not os.path.isfile(os.path.join(path, "saved_model.pb"))
    )


@contextmanager
def _network_errors(preset: str) -> Iterator[None]:
    """Turns a failed download into imagehub's OfflineError."""
    from imagehub.hub import OfflineError

    try:
        yield
    except Exception as e:
        reason = _network_reason(e)
        if reason is None:
            raise
        raise OfflineError(_offline_message(preset, reason)) from None


def _network_reason(error: BaseException) -> str | None:
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 20:
        names = {cls.__name__ for cls in type(current).__mro__}
        if names & _NETWORK_ERRORS:
            return f"{type(current).__name__}: {str(current)[:200]}"
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _offline_message(preset: str, reason: str) -> str:
    return (
        f"cannot download the KerasHub preset {preset!r}: the network is "
        f"not reachable ({reason}). Connect to the network, or copy the "
        "preset folder to this machine and pass its path: "
        "imagehub export --preset ./PRESET_FOLDER"
    )


def _check_reachable(preset: str) -> None:
    """Fails fast, with the offline message, for a remote preset when
    IMAGEHUB_OFFLINE is set or the Hugging Face Hub cannot be reached
    (huggingface_hub would retry for half a minute, then report a missing
    config.json)."""
    from imagehub.hub import OfflineError

    # A built-in name (downloaded from Kaggle) or a handle; a missing local
    # path is left to from_preset's "Unknown preset" message.
    looks_local = os.sep in preset or preset.startswith(".")
    remote = preset.startswith(_REMOTE_SCHEMES) or not (
        os.path.exists(preset) or looks_local
    )
    if not remote:
        return
    if os.environ.get("IMAGEHUB_OFFLINE", "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    ):
        raise OfflineError(_offline_message(preset, "IMAGEHUB_OFFLINE is set"))
    if not preset.startswith("hf://"):
        return
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    repo = preset.removeprefix("hf://").split("@")[0]
    url = f"{constants.ENDPOINT.rstrip('/')}/api/models/{repo}"
    try:
        with urllib.request.urlopen(  # noqa: S310 - the Hub's https URL.
            urllib.request.Request(url, method="HEAD"), timeout=10
        ):
            pass
    except urllib.error.HTTPError:
        return  # The Hub answered; from_preset reports what it said.
    except OSError as e:
        reason = getattr(e, "reason", None) or e
        raise OfflineError(_offline_message(preset, str(reason))) from None


def _preset_labels(
    keras_hub: Any, preset: str, num_classes: int
) -> tuple[tuple[str, ...] | None, str | None]:
    from keras_hub.src.utils import preset_utils

    config = preset_utils.load_json(preset, preset_utils.CONFIG_FILE)
    id2label = config.get("id2label") if isinstance(config, dict) else None
    if isinstance(id2label, dict) and len(id2label) == num_classes:
        try:
            labels = tuple(str(id2label[str(i)]) for i in range(num_classes))
            return labels, "the preset's config.json (id2label)"
        except KeyError:
            pass
    if num_classes == 1000 and "imagenet" in preset.lower():
        names = keras_hub.utils.imagenet_id_to_name
        labels = tuple(names(i) for i in range(num_classes))
        return labels, "ImageNet-1k class names (keras_hub.utils)"
    return None, None


def _preset_license(preset: str) -> str:
    from keras_hub.src.utils import preset_utils

    for name in _LICENSE_FILES:
        if preset_utils.check_file_exists(preset, name):
            with open(
                preset_utils.get_file(preset, name), encoding="utf-8"
            ) as f:
                return f.read().strip()
    if preset_utils.check_file_exists(preset, "README.md"):
        with open(
            preset_utils.get_file(preset, "README.md"), encoding="utf-8"
        ) as f:
            match = re.search(r"(?m)^license:\s*(\S.*)$", f.read())
        if match:
            return f"{match.group(1).strip()} (from the preset's README.md)"
    return ""


def load_preset(
    preset: str,
    task: str = TASK_FEATURE_VECTOR,
    *,
    image_size: tuple[int, int] | None = None,
) -> KerasHubModel:
    """Loads a KerasHub preset for export.

    Args:
        preset: Anything `from_preset` takes: a built-in name,
            ``kaggle://...``, ``hf://...`` or a local preset folder.
        task: ``"feature_vector"`` (the backbone) or ``"classification"``
            (the preset's `ImageClassifier`).
        image_size: (height, width) to build a family that interpolates
            its position embeddings (DINOv2) for; others ignore it.

    Returns:
        The model with its converter, license and labels.

    Raises:
        ImportError: keras-hub is not installed (the message has the pip
            line).
        imagehub.hub.OfflineError: A remote preset without network.
        KerasHubFamilyError: A text model or a family imagehub cannot
            export (the message says why).
        ValueError: A classifier was asked of a preset with no classifier.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}")
    keras_hub = import_keras_hub()
    from keras_hub.src.utils import preset_utils

    _check_reachable(preset)
    with _network_errors(preset):
        loader = preset_utils.get_preset_loader(preset)
        backbone_cls = loader.check_backbone_class()
        check_family(backbone_cls, keras_hub)
        kwargs = {}
        if image_size is not None and backbone_cls.__name__ in INTERPOLATING:
            kwargs["image_shape"] = (int(image_size[0]), int(image_size[1]), 3)
        if task == TASK_CLASSIFICATION:
            model = _load_classifier(keras_hub, preset, backbone_cls, kwargs)
        else:
            model = keras_hub.models.Backbone.from_preset(preset, **kwargs)
        converter = _preset_converter(keras_hub, preset, model)
        labels, labels_source = (None, None)
        if task == TASK_CLASSIFICATION:
            labels, labels_source = _preset_labels(
                keras_hub, preset, int(model.num_classes)
            )
        license_text = _preset_license(preset)
    return KerasHubModel(
        model=model,
        converter=converter,
        preset=preset,
        license=license_text,
        labels=labels,
        labels_source=labels_source,
    )


def _load_classifier(
    keras_hub: Any, preset: str, backbone_cls: type, kwargs: dict
) -> Any:
    from keras_hub.src.utils import preset_utils

    task_config = None
    if preset_utils.check_file_exists(preset, preset_utils.TASK_CONFIG_FILE):
        task_config = preset_utils.load_json(
            preset, preset_utils.TASK_CONFIG_FILE
        )
    task_cls = (
        preset_utils.check_config_class(task_config) if task_config else None
    )
    if task_cls is None or not issubclass(
        task_cls, keras_hub.models.ImageClassifier
    ):
        raise ValueError(
            f"The KerasHub preset {preset!r} holds a "
            f"{family_name(backbone_cls)} backbone but no image classifier "
            "(no ImageClassifier task.json); export it with --task "
            "feature_vector, or train a classifier on it with imagehub "
            "retrain"
        )
    return keras_hub.models.ImageClassifier.from_preset(preset, **kwargs)


def _preset_converter(keras_hub: Any, preset: str, model: Any) -> Any:
    converter = own_converter(model)
    if converter is not None:
        return converter
    try:
        return keras_hub.layers.ImageConverter.from_preset(preset)
    except (FileNotFoundError, ValueError) as e:
        _log.warning("The preset %s has no ImageConverter (%s)", preset, e)
        return None
