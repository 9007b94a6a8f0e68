"""The model card (SPEC M1): plain JSON inside the SavedModel directory.

Readable without TensorFlow: ``json.load(open(path/"assets/imagehub.json"))``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from imagehub.spec._rules import ACTIVATIONS
from imagehub.spec._rules import TASK_CLASSIFICATION
from imagehub.spec._rules import TASK_FEATURE_VECTOR
from imagehub.spec._rules import TASKS

CARD_FILENAME = "imagehub.json"
CARD_RELPATH = os.path.join("assets", CARD_FILENAME)
CARD_FORMAT_VERSION = 1

# Names of the serving signatures (SPEC M2) and of their inputs and outputs.
SIGNATURE_FLOAT = "serving_default"
SIGNATURE_BYTES = "serving_image_bytes"
INPUT_IMAGES = "images"
INPUT_IMAGE_BYTES = "image_bytes"
OUTPUT_KEYS = {
    TASK_FEATURE_VECTOR: "feature_vector",
    TASK_CLASSIFICATION: "logits",
}


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a consumer needs to know about an exported image model.

    Attributes:
        task: ``"feature_vector"`` or ``"classification"``.
        num_outputs: num_features (F1) or num_classes (C1).
        default_size: (height, width) the serving signatures use.
        min_size: Smallest permitted (height, width) (I4).
        max_size: Largest permitted (height, width), or None if unbounded.
        fixed_size: True when only `default_size` is permitted.
        input_range: The value range of the input: always (0.0, 1.0) (I2).
        labels: Class names in index order (C3), or None.
        activation: ``"softmax"`` or ``"sigmoid"`` for classifiers (C3).
        hparams: Accepted hyperparameter overrides and their defaults (R4).
        source: Where the model came from (architecture, file, ...).
        license: License of the weights.
        signatures: Names of the serving signatures (M2).
        extra: Anything else the publisher wants to record.
    """

    task: str
    num_outputs: int
    default_size: tuple[int, int]
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    fixed_size: bool = True
    input_range: tuple[float, float] = (0.0, 1.0)
    labels: tuple[str, ...] | None = None
    activation: str | None = None
    hparams: dict[str, float] = dataclasses.field(default_factory=dict)
    source: str = ""
    license: str = ""
    signatures: tuple[str, ...] = (SIGNATURE_FLOAT, SIGNATURE_BYTES)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(
                f"Unknown task {self.task!r}; expected one of {TASKS}"
            )
        if self.num_outputs < 1:
            raise ValueError(
                f"num_outputs must be positive, got {self.num_outputs}"
            )
        if self.task == TASK_CLASSIFICATION:
            if self.activation not in ACTIVATIONS:
                raise ValueError(
                    f"Unknown activation {self.activation!r}; a classifier "
                    f"needs one of {ACTIVATIONS}"
                )
            if self.labels is not None and len(self.labels) != (
                self.num_outputs
            ):
                raise ValueError(
                    f"{len(self.labels)} labels for {self.num_outputs} "
                    "classes; give one label per class, in index order"
                )

    @property
    def output_key(self) -> str:
        """The output name of the serving signatures."""
        return OUTPUT_KEYS[self.task]

    @property
    def num_features(self) -> int | None:
        return self.num_outputs if self.task == TASK_FEATURE_VECTOR else None

    @property
    def num_classes(self) -> int | None:
        return self.num_outputs if self.task == TASK_CLASSIFICATION else None

    def to_dict(self) -> dict[str, Any]:
        """Returns the card as the JSON-ready dict written to disk."""
        out: dict[str, Any] = {
            "format": "imagehub.model_card",
            "format_version": CARD_FORMAT_VERSION,
            "task": self.task,
        }
        if self.task == TASK_FEATURE_VECTOR:
            out["num_features"] = self.num_outputs
        else:
            out["num_classes"] = self.num_outputs
            out["activation"] = self.activation
            out["labels"] = list(self.labels) if self.labels else None
        out["input"] = {
            "dtype": "float32",
            "layout": "NHWC",
            "channels": 3,
            "range": list(self.input_range),
            "default_size": list(self.default_size),
            "fixed_size": self.fixed_size,
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
        }
        out["hparams"] = dict(self.hparams)
        out["signatures"] = {
            name: {"output": self.output_key} for name in self.signatures
        }
        out["source"] = self.source
        out["license"] = self.license
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Parses a card dict; raises ValueError naming what is wrong."""
        try:
            task = data["task"]
            num = data[
                "num_features" if task == TASK_FEATURE_VECTOR else "num_classes"
            ]
            inp = data["input"]
        except KeyError as e:
            raise ValueError(f"Model card lacks the field {e.args[0]!r}") from e

        def size(v: Any) -> tuple[int, int] | None:
            return (int(v[0]), int(v[1])) if v else None

        labels = data.get("labels")
        default_size = size(inp.get("default_size"))
        if default_size is None:
            raise ValueError("Model card lacks input.default_size")
        return cls(
            task=task,
            num_outputs=int(num),
            default_size=default_size,
            min_size=size(inp.get("min_size")),
            max_size=size(inp.get("max_size")),
            fixed_size=bool(inp.get("fixed_size", True)),
            input_range=_range(inp.get("range", (0.0, 1.0))),
            labels=tuple(labels) if labels else None,
            activation=data.get("activation"),
            hparams=dict(data.get("hparams") or {}),
            source=data.get("source", ""),
            license=data.get("license", ""),
            signatures=tuple(data.get("signatures") or ()),
            extra=dict(data.get("extra") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.from_dict(json.loads(text))


def _range(value: Any) -> tuple[float, float]:
    low, high = value
    return float(low), float(high)


def card_path(model_dir: str | os.PathLike[str]) -> str:
    """Returns where the model card of `model_dir` lives."""
    return os.path.join(os.fspath(model_dir), CARD_RELPATH)


def read_card(model_dir: str | os.PathLike[str]) -> ModelCard | None:
    """Reads the model card of a SavedModel directory, without TensorFlow.

    Args:
        model_dir: A SavedModel directory.

    Returns:
        The card, or None when the directory has none (e.g. TF Hub models).

    Raises:
        ValueError: The card exists but is not valid.
    """
    path = card_path(model_dir)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return ModelCard.from_json(text)
    except (ValueError, TypeError) as e:
        raise ValueError(f"Invalid model card {path}: {e}") from e
