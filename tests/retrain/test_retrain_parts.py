"""The pieces of a retraining run, one at a time: checkpoints, the feature
cache, the report, the input size, augmentation units."""

import json

import numpy as np
import pytest

from imagehub.hub import facts_from
from imagehub.retrain import ImageSizeError
from imagehub.retrain import RetrainConfig
from imagehub.retrain import _evaluate
from imagehub.retrain import _features
from imagehub.retrain import _fit
from imagehub.retrain import _model
from imagehub.retrain import _report
from imagehub.retrain._checkpoint import Checkpointer
from imagehub.retrain._checkpoint import CheckpointMismatchError
from imagehub.retrain._prepare import resolve_image_size
from imagehub.spec import ModelCard


def _card(fixed, size=(16, 16), low=(3, 3), high=None):
    return ModelCard(
        task="feature_vector",
        num_outputs=8,
        default_size=size,
        min_size=low,
        max_size=high,
        fixed_size=fixed,
    )


# --- checkpoints ---------------------------------------------------------


def test_checkpoint_round_trips_values_and_state_when_saved(tmp_path):
    ckpt = Checkpointer(tmp_path, {"seed": 1, "classes": ["a", "b"]})
    model = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2])]
    opt = [np.array(7), np.ones(3, np.float32)]
    ckpt.save(1, model, opt, {"history": {"loss": [0.5]}})
    ckpt.save(2, [m + 1 for m in model], opt, {"history": {"loss": [0.5, 0.4]}})
    loaded = Checkpointer(tmp_path, {"seed": 1, "classes": ["a", "b"]}).load()
    assert loaded.epoch == 2, "the last checkpoint is the one to resume"
    for got, want in zip(loaded.model_values, model, strict=True):
        np.testing.assert_array_equal(got, want + 1)
    np.testing.assert_array_equal(loaded.optimizer_values[1], opt[1])
    assert loaded.state["history"]["loss"] == [0.5, 0.4]
    npz = sorted(p.name for p in tmp_path.glob("ckpt-*.npz"))
    assert npz == ["ckpt-0002.npz"], f"older checkpoints must go: {npz}"


def test_checkpoint_load_is_none_when_there_is_none(tmp_path):
    assert Checkpointer(tmp_path / "nothing", {}).load() is None


def test_checkpoint_refuses_other_setup_when_fingerprint_differs(tmp_path):
    Checkpointer(tmp_path, {"seed": 1, "batch_size": 8}).save(1, [], [], {})
    with pytest.raises(CheckpointMismatchError, match="batch_size"):
        Checkpointer(tmp_path, {"seed": 1, "batch_size": 16}).load()


# --- feature cache -------------------------------------------------------


def test_feature_cache_hits_when_key_matches_and_misses_when_stale(tmp_path):
    cache = _features.FeatureCache(tmp_path, "train")
    features = np.random.default_rng(0).normal(size=(4, 8)).astype("f4")
    positions = np.array([0, 1, 3, 2])
    cache.save("key-1", features, positions)
    hit = cache.load("key-1")
    assert hit is not None, "same key must hit"
    np.testing.assert_array_equal(hit[0], features)
    np.testing.assert_array_equal(hit[1], positions)
    assert cache.load("key-2") is None, "another key must miss"


def test_cache_key_changes_when_an_image_changes(tmp_path):
    image = tmp_path / "a.jpg"
    image.write_bytes(b"one")
    key = _features.cache_key("m", (16, 16), "stretch", [str(image)])
    assert key == _features.cache_key("m", (16, 16), "stretch", [str(image)])
    assert key != _features.cache_key("m", (16, 16), "crop", [str(image)])
    assert key != _features.cache_key("m", (24, 24), "stretch", [str(image)])
    image.write_bytes(b"other content")
    assert key != _features.cache_key("m", (16, 16), "stretch", [str(image)])


