import json
import os
import re

import pytest

from imagehub import spec

SPEC_MD = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "SPEC.md"
)


DOCS_SPEC_MD = os.path.join(
    os.path.dirname(__file__), "..", "..", "docs", "spec.md"
)


def test_rule_ids_match_docs_spec_md_on_every_checkout():
    # docs/spec.md ships with the repository (SPEC.md does not): its table
    # has a row per rule of imagehub.spec.RULES (F4 and C4 share one),
    # plus imagehub's own D1 check.
    with open(DOCS_SPEC_MD, encoding="utf-8") as f:
        cells = re.findall(
            r"^\| ([A-Z]\d+(?: / [A-Z]\d+)*) \|", f.read(), flags=re.M
        )
    rows = [r for cell in cells for r in cell.split(" / ") if r != "D1"]
    assert len(rows) == len(set(rows)), f"a rule has two rows: {rows}"
    assert sorted(rows) == sorted(spec.RULE_IDS), (
        f"docs/spec.md rows {rows} differ from imagehub.spec.RULE_IDS "
        f"{spec.RULE_IDS}"
    )
    assert set(spec.RULES) == set(spec.RULE_IDS)


def test_rule_ids_match_spec_md_when_spec_is_present():
    if not os.path.exists(SPEC_MD):
        pytest.skip("shared/SPEC.md is not beside this checkout")
    with open(SPEC_MD, encoding="utf-8") as f:
        ids = re.findall(r"^- ([A-Z]\d+) ", f.read(), flags=re.M)
    assert tuple(ids) == spec.RULE_IDS


def test_rules_for_task_selects_own_group():
    fv = spec.rules_for_task("feature_vector")
    cl = spec.rules_for_task("classification")
    assert "F3" in fv and "C1" not in fv
    assert "C3" in cl and "F1" not in cl
    assert "R1" in fv and "M2" in cl


def test_rules_for_task_rejects_unknown_task():
    with pytest.raises(ValueError, match="expected one of"):
        spec.rules_for_task("detection")


def test_model_card_round_trips_through_json():
    card = spec.ModelCard(
        task="classification",
        num_outputs=2,
        default_size=(224, 224),
        labels=("cat", "dog"),
        activation="sigmoid",
        hparams={"dropout_rate": 0.2},
    )
    data = json.loads(card.to_json())
    assert data["num_classes"] == 2 and data["activation"] == "sigmoid"
    assert spec.ModelCard.from_json(card.to_json()) == card


def test_model_card_rejects_wrong_label_count():
    with pytest.raises(ValueError, match="3 labels for 2 classes"):
        spec.ModelCard(
            task="classification",
            num_outputs=2,
            default_size=(8, 8),
            labels=("a", "b", "c"),
            activation="softmax",
        )


def test_model_card_rejects_classifier_without_activation():
    with pytest.raises(ValueError, match="activation"):
        spec.ModelCard(
            task="classification", num_outputs=2, default_size=(8, 8)
        )


def test_read_card_returns_none_without_card(tmp_path):
    assert spec.read_card(tmp_path) is None


def test_read_card_names_file_when_invalid(tmp_path):
    os.makedirs(tmp_path / "assets")
    (tmp_path / "assets" / "imagehub.json").write_text('{"task": "x"}')
    with pytest.raises(ValueError, match="imagehub.json"):
        spec.read_card(tmp_path)


def test_protocol_accepts_loaded_tiny_model(tmp_path):
    import tensorflow as tf

    from imagehub.testing import write_tiny_model

    path = write_tiny_model(tmp_path / "m")
    obj = tf.saved_model.load(path)
    assert isinstance(obj, spec.ReusableSavedModel)
    out = obj(tf.zeros([2, 16, 16, 3]))
    assert out.shape == (2, 8)
    card = spec.read_card(path)
    assert card is not None and card.num_features == 8
