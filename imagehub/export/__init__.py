"""Exporting Keras models as reusable image SavedModels (SPEC R, I, F, C, M).

Importing this package does not import TensorFlow; the functions do.
"""

from imagehub.export._archs import ArchSpec
from imagehub.export._archs import arch_names
from imagehub.export._archs import arch_options
from imagehub.export._archs import build_arch
from imagehub.export._archs import get_arch
from imagehub.export._exporter import ExportVerificationError
from imagehub.export._exporter import export_classifier
from imagehub.export._exporter import export_feature_vector
from imagehub.export._forward import HPARAMS
from imagehub.export._forward import INPUT_RANGES
from imagehub.export._forward import PREPROCESSING_MODES
from imagehub.export._forward import parse_input_range
from imagehub.export._kerashub import POOLINGS
from imagehub.export._kerashub import KerasHubFamilyError
from imagehub.export._kerashub import KerasHubModel
from imagehub.export._kerashub_preset import load_preset
from imagehub.export._serving import decode_and_resize
from imagehub.export._sources import load_keras_model
from imagehub.export._sources import wrap_saved_model
from imagehub.export._weights import load_weights_checked

__all__ = [
    "HPARAMS",
    "INPUT_RANGES",
    "POOLINGS",
    "PREPROCESSING_MODES",
    "ArchSpec",
    "ExportVerificationError",
    "KerasHubFamilyError",
    "KerasHubModel",
    "arch_names",
    "arch_options",
    "build_arch",
    "decode_and_resize",
    "export_classifier",
    "export_feature_vector",
    "get_arch",
    "load_keras_model",
    "load_preset",
    "load_weights_checked",
    "parse_input_range",
    "wrap_saved_model",
]