def test_cached_features_compute_once_when_called_twice(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.ones((2, 3), np.float32), np.array([0, 1])

    cache = _features.FeatureCache(tmp_path, "train")
    _features.cached_features(cache, "k", compute)
    features, _ = _features.cached_features(cache, "k", compute)
    assert len(calls) == 1, "the second call must read the .npy cache"
    assert features.shape == (2, 3)


def test_compute_features_runs_backbone_once_per_image_when_called():
    import tensorflow as tf

    paths = [f"img{i}.jpg" for i in range(5)]
    images = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    images = np.broadcast_to(images, (5, 2, 2, 3)).copy()
    batches = tf.data.Dataset.from_tensor_slices((images, paths)).batch(2)
    seen = []

    def backbone(x):
        seen.append(int(x.shape[0]))
        return tf.reduce_mean(x, axis=[1, 2])

    events = []
    features, positions = _features.compute_features(
        backbone, batches, paths, events.append
    )
    assert sum(seen) == 5, f"each image once, got batches {seen}"
    np.testing.assert_array_equal(positions, np.arange(5))
    np.testing.assert_allclose(features[:, 0], np.arange(5))
    assert events[-1].done == events[-1].total == 5


# --- report --------------------------------------------------------------


def test_classification_metrics_gives_precision_recall_when_known():
    labels = np.array([0, 0, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 1])
    m = _evaluate.classification_metrics(labels, preds, ["a", "b", "c"])
    assert m.accuracy == pytest.approx(3 / 5)
    a, b, c = m.per_class
    assert (a.precision, a.recall) == (1.0, 0.5)
    assert b.precision == pytest.approx(2 / 4) and b.recall == 1.0
    assert c.precision is None, "nobody predicted c: precision unknown"
    assert c.recall == 0.0
    assert m.to_dict()["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]


def test_write_report_writes_every_file_when_called(tmp_path):
    from imagehub.testing import write_image_folder

    write_image_folder(tmp_path / "imgs", num_classes=2, per_class=2)
    paths = sorted(str(p) for p in (tmp_path / "imgs").rglob("*.jpg"))
    labels = np.array([0, 0, 1, 1])
    preds = np.array([0, 1, 1, 1])
    names = ["class_0", "class_1"]
    metrics = {
        "validation": _evaluate.classification_metrics(
            labels, preds, names
        ).to_dict(),
        "num_train": 10,
        "epochs_run": 2,
    }
    out = tmp_path / "report"
    out.mkdir()
    _report.write_report(
        str(out),
        metrics=metrics,
        hparams=RetrainConfig().to_dict(),
        history={"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]},
        class_names=names,
        val_paths=paths,
        val_labels=labels,
        val_predictions=preds,
    )
    for name in (
        "metrics.json",
        "hparams.json",
        "training_curves.png",
        "confusion_matrix.png",
        "report.html",
    ):
        assert (out / name).is_file(), f"{name} missing"
    saved = json.loads((out / "metrics.json").read_text())
    assert [m["path"] for m in saved["misclassified"]] == [paths[1]]
    page = (out / "report.html").read_text()
    assert "class_0" in page and "misclassified/000.jpg" in page
    assert (out / "misclassified" / "000.jpg").is_file()
    saved = json.loads((out / "hparams.json").read_text())
    assert saved["train_epochs"] is None, "not given: recorded as None"
    assert saved["resolved"]["train_epochs"] == "searched", saved["resolved"]


# --- input size ----------------------------------------------------------


@pytest.fixture(scope="module")
def traced_modules(tmp_path_factory):
    """Card-less SavedModels, loaded: one traced at 96x96 only, one at
    any size."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("traced")
    loaded = {}
    for name, size in (("fixed", 96), ("any", None)):
        module = tf.Module()
        module.__call__ = tf.function(
            lambda x: tf.reduce_mean(x, axis=[1, 2]),
            input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)],
        )
        tf.saved_model.save(module, str(root / name))
        loaded[name] = tf.saved_model.load(str(root / name))
    return loaded


def test_image_size_comes_from_card_when_fixed():
    facts = facts_from(None, _card(True, (224, 224)))
    assert resolve_image_size(facts, None) == (224, 224)


def test_image_size_mismatch_is_an_error_when_card_fixes_it():
    with pytest.raises(ImageSizeError, match="224"):
        resolve_image_size(facts_from(None, _card(True, (224, 224))), 128)


def test_image_size_flag_wins_when_card_permits_a_range():
    assert resolve_image_size(facts_from(None, _card(False)), 24) == (24, 24)
    assert resolve_image_size(facts_from(None, _card(False)), None) == (
        16,
        16,
    )
    with pytest.raises(ImageSizeError, match="permits"):
        resolve_image_size(facts_from(None, _card(False, high=(32, 32))), 64)


def test_image_size_comes_from_trace_when_no_card(traced_modules):
    facts = facts_from(traced_modules["fixed"], None)
    assert resolve_image_size(facts, None) == (96, 96)
    with pytest.raises(ImageSizeError, match="traced"):
        resolve_image_size(facts, 128)


def test_image_size_flag_is_needed_when_nothing_else_tells(traced_modules):
    facts = facts_from(traced_modules["any"], None)
    with pytest.raises(ImageSizeError, match="--image_size"):
        resolve_image_size(facts, None)
    assert resolve_image_size(facts, 32) == (32, 32)


# --- training helpers ----------------------------------------------------


def test_rotation_range_degrees_become_fraction_of_turn_when_augmenting():
    config = RetrainConfig(do_data_augmentation=True, rotation_range=40)
    layers = _model.augmentation_layers(config, (100, 200), seed=0)
    rotation = next(x for x in layers if type(x).__name__ == "RandomRotation")
    np.testing.assert_allclose(rotation.factor, (-40 / 360, 40 / 360))


def test_shift_in_pixels_becomes_fraction_when_at_least_one():
    config = RetrainConfig(
        do_data_augmentation=True, width_shift_range=50, height_shift_range=0.1
    )
    layers = _model.augmentation_layers(config, (100, 200), seed=0)
    shift = next(x for x in layers if type(x).__name__ == "RandomTranslation")
    cfg = shift.get_config()
    np.testing.assert_allclose(cfg["width_factor"], (-0.25, 0.25))
    np.testing.assert_allclose(cfg["height_factor"], (-0.1, 0.1))


def test_class_weights_balance_classes_when_auto():
    weights = _features.class_weights(np.array([0, 0, 0, 1]), 2)
    np.testing.assert_allclose(weights, [4 / 6, 4 / 2])
    counts = np.array([3, 1])
    assert float(np.dot(weights, counts)) == pytest.approx(4.0)


def test_epoch_order_is_seeded_and_differs_by_epoch():
    a = _fit.epoch_order(3, 0, 50)
    np.testing.assert_array_equal(a, _fit.epoch_order(3, 0, 50))
    assert sorted(a.tolist()) == list(range(50))
    assert not np.array_equal(a, _fit.epoch_order(3, 1, 50))


def _head_data(flip_validation: bool):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    features = np.eye(3, 8, dtype=np.float32)[labels] * 2.0
    features += rng.normal(0, 0.1, features.shape).astype(np.float32)
    hot = np.eye(3, dtype=np.float32)[labels]
    val_hot = np.roll(hot, 1, axis=1) if flip_validation else hot

    def epoch_dataset(order):
        return tf.data.Dataset.from_tensor_slices(
            (features[order], hot[order])
        ).batch(8)

    val = tf.data.Dataset.from_tensor_slices((features, val_hot)).batch(8)
    return _features.TrainData(60, epoch_dataset, val)


def test_early_stopping_keeps_best_epoch_when_validation_worsens(tmp_path):
    config = RetrainConfig(
        train_epochs=6, batch_size=8, learning_rate=0.1, momentum=0.0,
        early_stopping_patience=2,
    )  # fmt: skip
    head = _model.build_head(8, 3, config, seed=0)
    _model.compile_model(head, config)
    saved = []

    def progress(event):
        if event.stage == "epoch_end" and event.epoch == 1:
            saved.extend(np.array(v) for v in head.variables)

    outcome = _fit.fit(
        head,
        _head_data(flip_validation=True),
        config,
        seed=0,
        saved_variables=head.variables,
        checkpointer=Checkpointer(tmp_path, {"t": 1}),
        progress=progress,
    )
    assert outcome.stopped_early, outcome
    assert outcome.epochs_run == 3, "patience 2 after the best epoch 1"
    assert outcome.best_epoch == 1
    for got, want in zip(head.variables, saved, strict=True):
        np.testing.assert_array_equal(np.array(got), want)


def test_mixed_precision_head_returns_float32_logits_when_enabled():
    config = RetrainConfig(use_mixed_precision=True)
    head = _model.build_head(8, 3, config, seed=0)
    assert head.get_layer("logits").compute_dtype == "float16"
    logits = head(np.ones((2, 8), np.float32))
    assert str(logits.dtype) in ("float32", "<dtype: 'float32'>"), logits.dtype


def test_cache_key_changes_when_module_is_reexported(tmp_path):
    module = tmp_path / "module"
    (module / "variables").mkdir(parents=True)
    (module / "saved_model.pb").write_bytes(b"graph")
    (module / "variables" / "variables.index").write_bytes(b"v1")
    key = _features.cache_key(str(module), (16, 16), "stretch", [])
    (module / "variables" / "variables.index").write_bytes(b"v2 weights")
    assert key != _features.cache_key(str(module), (16, 16), "stretch", [])


def _evaluation(train_accuracy, val_accuracy, chance):
    labels = np.zeros(10, np.int64)
    predictions = (np.arange(10) >= round(val_accuracy * 10)).astype(int)
    return _evaluate.Evaluation(
        logits=np.zeros((10, 5)),
        labels=labels,
        predictions=predictions,
        paths=tuple(f"{i}.jpg" for i in range(10)),
        metrics=_evaluate.classification_metrics(
            labels, predictions, list("abcde")
        ),
        train_accuracy=train_accuracy,
        chance_level=chance,
        chance_basis="1 in 5 classes",
    )


def test_hint_names_overfitting_when_training_accuracy_is_far_above():
    evaluation = _evaluation(1.0, 0.7, 0.2)
    assert evaluation.gap == pytest.approx(0.3)
    assert "overfitting" in evaluation.hint, evaluation.hint
    assert "--do_data_augmentation" in evaluation.hint
    assert "gap +0.3000" in evaluation.context()


def test_hint_says_near_chance_before_overfitting_when_both():
    evaluation = _evaluation(1.0, 0.3, 0.2)
    assert "near chance" in evaluation.hint, evaluation.hint


def test_no_hint_when_accuracy_is_high_and_gap_small():
    assert _evaluation(0.95, 0.9, 0.2).hint is None


def test_chance_level_is_majority_class_when_classes_are_unequal():
    train = np.array([0] * 8 + [1, 2])
    val = np.array([0, 0, 0, 1])
    level, basis = _evaluate.chance_level(train, val, ["a", "b", "c"])
    assert level == pytest.approx(0.75) and basis == "always 'a'"
    level, basis = _evaluate.chance_level(
        np.array([0, 1, 2]), np.array([0, 1, 2]), ["a", "b", "c"]
    )
    assert level == pytest.approx(1 / 3) and basis == "1 in 3 classes"


def test_summaries_are_written_when_tensorboard_is_not_installed(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['tensorboard'] = None  # as if not installed\n"
        "from imagehub.retrain import _summaries\n"
        f"_summaries.write_summaries({str(tmp_path)!r}, 1, "
        "{'loss': 0.5, 'val_loss': 0.7}, 0.01)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.parent.name for p in tmp_path.rglob("events.out.*"))
    assert written == ["train", "validation"], written


# --- imagehub's recipe -----------------------------------------------------


def _blobs(seed, n=60, flip=False):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    features = np.eye(3, 8, dtype=np.float32)[labels] * 2.0
    features += rng.normal(0, 0.8, features.shape).astype(np.float32)
    if flip:
        labels = (labels + 1) % 3
    return features, labels


def test_recipe_is_deterministic_for_a_seed():
    from imagehub.retrain._recipe import run_recipe

    def run(seed):
        return run_recipe(
            _blobs(0), _blobs(1), num_classes=3, config=RetrainConfig(),
            seed=seed,
        )  # fmt: skip

    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a.final.kernel, b.final.kernel)
    assert a.chosen == b.chosen and a.history == b.history
    assert not np.array_equal(a.final.kernel, c.final.kernel), (
        "another seed must give other weights"
    )


def test_recipe_restores_best_epoch_when_validation_worsens():
    from imagehub.retrain._recipe import _loss_and_accuracy
    from imagehub.retrain._recipe import train_head

    val = _blobs(1, flip=True)  # the better it learns, the worse val gets
    head, best_epoch, history = train_head(
        *_blobs(0), num_classes=3, config=RetrainConfig(),
        learning_rate=0.03, l2=1e-4, epochs=300, seed=0, val=val,
        patience=10,
    )  # fmt: skip
    losses = history["val_loss"]
    assert best_epoch == 1 + int(np.argmin(losses)), (best_epoch, losses)
    assert len(losses) == best_epoch + 10, "stops after 10 worse epochs"
    assert _loss_and_accuracy(head, *val)[0] == pytest.approx(min(losses))


def test_recipe_keeps_flags_given_whatever_their_values():
    from imagehub.retrain._recipe import grid
    from imagehub.retrain._recipe import run_recipe

    assert len(grid(RetrainConfig())) == 9
    assert grid(RetrainConfig(learning_rate=0.2, l2_regularizer=0.5)) == [
        (0.2, 0.5)
    ]
    result = run_recipe(
        _blobs(0), _blobs(1), num_classes=3,
        config=RetrainConfig(train_epochs=7), seed=0,
    )  # fmt: skip
    assert all(c.best_epoch == 7 for c in result.candidates), (
        "--train_epochs given: exactly that many epochs, no early stopping"
    )
    assert len(result.history["loss"]) == 7


@pytest.mark.parametrize(
    ("changes", "recipe", "warm_start"),
    [
        ({}, "imagehub", False),
        ({"do_fine_tuning": True}, "imagehub", True),
        (
            {"do_fine_tuning": True, "recipe": "make_image_classifier"},
            "make_image_classifier",
            False,
        ),
        ({"do_data_augmentation": True}, "make_image_classifier", False),
    ],
)
def test_hparams_name_the_recipe_that_trained_when_resolved(
    changes, recipe, warm_start
):
    resolved = RetrainConfig(**changes).to_dict()["resolved"]
    assert (resolved["recipe"], resolved["warm_start"]) == (recipe, warm_start)


@pytest.mark.parametrize(
    ("changes", "used"),
    [
        ({}, ("searched", "searched", "searched")),
        ({"train_epochs": 5}, (5, "searched", "searched")),
        ({"learning_rate": 0.005}, ("searched", 0.005, "searched")),
        ({"recipe": "make_image_classifier"}, (5, 0.005, 0.0001)),
        ({"do_data_augmentation": True}, (5, 0.005, 0.0001)),
        (
            {"do_fine_tuning": True},
            (5, "searched head's / 10", 0.0001),
        ),
    ],
)
def test_hparams_record_given_and_used_values_when_resolved(changes, used):
    saved = RetrainConfig(**changes).to_dict()
    names = ("train_epochs", "learning_rate", "l2_regularizer")
    assert tuple(saved["resolved"][n] for n in names) == used, saved
    assert all(saved[n] == changes.get(n) for n in names), (
        "the top level records what was given (None: not given)"
    )
