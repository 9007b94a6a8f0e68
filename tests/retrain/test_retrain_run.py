"""Whole retraining runs on a generated 3-class image folder and the tiny
feature-vector SavedModel (8 features, 16x16 images)."""

import json
import os

import numpy as np
import pytest

from imagehub.retrain import RetrainConfig
from imagehub.retrain import TrainingDivergedError
from imagehub.retrain import make_image_classifier
from imagehub.testing import read_scalars
from imagehub.testing import run_cli
from imagehub.testing import write_image_folder
from imagehub.testing import write_tiny_model

CLASSES = ["class_0", "class_1", "class_2"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    write_image_folder(
        root / "images", num_classes=3, per_class=20, size=(16, 16)
    )
    # A truncated JPEG: its header reads, its pixels do not.
    good = (root / "images" / "class_0" / "0000.jpg").read_bytes()
    (root / "images" / "class_0" / "truncated.jpg").write_bytes(
        good[: len(good) // 2]
    )
    write_tiny_model(root / "module")
    return root


@pytest.fixture(scope="module")
def old_run(workdir):
    """make_image_classifier's README command line with the flag values of
    its own end-to-end test, unchanged."""
    out = workdir / "old"
    done = run_cli(
        "retrain",
        "--image_dir",
        str(workdir / "images"),
        "--tfhub_module",
        str(workdir / "module"),
        "--image_size",
        "16",
        "--saved_model_dir",
        str(out / "new_model"),
        "--labels_output_file",
        str(out / "class_labels.txt"),
        "--tflite_output_file",
        str(out / "new_mobile_model.tflite"),
        "--train_epochs",
        "10",
        "--batch_size",
        "8",
        "--learning_rate",
        "0.1",
        "--momentum",
        "0.0",
        "--assert_accuracy_at_least",
        "0.9",
        "--summaries_dir",
        str(out / "my_log_dir"),
    )
    return done, out


def _config(workdir, **changes):
    base = dict(
        image_dir=str(workdir / "images"),
        tfhub_module=str(workdir / "module"),
        batch_size=8,
        learning_rate=0.1,
        train_epochs=2,
        seed=3,
    )
    base.update(changes)
    return RetrainConfig(**base)


def _head_weights(result):
    head = result.model.get_layer("head")
    return [np.asarray(v) for v in head.get_layer("logits").weights]


def test_old_command_line_runs_unchanged(old_run):
    done, _ = old_run
    assert done.returncode == 0, (
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    assert "Final validation accuracy" in done.stdout, done.stdout
    assert "ACCURACY PASSED" in done.stdout, done.stdout


def test_old_command_line_summaries_dir_holds_each_epochs_scalars(old_run):
    pytest.importorskip("tensorboard")  # the reader, a test dependency
    done, out = old_run
    assert done.returncode == 0, done.stderr[-3000:]
    train = read_scalars(out / "my_log_dir" / "train")
    val = read_scalars(out / "my_log_dir" / "validation")
    epochs = json.loads(
        (out / "new_model_report" / "metrics.json").read_text()
    )["epochs_run"]
    assert [s for s, _ in train["epoch_loss"]] == list(range(1, epochs + 1))
    assert [s for s, _ in val["epoch_accuracy"]] == list(range(1, epochs + 1))
    assert train["epoch_learning_rate"][0][1] == pytest.approx(0.1)


def test_all_outputs_exist_when_run_finishes(old_run):
    _, out = old_run
    assert (out / "new_model" / "saved_model.pb").is_file()
    assert (out / "new_mobile_model.tflite").stat().st_size > 0
    labels = (out / "class_labels.txt").read_text().splitlines()
    assert labels == CLASSES, f"labels file in index order, got {labels}"
    report = out / "new_model_report"
    for name in (
        "metrics.json",
        "hparams.json",
        "training_curves.png",
        "confusion_matrix.png",
        "report.html",
    ):
        assert (report / name).is_file(), f"report file {name} missing"
    leftovers = [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_bad_image_is_reported_not_fatal_when_in_the_folder(old_run):
    done, out = old_run
    metrics = json.loads((out / "new_model_report/metrics.json").read_text())
    assert metrics["num_skipped"] >= 1, "the truncated JPEG must be left out"
    assert "truncated.jpg" in done.stderr, "the bad file must be reported"


def test_summary_counts_one_left_out_file_in_the_singular(old_run):
    done, _ = old_run
    assert "1 file not used" in done.stderr, (
        f"expected '1 file not used' for the one truncated JPEG:\n"
        f"{done.stderr[-2000:]}"
    )


def test_tflite_int8_converts_with_training_images_when_asked(old_run):
    import tensorflow as tf

    from imagehub.retrain import _export

    _, out = old_run
    rng = np.random.default_rng(0)
    content = _export.convert(
        str(out / "new_model"),
        "int8",
        lambda: (rng.uniform(size=(1, 16, 16, 3)) for _ in range(8)),
    )
    interpreter = tf.lite.Interpreter(model_content=content)
    kinds = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in kinds, f"no int8 tensors in the int8 model: {kinds}"
    lite = _export.TFLiteClassifier(content)
    assert lite(rng.uniform(size=(2, 16, 16, 3))).shape == (2, 3)


def test_validation_accuracy_reaches_95_percent_when_separable(old_run):
    _, out = old_run
    metrics = json.loads(
        (out / "new_model_report" / "metrics.json").read_text()
    )
    assert metrics["val_accuracy"] >= 0.95, metrics["validation"]
    assert metrics["cache_features"] is True, "frozen module: cached"


def test_saved_model_passes_imagehub_check_when_exported(old_run):
    from imagehub.check import check

    _, out = old_run
    report = check(str(out / "new_model"), task="classification")
    assert report.conforming, str(report)


def test_saved_model_card_lists_labels_and_softmax_when_exported(old_run):
    from imagehub.spec import read_card

    _, out = old_run
    card = read_card(out / "new_model")
    assert card is not None, "model card (M1) missing"
    assert card.task == "classification"
    assert list(card.labels) == CLASSES
    assert card.activation == "softmax"


def test_tflite_top1_agrees_with_saved_model_when_converted(old_run, workdir):
    import tensorflow as tf

    from imagehub import data

    _, out = old_run
    metrics = json.loads(
        (out / "new_model_report" / "metrics.json").read_text()
    )
    assert metrics["tflite"]["agreement"] >= 0.99, metrics["tflite"]
    # Independently: every image of the folder through both models.
    loaded = tf.saved_model.load(str(out / "new_model"))
    serving = loaded.signatures["serving_default"]
    interpreter = tf.lite.Interpreter(
        model_path=str(out / "new_mobile_model.tflite")
    )
    index = data.scan(workdir / "images")
    for images, _ in data.dataset(index, (16, 16), batch_size=60):
        want = np.argmax(serving(images=images)["logits"].numpy(), axis=-1)
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], images.numpy())
        interpreter.invoke()
        got = interpreter.get_tensor(
            interpreter.get_output_details()[0]["index"]
        )
        np.testing.assert_array_equal(np.argmax(got, axis=-1), want)


def test_cached_and_uncached_training_reach_same_weights_when_seeded(
    workdir,
):
    old = "make_image_classifier"  # the recipe that also runs uncached
    cached = make_image_classifier(
        _config(workdir, cache_features=True, recipe=old)
    )
    uncached = make_image_classifier(
        _config(workdir, cache_features=False, recipe=old)
    )
    assert cached.metrics["cache_features"] is True
    assert uncached.metrics["cache_features"] is False
    for a, b in zip(
        _head_weights(cached), _head_weights(uncached), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert cached.history["loss"] == pytest.approx(
        uncached.history["loss"], abs=1e-5
    )


def test_random_labels_with_assert_exit_nonzero_and_export_nothing(tmp_path):
    from imagehub.cli import main

    write_image_folder(
        tmp_path / "images", per_class=20, size=(16, 16), random_labels=True
    )
    write_tiny_model(tmp_path / "module")
    out = tmp_path / "out"
    code = main(
        [
            "retrain",
            "--image_dir",
            str(tmp_path / "images"),
            "--tfhub_module",
            str(tmp_path / "module"),
            "--saved_model_dir",
            str(out / "model"),
            "--labels_output_file",
            str(out / "labels.txt"),
            "--tflite_output_file",
            str(out / "model.tflite"),
            "--train_epochs",
            "2",
            "--assert_accuracy_at_least",
            "0.9",
        ]
    )
    assert code != 0, "an accuracy below the assertion must fail the run"
    exported = sorted(
        p.name for p in out.iterdir() if not p.name.endswith("_checkpoints")
    )
    assert exported == [], f"nothing may be exported, found {exported}"


def test_run_killed_after_epoch_2_resumes_at_epoch_3(workdir, tmp_path):
    config = _config(
        workdir,
        train_epochs=3,
        saved_model_dir=str(tmp_path / "model"),
        recipe="make_image_classifier",  # the per-epoch checkpoints
    )

    def kill_after_epoch_2(event):
        if event.stage == "epoch_end" and event.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_image_classifier(config, progress=kill_after_epoch_2)
    assert not (tmp_path / "model").exists(), "a killed run exports nothing"
    state = json.loads(
        (tmp_path / "model_checkpoints" / "checkpoint.json").read_text()
    )
    assert state["epoch"] == 2, state

    events = []
    resumed = make_image_classifier(
        config.replace(resume=True), progress=events.append
    )
    epochs = [e.epoch for e in events if e.stage == "train"]
    assert epochs and epochs[0] == 3, f"resumed run trained epochs {epochs}"
    assert not [e for e in events if e.stage == "features"], (
        "the resumed run must read the features cached on disk"
    )
    assert (tmp_path / "model_checkpoints/features/images.npy").is_file()
    assert sorted(set(epochs)) == [3], f"only epoch 3 is left, got {epochs}"
    assert resumed.metrics["resumed_from_epoch"] == 2
    assert len(resumed.history["loss"]) == 3, "history covers all 3 epochs"
    # The same as a run that was never interrupted.
    whole = make_image_classifier(config.replace(saved_model_dir=None))
    for a, b in zip(_head_weights(resumed), _head_weights(whole), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_nan_loss_stops_run_and_exports_nothing_when_diverging(
    workdir, tmp_path
):
    config = _config(
        workdir,
        learning_rate=1e30,
        train_epochs=3,
        saved_model_dir=str(tmp_path / "model"),
    )
    with pytest.raises(TrainingDivergedError, match="NaN"):
        make_image_classifier(config)
    assert not (tmp_path / "model").exists()
    assert not (tmp_path / "model_report").exists()


def test_fine_tuning_trains_the_module_when_requested(workdir):
    import imagehub

    result = make_image_classifier(
        _config(
            workdir,
            train_epochs=1,
            do_fine_tuning=True,
            do_data_augmentation=True,
        )
    )
    assert result.metrics["cache_features"] is False
    module = result.model.get_layer("module")
    assert module.trainable_weights, "fine-tuning must train module weights"
    before = [
        v.numpy() for v in imagehub.load(str(workdir / "module")).variables
    ]

    def unchanged(weight):
        value = np.asarray(weight)
        return any(
            b.shape == value.shape and np.allclose(b, value) for b in before
        )

    moved = [w.name for w in module.trainable_weights if not unchanged(w)]
    assert moved, "no module weight moved during fine-tuning"


def test_missing_module_fails_with_clear_error_when_run(workdir, capsys):
    from imagehub.cli import main

    code = main(
        [
            "retrain",
            "--image_dir",
            str(workdir / "images"),
            "--tfhub_module",
            str(workdir / "no_such_module"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, f"a missing module is a bad flag (exit 2): {err}"
    assert "--tfhub_module" in err and "no_such_module" in err, err


@pytest.mark.parametrize("recipe", ["imagehub", "make_image_classifier"])
def test_summaries_dir_writes_scalars_tensorboard_reads(
    workdir, tmp_path, recipe
):
    pytest.importorskip("tensorboard")  # the reader, a test dependency
    result = make_image_classifier(
        _config(
            workdir,
            train_epochs=3,
            summaries_dir=str(tmp_path / "logs"),
            recipe=recipe,
        )
    )
    train = read_scalars(tmp_path / "logs" / "train")
    val = read_scalars(tmp_path / "logs" / "validation")
    assert set(train) == {
        "epoch_loss",
        "epoch_accuracy",
        "epoch_learning_rate",
    }, train
    assert set(val) == {"epoch_loss", "epoch_accuracy"}, val
    history = result.history
    assert [s for s, _ in train["epoch_loss"]] == [1, 2, 3]
    assert [v for _, v in train["epoch_loss"]] == pytest.approx(
        history["loss"], rel=1e-6
    )
    assert [v for _, v in val["epoch_accuracy"]] == pytest.approx(
        history["val_accuracy"], rel=1e-6
    )
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx(
        [0.1] * 3
    ), "the learning rate given is the one used"


def _outputs_cli(workdir, out, *extra):
    from imagehub.cli import main

    return main(
        [
            "retrain",
            "--image_dir",
            str(workdir / "images"),
            "--tfhub_module",
            str(workdir / "module"),
            "--saved_model_dir",
            str(out / "model"),
            "--labels_output_file",
            str(out / "labels.txt"),
            "--train_epochs",
            "1",
            "--seed",
            "1",
            *extra,
        ]
    )


def test_existing_saved_model_dir_is_refused_when_no_overwrite(
    workdir, tmp_path, capsys
):
    mine = tmp_path / "model" / "my_notes.txt"
    mine.parent.mkdir()
    mine.write_text("keep me")
    code = _outputs_cli(workdir, tmp_path)
    err = capsys.readouterr().err
    assert code == 2, f"an existing output is a usage error (exit 2): {err}"
    assert "model" in err and "--overwrite" in err, err
    assert mine.read_text() == "keep me", "the user's file must survive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], (
        "nothing else may be written when the run is refused"
    )


def test_existing_labels_file_is_refused_when_no_overwrite(
    workdir, tmp_path, capsys
):
    (tmp_path / "labels.txt").write_text("my labels\n")
    code = _outputs_cli(workdir, tmp_path)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "labels.txt" in err and "--overwrite" in err, err
    assert (tmp_path / "labels.txt").read_text() == "my labels\n"
    assert not (tmp_path / "model").exists()


def test_existing_outputs_are_replaced_when_overwrite(workdir, tmp_path):
    import stat

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "my_notes.txt").write_text("old")
    (tmp_path / "labels.txt").write_text("old\n")
    old_mask = os.umask(0o022)
    try:
        code = _outputs_cli(workdir, tmp_path, "--overwrite")
    finally:
        os.umask(old_mask)
    assert code == 0
    assert (tmp_path / "model" / "saved_model.pb").is_file()
    assert not (tmp_path / "model" / "my_notes.txt").exists()
    assert (tmp_path / "labels.txt").read_text().splitlines() == CLASSES
    modes = {
        name: stat.S_IMODE((tmp_path / name).stat().st_mode)
        for name in ("model", "labels.txt", "model_report")
    }
    assert modes == {
        "model": 0o755,
        "labels.txt": 0o644,
        "model_report": 0o755,
    }, f"published outputs take the umask's modes: {modes}"
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert not leftovers, leftovers


def test_earlier_checkpoint_is_refused_when_neither_resume_nor_overwrite(
    workdir, tmp_path
):
    from imagehub.outputs import OutputExistsError

    config = _config(
        workdir,
        train_epochs=1,
        checkpoint_dir=str(tmp_path / "ckpt"),
        recipe="make_image_classifier",  # the recipe with checkpoints
    )
    first = make_image_classifier(config)
    with pytest.raises(OutputExistsError, match="--resume"):
        make_image_classifier(config)
    again = make_image_classifier(config.replace(overwrite=True))
    assert again.history == first.history, "--overwrite starts over"


def test_final_accuracy_is_printed_with_chance_level_and_gap(old_run):
    done, _ = old_run
    assert "chance level 0.3333 (1 in 3 classes)" in done.stdout, done.stdout
    assert "training accuracy 1.0000 (gap " in done.stdout, done.stdout
    assert "Hint" not in done.stdout, (
        f"a separable folder learnt well needs no hint:\n{done.stdout}"
    )


def test_tflite_line_says_no_quantization_when_float(old_run):
    done, out = old_run
    assert "TFLite (no quantization) top-1 agreement" in done.stdout, (
        done.stdout
    )
    assert "(none)" not in done.stdout
    page = (out / "new_model_report" / "report.html").read_text()
    assert "TFLite (no quantization)" in page, "the report says it too"


def test_report_gives_chance_level_and_training_accuracy(old_run):
    _, out = old_run
    metrics = json.loads(
        (out / "new_model_report" / "metrics.json").read_text()
    )
    assert metrics["chance_level"] == pytest.approx(1 / 3)
    assert metrics["train_accuracy"] == 1.0, metrics["train_accuracy"]
    assert metrics["accuracy_gap"] == pytest.approx(
        metrics["train_accuracy"] - metrics["val_accuracy"]
    )
    assert metrics["hint"] is None
    page = (out / "new_model_report" / "report.html").read_text()
    assert "Chance level: 33.3%" in page and "training accuracy 100.0%" in (
        page
    ), "report.html must put the accuracy in context"


def test_hint_says_near_chance_when_labels_are_random(tmp_path, capsys):
    from imagehub.cli import main

    write_image_folder(
        tmp_path / "images", per_class=20, size=(16, 16), random_labels=True
    )
    write_tiny_model(tmp_path / "module")
    code = main(
        [
            "retrain",
            "--image_dir",
            str(tmp_path / "images"),
            "--tfhub_module",
            str(tmp_path / "module"),
            "--report_dir",
            str(tmp_path / "report"),
            "--train_epochs",
            "2",
            "--seed",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Hint: validation accuracy is near chance level" in out, out
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert "near chance" in metrics["hint"]
    page = (tmp_path / "report" / "report.html").read_text()
    assert "near chance" in page


def test_old_recipe_switch_trains_train_epochs_of_sgd(workdir):
    config = _config(workdir, recipe="make_image_classifier")
    a = make_image_classifier(config)
    b = make_image_classifier(config)
    assert a.epochs_run == len(a.history["loss"]) == 2
    assert "recipe" not in a.metrics and a.recipe is None
    assert a.history == b.history, "seeded: the same numbers every time"
    new = make_image_classifier(config.replace(recipe="imagehub"))
    assert new.recipe and "recipe imagehub" in new.recipe
    assert new.metrics["recipe"]["refit_on_validation"] is True


def test_fine_tuning_starts_from_a_head_trained_on_features(workdir):
    config = _config(workdir, train_epochs=1, do_fine_tuning=True)
    warm = make_image_classifier(config)
    cold = make_image_classifier(config.replace(recipe="make_image_classifier"))
    assert "warm_start" in warm.metrics and "warm_start" not in cold.metrics
    chosen = warm.metrics["warm_start"]["chosen"]
    assert chosen["val_accuracy"] >= 0.9, chosen
    assert warm.history["loss"][0] < cold.history["loss"][0], (
        "a warm-started first epoch starts from a trained head: "
        f"{warm.history['loss']} vs cold {cold.history['loss']}"
    )
    assert warm.val_accuracy >= 0.9, warm.metrics["validation"]
    module = warm.model.get_layer("module")
    assert module.arguments == {"batch_norm_momentum": 0.997}, (
        "fine-tuning overrides the card's batch_norm_momentum (R4)"
    )
    assert cold.model.get_layer("module").arguments == {}
