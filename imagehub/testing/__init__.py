"""Test helpers: tiny SavedModels, generated image folders, a model server."""

from imagehub.testing._http import ModelServer
from imagehub.testing._http import pack_saved_model
from imagehub.testing._hubcache import cache_entries
from imagehub.testing._hubcache import cache_leftovers
from imagehub.testing._hubcache import same_files
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
    "ModelServer",
    "TFHUB_CLASSIFIER_DIR",
    "cache_entries",
    "cache_leftovers",
    "pack_saved_model",
    "random_image",
    "run_cli",
    "same_files",
    "tiny_keras_model",
    "write_flat_folder",
    "write_image_folder",
    "write_tiny_model",
]
