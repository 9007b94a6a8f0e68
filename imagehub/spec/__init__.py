"""The contract imagehub implements (SPEC.md): rules, interface, model card.

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
from imagehub.spec._protocol import ReusableSavedModel
from imagehub.spec._rules import ACTIVATIONS
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
    "GROUPS",
    "INPUT_IMAGES",
    "INPUT_IMAGE_BYTES",
    "ModelCard",
    "OUTPUT_KEYS",
    "RULES",
    "RULE_IDS",
    "ReusableSavedModel",
    "Rule",
    "SIGNATURE_BYTES",
    "SIGNATURE_FLOAT",
    "TASKS",
    "TASK_CLASSIFICATION",
    "TASK_FEATURE_VECTOR",
    "card_path",
    "parse_image_size",
    "read_card",
    "rules_for_task",
]
