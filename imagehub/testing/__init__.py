"""Test helpers: tiny SavedModels and generated image folders."""

from imagehub.testing._broken import BROKEN_KINDS
from imagehub.testing._broken import add_unregistered_op
from imagehub.testing._broken import to_pbtxt
from imagehub.testing._broken import write_broken_model
from imagehub.testing._broken import write_file_writing_model
from imagehub.testing._broken import write_keras_export
from imagehub.testing._broken import write_module_model
from imagehub.testing._images import CLASS_COLOURS
from imagehub.testing._images import random_image
from imagehub.testing._images import write_flat_folder
from imagehub.testing._images import write_image_folder
from imagehub.testing._models import write_tiny_model
from imagehub.testing._paths import TFHUB_CLASSIFIER_DIR
from imagehub.testing._paths import run_cli

__all__ = [
    "BROKEN_KINDS",
    "CLASS_COLOURS",
    "TFHUB_CLASSIFIER_DIR",
    "add_unregistered_op",
    "random_image",
    "run_cli",
    "to_pbtxt",
    "write_broken_model",
    "write_file_writing_model",
    "write_flat_folder",
    "write_image_folder",
    "write_keras_export",
    "write_module_model",
    "write_tiny_model",
]
