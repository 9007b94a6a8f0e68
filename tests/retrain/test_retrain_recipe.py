"""The training recipes as a whole run sees them: a seeded run repeats
itself, ``--recipe make_image_classifier`` computes what the old tool's
training computes (checked against a NumPy re-computation written here,
not against the code under test), and early stopping keeps the best
epoch."""

import json

import numpy as np
import pytest

from imagehub.retrain import RetrainConfig
from imagehub.retrain import make_image_classifier
from imagehub.testing import run_cli
from imagehub.testing import write_image_folder
from imagehub.testing import write_tiny_model


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    write_image_folder(
        root / "images", num_classes=3, per_class=16, size=(16, 16), fmt="png"
    )
    write_tiny_model(root / "module")
    return root


def _config(workdir, **changes):
    base = dict(
        image_dir=str(workdir / "images"),
        tfhub_module=str(workdir / "module"),
        seed=7,
    )
    base.update(changes)
    return RetrainConfig(**base)


def _head_weights(result):
    logits = result.model.get_layer("head").get_layer("logits")
    return [np.asarray(v) for v in logits.weights]


def test_default_recipe_run_is_identical_when_seed_is_repeated(workdir):
    config = _config(workdir)
    a = make_image_classifier(config)
    b = make_image_classifier(config)
    c = make_image_classifier(config.replace(seed=8))
    assert a.recipe and "recipe imagehub" in a.recipe, a.recipe
    for x, y in zip(_head_weights(a), _head_weights(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.history == b.history
    assert a.val_accuracy == b.val_accuracy
    assert a.metrics["recipe"] == b.metrics["recipe"]
    assert not np.array_equal(_head_weights(a)[0], _head_weights(c)[0]), (
        "another seed must give other weights"
    )


# --- the old recipe against a re-computation -------------------------------


def _features(workdir, index):
    """The tiny module's features of `index`'s images, read with Pillow
    and run through the SavedModel's own signature (not retrain's
    pipeline)."""
    import tensorflow as tf
    from PIL import Image

    module = tf.saved_model.load(str(workdir / "module"))
    images = np.stack(
        [
            np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0
            for p in index.paths
        ]
    )
    return np.asarray(module(tf.constant(images)), np.float64)


def _old_tool_head(workdir, config):
    """make_image_classifier's training written out in NumPy: Dense on the
    features (Glorot-uniform kernel, zero bias), softmax cross-entropy with
    label smoothing plus L2 on the kernel, SGD with momentum (Keras's
    velocity rule), one seeded order per epoch. Dropout is 0 here, so no
    random draws other than the initial kernel and the order."""
    import keras

    from imagehub import data
    from imagehub.retrain._fit import epoch_order

    index = data.scan(workdir / "images")
    train, _ = data.split(index, config.validation_split, config.seed)
    x = _features(workdir, train)
    y = np.asarray(train.labels)
    n, d = x.shape
    k = len(index.class_names)
    init = keras.initializers.GlorotUniform(seed=config.seed)
    kernel = np.asarray(init((d, k)), np.float64)
    bias = np.zeros(k)
    s = config.label_smoothing
    targets = np.eye(k)[y] * (1 - s) + s / k
    velocity = [np.zeros_like(kernel), np.zeros_like(bias)]
    # make_image_classifier's defaults where the config leaves them to the
    # recipe (None): written out here, not taken from the code under test.
    epochs = 5 if config.train_epochs is None else config.train_epochs
    rate = 0.005 if config.learning_rate is None else config.learning_rate
    l2 = 0.0001 if config.l2_regularizer is None else config.l2_regularizer
    for epoch in range(epochs):
        order = epoch_order(config.seed, epoch, n)
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            logits = x[batch] @ kernel + bias
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = (p - targets[batch]) / len(batch)
            grads = (
                x[batch].T @ g + 2 * l2 * kernel,
                g.sum(axis=0),
            )
            for i, (param, grad) in enumerate(
                zip((kernel, bias), grads, strict=True)
            ):
                velocity[i] = config.momentum * velocity[i] - rate * grad
                param += velocity[i]
    return kernel, bias


@pytest.mark.parametrize("cache_features", [True, False])
def test_old_recipe_trains_as_the_old_tool_when_switched(
    workdir, cache_features
):
    import keras

    config = _config(
        workdir,
        recipe="make_image_classifier",
        dropout_rate=0.0,
        train_epochs=4,
        batch_size=8,
        learning_rate=0.05,
        cache_features=cache_features,
    )
    result = make_image_classifier(config)
    kernel, bias = _old_tool_head(workdir, config)
    got_kernel, got_bias = _head_weights(result)
    assert result.epochs_run == 4 and result.recipe is None
    start = np.asarray(keras.initializers.GlorotUniform(seed=7)(kernel.shape))
    assert np.abs(kernel - start).max() > 0.01, "training moved the kernel"
    np.testing.assert_allclose(got_kernel, kernel, atol=2e-4, rtol=0)
    np.testing.assert_allclose(got_bias, bias, atol=2e-4, rtol=0)


def test_old_recipe_trains_the_old_defaults_when_no_flags_are_given(workdir):
    config = _config(workdir, recipe="make_image_classifier", dropout_rate=0.0)
    result = make_image_classifier(config)
    kernel, bias = _old_tool_head(workdir, config)
    got_kernel, got_bias = _head_weights(result)
    assert result.epochs_run == 5, "make_image_classifier's 5 epochs"
    np.testing.assert_allclose(got_kernel, kernel, atol=2e-4, rtol=0)
    np.testing.assert_allclose(got_bias, bias, atol=2e-4, rtol=0)


# --- flags given keep their meaning, whatever their value ------------------


def _candidates(result):
    return result.metrics["recipe"]["candidates"]


def test_default_recipe_searches_epochs_and_grid_when_nothing_given(workdir):
    result = make_image_classifier(_config(workdir))
    assert len(_candidates(result)) == 9, "3 learning rates x 3 L2"
    assert len(result.history["loss"]) > 5, (
        "epochs chosen by early stopping: the run goes on past the best "
        f"epoch, got {len(result.history['loss'])} epochs"
    )


def test_train_epochs_trains_exactly_that_many_when_given_its_old_default(
    workdir,
):
    # Through the Python API's keyword overrides: 5 is the old default,
    # and given, it counts.
    result = make_image_classifier(_config(workdir), train_epochs=5)
    candidates = _candidates(result)
    assert len(candidates) == 9, "the learning rate and L2 grid is searched"
    assert {c["best_epoch"] for c in candidates} == {5}, candidates
    assert result.epochs_run == 5
    assert len(result.history["loss"]) == 5, "no early stopping"


def test_learning_rate_fixes_its_axis_when_given_its_old_default(workdir):
    result = make_image_classifier(
        _config(workdir, learning_rate=0.005, l2_regularizer=0.0001)
    )
    candidates = _candidates(result)
    assert [(c["learning_rate"], c["l2"]) for c in candidates] == [
        (0.005, 0.0001)
    ], candidates
    assert len(result.history["loss"]) > 5, "epochs still searched"


def test_cli_flags_given_their_old_defaults_keep_their_meaning(workdir):
    out = workdir / "cli_given"
    flags = {
        "image_dir": workdir / "images",
        "tfhub_module": workdir / "module",
        "report_dir": out,
        "seed": 7,
        "train_epochs": 5,
        "learning_rate": 0.005,
    }
    done = run_cli(
        "retrain", *(a for k, v in flags.items() for a in (f"--{k}", str(v)))
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert [
        (c["learning_rate"], c["best_epoch"])
        for c in metrics["recipe"]["candidates"]
    ] == [(0.005, 5)] * 3, "one learning rate, 3 L2 strengths, 5 epochs"
    hparams = json.loads((out / "hparams.json").read_text())
    assert (hparams["train_epochs"], hparams["learning_rate"]) == (5, 0.005)
    assert hparams["l2_regularizer"] is None, "not given"
    assert hparams["resolved"]["train_epochs"] == 5
    assert hparams["resolved"]["l2_regularizer"] == "searched"


# --- early stopping ----------------------------------------------------------


def _overfitting_features(seed, n):
    """Two classes, 40 noise features and one weakly informative one: a
    head with no L2 first learns the signal, then the noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(0, 1, (n, 41)).astype(np.float32)
    x[:, 0] += np.where(y == 1, 0.7, -0.7)
    return x, y


def test_recipe_restores_a_middle_epoch_when_validation_turns_worse():
    from imagehub.retrain._recipe import _loss_and_accuracy
    from imagehub.retrain._recipe import train_head

    val = _overfitting_features(1, 200)
    head, best_epoch, history = train_head(
        *_overfitting_features(0, 24), num_classes=2,
        config=RetrainConfig(dropout_rate=0.0, label_smoothing=0.0),
        learning_rate=0.05, l2=0.0, epochs=400, seed=0, val=val,
        patience=20,
    )  # fmt: skip
    losses = history["val_loss"]
    assert 1 < best_epoch < len(losses) - 1, (
        f"the data must make the best epoch a middle one: {best_epoch} "
        f"of {len(losses)}"
    )
    assert losses[-1] > min(losses) + 0.01, "validation loss rose after"
    assert best_epoch == 1 + int(np.argmin(losses))
    kept = _loss_and_accuracy(head, *val)[0]
    assert kept == pytest.approx(min(losses), rel=1e-6), (
        f"kept weights score {kept}, the best epoch scored {min(losses)}, "
        f"the last {losses[-1]}"
    )


def test_recipe_refits_chosen_setting_on_training_and_validation_images():
    from imagehub.retrain._recipe import run_recipe
    from imagehub.retrain._recipe import train_head

    train, val = _overfitting_features(0, 40), _overfitting_features(1, 40)
    config = RetrainConfig()
    result = run_recipe(train, val, num_classes=2, config=config, seed=3)
    chosen = result.chosen
    assert result.refit and chosen.best_epoch < 300
    expected, _, _ = train_head(
        np.concatenate([train[0], val[0]]),
        np.concatenate([train[1], val[1]]),
        num_classes=2, config=config, learning_rate=chosen.learning_rate,
        l2=chosen.l2, epochs=chosen.best_epoch, seed=3,
    )  # fmt: skip
    np.testing.assert_array_equal(result.final.kernel, expected.kernel)
    assert not np.array_equal(result.final.kernel, result.selection.kernel), (
        "the exported head is not the one the validation numbers are of"
    )
    best = min(result.candidates, key=lambda c: c.val_loss)
    assert chosen == best, "the setting with the lowest validation loss"
