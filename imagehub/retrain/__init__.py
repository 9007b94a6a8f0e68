"""Retraining an image classifier on a folder of images: the successor of
tensorflow_hub's `make_image_classifier`, on Keras 3.

`make_image_classifier(RetrainConfig(...))` trains Dropout -> Dense logits on
top of an image feature-vector module (frozen, with its features computed
once and cached, or fine-tuned) and exports a conforming classification
SavedModel, a labels file, a TFLite model and a report. `RetrainConfig`
holds every flag of the old tool with its old default. Importing this
package does not import TensorFlow.

A run is a sequence of stages, each a function of frozen values
(`_retrain.py` reads top to bottom)::

    prepare(config)              -> Prepared    (_prepare.py)
    build(prepared)              -> Model       (_model.py)
    load_data(prepared, model)   -> Data        (_features.py)
    train(prepared, model, data) -> FitResult   (_train.py: _recipe.py or
                                                 _fit.py, _checkpoint.py,
                                                 _summaries.py)
    evaluate(...)                -> Evaluation  (_evaluate.py)
    export(...)                  -> Exported    (_export.py, _report.py)

`_config.py` holds the settings, output paths and progress events,
`_flags.py` the command-line flags generated from them. `imagehub.evaluate`
scores a saved classifier (`_evaluate_model.py`, `_evaluate_multilabel.py`,
`_calibration.py`).
"""

from imagehub._callable import make_module_callable
from imagehub.retrain._calibration import Calibration
from imagehub.retrain._calibration import calibration
from imagehub.retrain._calibration import write_reliability_diagram
from imagehub.retrain._config import ProgressEvent
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import old_flag_names
from imagehub.retrain._errors import AccuracyError
from imagehub.retrain._errors import FlagValueError
from imagehub.retrain._errors import ImageSizeError
from imagehub.retrain._errors import MissingDependencyError
from imagehub.retrain._errors import RetrainError
from imagehub.retrain._errors import TFLiteMismatchError
from imagehub.retrain._errors import TrainingDivergedError
from imagehub.retrain._evaluate_model import FolderEvaluation
from imagehub.retrain._evaluate_model import evaluate_classifier
from imagehub.retrain._evaluate_model import evaluate_model
from imagehub.retrain._evaluate_model import write_misclassified_page
from imagehub.retrain._evaluate_multilabel import MultiLabelEvaluation
from imagehub.retrain._evaluate_multilabel import evaluate_multi_label
from imagehub.retrain._export import TFLiteCheck
from imagehub.retrain._features import Data
from imagehub.retrain._features import TrainData
from imagehub.retrain._features import load_data
from imagehub.retrain._flags import add_flags
from imagehub.retrain._flags import config_from_args
from imagehub.retrain._flags import parse_flags
from imagehub.retrain._model import build
from imagehub.retrain._model import build_head
from imagehub.retrain._model import compile_model
from imagehub.retrain._prepare import prepare
from imagehub.retrain._retrain import RetrainResult
from imagehub.retrain._retrain import make_image_classifier
from imagehub.retrain._train import deterministic_ops
from imagehub.retrain._train import train

__all__ = [
    "AccuracyError",
    "Calibration",
    "Data",
    "FlagValueError",
    "FolderEvaluation",
    "ImageSizeError",
    "MissingDependencyError",
    "MultiLabelEvaluation",
    "ProgressEvent",
    "RetrainConfig",
    "RetrainError",
    "RetrainResult",
    "TFLiteCheck",
    "TFLiteMismatchError",
    "TrainData",
    "TrainingDivergedError",
    "add_flags",
    "build",
    "build_head",
    "compile_model",
    "config_from_args",
    "deterministic_ops",
    "calibration",
    "evaluate_classifier",
    "evaluate_model",
    "evaluate_multi_label",
    "write_misclassified_page",
    "write_reliability_diagram",
    "load_data",
    "make_image_classifier",
    "old_flag_names",
    "parse_flags",
    "prepare",
    "train",
]

# `imagehub.retrain(...)` is `make_image_classifier(...)` (the subpackage
# is callable like `imagehub.embed`; see imagehub/_callable.py).
make_module_callable(__name__, "make_image_classifier")
