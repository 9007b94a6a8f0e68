"""Test helpers: tiny SavedModels and generated image folders."""

from imagehub.testing._export_checks import assert_reusable
from imagehub.testing._images import CLASS_COLOURS
from imagehub.testing._images import random_image
from imagehub.testing._images import write_flat_folder
from imagehub.testing._images import write_image_folder
from imagehub.testing._keras import tiny_keras_model
from imagehub.testing._models import write_tiny_model
from imagehub.testing._paths import TFHUB_CLASSIFIER_DIR
from imagehub.testing._paths import run_cli

__all__ = [
    "CLASS_COLOURS",
    "TFHUB_CLASSIFIER_DIR",
    "assert_reusable",
    "random_image",
    "run_cli",
    "tiny_keras_model",
    "write_flat_folder",
    "write_image_folder",
    "write_tiny_model",
]
