"""`resolve_module`: retrain asks `imagehub.hub.resolve_facts` (the card,
nothing loaded) whether --tfhub_module is a feature vector."""

from __future__ import annotations

import os
import shutil

import pytest

from imagehub import testing
from imagehub.retrain import FlagValueError
from imagehub.retrain import RetrainConfig
from imagehub.retrain._prepare import resolve_module


def _config(module: str) -> RetrainConfig:
    return RetrainConfig(image_dir="unused", tfhub_module=module)


def test_classifier_module_is_refused_naming_its_task(tmp_path):
    module = testing.write_tiny_model(tmp_path / "cls", task="classification")
    with pytest.raises(FlagValueError, match="is a classification model"):
        resolve_module(_config(module))


def test_feature_vector_module_gives_its_folder_and_card(tmp_path):
    module = testing.write_tiny_model(tmp_path / "fv", image_size=20)
    module_dir, card = resolve_module(_config(module))
    assert module_dir == module
    assert card is not None and card.default_size == (20, 20)


def test_cardless_module_is_not_loaded_when_prepared(tmp_path):
    module = testing.write_tiny_model(tmp_path / "m", with_card=False)
    # Without its variables it cannot load: prepare must not try (build
    # loads the module once, later).
    shutil.rmtree(os.path.join(module, "variables"))
    module_dir, card = resolve_module(_config(module))
    assert module_dir == module and card is None
