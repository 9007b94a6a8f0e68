"""The contract imagehub implements (SPEC.md): rules, interface, model card,
and the constants and labels-file format every package shares.

Importing this package does not import TensorFlow.
"""

from imagehub.spec._card import CARD_FILENAME
from imagehub.spec._card import CARD_RELPATH
from imagehub.spec._card import INPUT_IMAGE_BYTES
from imagehub.spec._card import INPUT_IMAGES
from imagehub.spec._card import OUTPUT_KEYS
from imagehub.spec._card import SIGNATURE_BYTES
from imagehub.spec._card import SIGNATURE_FLOAT
from imagehub.spec._card import ModelCard
from imagehub.spec._card import card_path
from imagehub.spec._card import read_card
from imagehub.spec._inputs import DEFAULT_IMAGE_SIZE
from imagehub.spec._inputs import DEFAULT_RESIZE
from imagehub.spec._inputs import INPUT_RANGE
from imagehub.spec._inputs import RESIZE_MODES
from imagehub.spec._labels import format_labels
from imagehub.spec._labels import parse_labels
from imagehub.spec._labels import read_labels
from imagehub.spec._labels import write_labels
from imagehub.spec._protocol import ReusableSavedModel
from imagehub.spec._rules import ACTIVATIONS
from imagehub.spec._rules import DEFAULT_ACTIVATION
from imagehub.spec._rules import GROUPS
from imagehub.spec._rules import RULE_IDS
from imagehub.spec._rules import RULES
from imagehub.spec._rules import TASK_CLASSIFICATION
from imagehub.spec._rules import TASK_FEATURE_VECTOR
from imagehub.spec._rules import TASKS
from imagehub.spec._rules import Rule
from imagehub.spec._rules import rules_for_task
from imagehub.spec._size import parse_image_size

__all__ = [
    "ACTIVATIONS",
    "CARD_FILENAME",
    "CARD_RELPATH",
    "DEFAULT_ACTIVATION",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_RESIZE",
    "GROUPS",
    "INPUT_IMAGES",
    "INPUT_IMAGE_BYTES",
    "INPUT_RANGE",
    "ModelCard",
    "OUTPUT_KEYS",
    "RULES",
    "RESIZE_MODES",
    "RULE_IDS",
    "ReusableSavedModel",
    "Rule",
    "SIGNATURE_BYTES",
    "SIGNATURE_FLOAT",
    "TASKS",
    "TASK_CLASSIFICATION",
    "TASK_FEATURE_VECTOR",
    "card_path",
    "format_labels",
    "parse_image_size",
    "parse_labels",
    "read_card",
    "read_labels",
    "rules_for_task",
    "write_labels",
]
