"""Test helpers: tiny SavedModels, generated image folders, a model server."""

from imagehub.testing._broken import BROKEN_KINDS
from imagehub.testing._broken import add_unregistered_op
from imagehub.testing._broken import to_pbtxt
from imagehub.testing._broken import write_broken_model
from imagehub.testing._broken import write_file_writing_model
from imagehub.testing._broken import write_keras_export
from imagehub.testing._broken import write_keras_wrapped
from imagehub.testing._broken import write_module_model
from imagehub.testing._broken import write_probabilities_model
from imagehub.testing._broken import write_random_inference_model
from imagehub.testing._broken import write_residual_dropout_model
from imagehub.testing._broken import write_tf1_model
from imagehub.testing._broken import write_untracked_card_model
from imagehub.testing._export_checks import assert_reusable
from imagehub.testing._hostile import HOSTILE_KINDS
from imagehub.testing._hostile import RUN_AT_LOAD
from imagehub.testing._hostile import write_graph_bomb
from imagehub.testing._hostile import write_hostile_model
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
from imagehub.testing._listener import ConnectionCounter
from imagehub.testing._models import write_tiny_model
from imagehub.testing._paths import TFHUB_CLASSIFIER_DIR
from imagehub.testing._paths import run_cli

__all__ = [
    "BROKEN_KINDS",
    "HOSTILE_KINDS",
    "RUN_AT_LOAD",
    "CLASS_COLOURS",
    "ConnectionCounter",
    "ModelServer",
    "TFHUB_CLASSIFIER_DIR",
    "add_unregistered_op",
    "assert_reusable",
    "cache_entries",
    "cache_leftovers",
    "pack_saved_model",
    "random_image",
    "run_cli",
    "same_files",
    "tiny_keras_model",
    "to_pbtxt",
    "write_broken_model",
    "write_file_writing_model",
    "write_flat_folder",
    "write_graph_bomb",
    "write_hostile_model",
    "write_image_folder",
    "write_keras_export",
    "write_keras_wrapped",
    "write_module_model",
    "write_probabilities_model",
    "write_random_inference_model",
    "write_residual_dropout_model",
    "write_tf1_model",
    "write_tiny_model",
    "write_untracked_card_model",
]
