"""`resolve_facts`: arguments, then the model card, then the traces and
signatures, then the handle's name; one frozen value."""

from __future__ import annotations

import dataclasses
import inspect
import os
import shutil

import pytest

from imagehub import hub
from imagehub import testing


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("facts")
    return {
        "classifier": testing.write_tiny_model(
            root / "cls",
            task="classification",
            num_classes=3,
            image_size=20,
            labels=("red", "green", "blue"),
        ),
        "cardless": testing.write_tiny_model(
            root / "cardless", image_size=18, with_card=False
        ),
    }


def test_facts_come_from_the_card_when_no_argument_is_given(models):
    facts = hub.resolve_facts(models["classifier"])
    assert (facts.task, facts.task_source) == ("classification", "card")
    assert (facts.image_size, facts.size_source) == ((20, 20), "card")
    assert facts.labels == ("red", "green", "blue")
    assert facts.activation == "softmax"
    assert facts.num_outputs == 3
    assert facts.input_range == (0.0, 1.0)
    assert facts.resize == "stretch"
    assert facts.is_classifier and facts.output_key == "logits"


def test_facts_read_the_card_without_loading_the_weights(models, tmp_path):
    # A copy without its variables cannot be loaded: the card must do.
    copy = str(tmp_path / "no_weights")
    shutil.copytree(models["classifier"], copy)
    shutil.rmtree(os.path.join(copy, "variables"))
    facts = hub.resolve_facts(copy)
    assert facts.image_size == (20, 20) and facts.num_outputs == 3


def test_facts_without_loading_a_cardless_model_come_from_its_name(
    models, tmp_path
):
    # Without variables it cannot be loaded: load=False must not try.
    copy = str(tmp_path / "mobilenet_v1_025_128_feature_vector_4")
    shutil.copytree(models["cardless"], copy)
    shutil.rmtree(os.path.join(copy, "variables"))
    facts = hub.resolve_facts(copy, load=False)
    assert (facts.image_size, facts.size_source) == ((128, 128), "handle")
    assert facts.card is None and facts.traced_size is None


def test_arguments_win_over_the_card(models, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\n\nc\n\n", encoding="utf-8")
    facts = hub.resolve_facts(
        models["classifier"],
        image_size="24,32",
        labels=str(labels),
        activation="sigmoid",
        resize="crop",
    )
    assert (facts.image_size, facts.size_source) == ((24, 32), "argument")
    assert facts.labels == ("a", "", "c"), "line N must stay class N"
    assert (facts.activation, facts.resize) == ("sigmoid", "crop")


def test_facts_of_a_cardless_model_come_from_its_signature(models):
    facts = hub.resolve_facts(models["cardless"])
    assert facts.card is None and facts.task is None
    assert facts.task_source == "unknown"
    # __call__ takes any size; serving_default is traced at 18x18.
    assert facts.traced_size == (None, None) and not facts.fixed_size
    assert (facts.image_size, facts.size_source) == ((18, 18), "signature")
    assert facts.num_outputs == 8
    assert facts.activation == "softmax", "unknown task: TF Hub's default"


def test_facts_of_a_tfhub_model_come_from_its_handle():
    # Published without card or signatures; __call__ takes any size.
    facts = hub.resolve_facts(testing.TFHUB_CLASSIFIER_DIR)
    assert (facts.image_size, facts.size_source) == ((128, 128), "handle")
    assert not facts.fixed_size and facts.traced_size == (None, None)
    assert facts.num_outputs == 1001, "the inference trace's width"


def test_facts_of_a_fixed_size_model_come_from_its_traces(tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.__call__ = tf.function(
        lambda images: tf.reduce_mean(images, axis=[1, 2]),
        input_signature=[tf.TensorSpec([None, 12, 14, 3], tf.float32)],
    )
    path = str(tmp_path / "fixed")
    tf.saved_model.save(module, path)
    facts = hub.resolve_facts(path)
    assert (facts.image_size, facts.size_source) == ((12, 14), "traces")
    assert facts.fixed_size and facts.num_outputs == 3


def test_facts_of_a_loaded_object_use_the_card_it_carries(models):
    obj = hub.load(models["classifier"])
    facts = hub.resolve_facts(obj)
    assert facts.handle is None and facts.card is not None
    assert facts.labels == ("red", "green", "blue")


def test_size_from_handle_reads_tfhub_names():
    assert hub.facts_from(
        None, None, handle="x/mobilenet_v1_025_128/classification/4"
    ).image_size == (128, 128)
    facts = hub.facts_from(None, None, handle="somewhere/model")
    assert (facts.image_size, facts.size_source) == (None, "unknown")
    with pytest.raises(ValueError, match="pass image_size"):
        facts.require_size()


def test_facts_are_frozen(models):
    facts = hub.resolve_facts(models["classifier"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.task = "feature_vector"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ({"task": "detection"}, "Unknown task 'detection'; expected one of"),
        ({"resize": "fit"}, "Unknown resize 'fit'; expected one of"),
        ({"image_size": "0,3"}, "image_size must be H,W"),
    ],
)
def test_bad_arguments_name_the_choices(argument, message):
    with pytest.raises(ValueError, match=message):
        hub.facts_from(None, None, **argument)


def test_resolve_facts_takes_the_explicit_values_facts_from_takes():
    def explicit(fn, located):
        return {
            name: (p.kind, p.default, p.annotation)
            for name, p in inspect.signature(fn).parameters.items()
            if name not in located
        }

    assert explicit(hub.resolve_facts, ("model", "obj", "load")) == explicit(
        hub.facts_from, ("obj", "card", "handle", "path")
    ), "resolve_facts should pass every explicit value on to facts_from"
