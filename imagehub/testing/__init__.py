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
from imagehub.testing._browser import chromium_path
from imagehub.testing._browser import page_colours
from imagehub.testing._browser import screenshot_html
from imagehub.testing._colour_models import write_colour_model
from imagehub.testing._export_checks import assert_reusable
from imagehub.testing._hostile import HOSTILE_KINDS
from imagehub.testing._hostile import RUN_AT_LOAD
from imagehub.testing._hostile import write_graph_bomb
from imagehub.testing._hostile import write_hostile_model
from imagehub.testing._http import ModelServer
from imagehub.testing._http import pack_saved_model
from imagehub.testing._hubapis import HfHubServer
from imagehub.testing._hubapis import KaggleServer
from imagehub.testing._hubapis import read_tree
from imagehub.testing._hubcache import cache_entries
from imagehub.testing._hubcache import cache_leftovers
from imagehub.testing._hubcache import same_files
from imagehub.testing._images import CLASS_COLOURS
from imagehub.testing._images import random_image
from imagehub.testing._images import write_flat_folder
from imagehub.testing._images import write_image_folder
from imagehub.testing._keras import tiny_keras_model
from imagehub.testing._kerashub import kerashub_model
from imagehub.testing._kerashub import write_kerashub_preset
from imagehub.testing._kerashub import write_text_preset
from imagehub.testing._layer_models import HALF_PLUS_ONE_L2
from imagehub.testing._layer_models import TEXT_EMBEDDING_DIM
from imagehub.testing._layer_models import write_batch_norm_model
from imagehub.testing._layer_models import write_custom_attributes_model
from imagehub.testing._layer_models import write_dict_io_model
from imagehub.testing._layer_models import write_half_plus_one_model
from imagehub.testing._layer_models import write_hparams_model
from imagehub.testing._layer_models import write_keras_default_model
from imagehub.testing._layer_models import write_list_output_model
from imagehub.testing._layer_models import write_plus_one_model
from imagehub.testing._layer_models import write_string_length_model
from imagehub.testing._layer_models import write_text_embedding_model
from imagehub.testing._listener import ConnectionCounter
from imagehub.testing._models import write_tiny_model
from imagehub.testing._multilabel import MULTI_LABEL_NAMES
from imagehub.testing._multilabel import write_two_shape_images
from imagehub.testing._paths import TFHUB_CLASSIFIER_DIR
from imagehub.testing._paths import run_cli
from imagehub.testing._pty import PtyResult
from imagehub.testing._pty import run_cli_in_pty
from imagehub.testing._summaries import read_scalars

__all__ = [
    "MULTI_LABEL_NAMES",
    "write_two_shape_images",
    "BROKEN_KINDS",
    "CLASS_COLOURS",
    "ConnectionCounter",
    "HALF_PLUS_ONE_L2",
    "HOSTILE_KINDS",
    "HfHubServer",
    "KaggleServer",
    "ModelServer",
    "PtyResult",
    "RUN_AT_LOAD",
    "TEXT_EMBEDDING_DIM",
    "TFHUB_CLASSIFIER_DIR",
    "add_unregistered_op",
    "assert_reusable",
    "cache_entries",
    "chromium_path",
    "cache_leftovers",
    "kerashub_model",
    "pack_saved_model",
    "page_colours",
    "random_image",
    "read_scalars",
    "read_tree",
    "run_cli",
    "run_cli_in_pty",
    "same_files",
    "screenshot_html",
    "tiny_keras_model",
    "to_pbtxt",
    "write_batch_norm_model",
    "write_broken_model",
    "write_colour_model",
    "write_custom_attributes_model",
    "write_dict_io_model",
    "write_file_writing_model",
    "write_flat_folder",
    "write_graph_bomb",
    "write_half_plus_one_model",
    "write_hostile_model",
    "write_hparams_model",
    "write_image_folder",
    "write_keras_default_model",
    "write_keras_export",
    "write_keras_wrapped",
    "write_kerashub_preset",
    "write_list_output_model",
    "write_module_model",
    "write_plus_one_model",
    "write_probabilities_model",
    "write_random_inference_model",
    "write_residual_dropout_model",
    "write_string_length_model",
    "write_text_embedding_model",
    "write_text_preset",
    "write_tf1_model",
    "write_tiny_model",
    "write_untracked_card_model",
]
