"""Whole comparisons on generated data: ranking and significance, ties,
shared folds, failures reported in the table, the outputs, and the
feature cache a following `retrain` reads."""

import json
import shlex

import numpy as np
import pytest

from imagehub import compare
from imagehub import retrain


def _score(result, handle):
    return next(s for s in result.scores if s.handle == handle)


def test_colour_model_ranks_first_when_other_is_colour_blind(ranked, workdir):
    result, _ = ranked
    assert result.winner == workdir.colour, (
        f"expected the colour model to win, got {result.winner}"
    )
    colour, blind = (
        _score(result, workdir.colour),
        _score(result, workdir.blind),
    )
    assert colour.probe_accuracy >= 0.95, colour.probe_accuracy
    assert blind.probe_accuracy <= 0.6, blind.probe_accuracy
    assert colour.knn_accuracy > blind.knn_accuracy


def test_gap_is_significant_when_one_model_is_strictly_better(ranked, workdir):
    result, _ = ranked
    blind = _score(result, workdir.blind)
    assert blind.vs_best is not None
    assert blind.vs_best.distinguishable, (
        f"expected an interval excluding 0, got {blind.vs_best}"
    )
    assert blind.vs_best.low > 0.2
    assert not blind.tied_with_best
    assert compare.rank_labels(result.scores)[:2] == ["1", "2"]


def test_identical_models_are_a_tie_when_compared(twins, workdir):
    a, b = twins.scores
    assert b.tied_with_best, f"expected a tie, got {b.vs_best}"
    assert not b.vs_best.distinguishable
    assert compare.rank_labels(twins.scores) == ["1", "=1"]
    assert np.array_equal(a.probe.predictions, b.probe.predictions)


def test_folds_are_the_same_for_every_model_when_seeded(ranked, twins, workdir):
    result, _ = ranked
    expected = compare.stratified_folds(result.labels, 5, result.seed)
    assert np.array_equal(result.folds, expected)
    # Same images, labels and seed in another comparison: same folds.
    assert np.array_equal(twins.folds, result.folds)
    saved = json.loads((workdir.root / "out" / "compare.json").read_text())
    assert saved["folds"] == [int(f) for f in result.folds]
    for s in result.scores:
        if s.ok:
            assert len(s.probe.fold_accuracies) == 5
            assert len(s.knn.fold_accuracies) == 5


def test_missing_model_is_reported_not_fatal_when_it_does_not_load(
    ranked, workdir
):
    result, events = ranked
    missing = _score(result, workdir.missing)
    assert not missing.ok
    assert "no_such_model" in missing.error
    assert result.scores[-1].handle in (workdir.missing, workdir.classifier)
    failed = {e.model for e in events if e.stage == "failed"}
    assert workdir.missing in failed


def test_classifier_is_refused_with_a_message_when_compared(ranked, workdir):
    result, _ = ranked
    refused = _score(result, workdir.classifier)
    assert not refused.ok
    assert "classification model" in refused.error
    assert "outputs 3 class logits" in refused.error, refused.error
    assert "--task feature_vector" in refused.error


def test_progress_reports_each_model_when_running(ranked, workdir):
    _, events = ranked
    for handle in (workdir.colour, workdir.blind):
        stages = [e.stage for e in events if e.model == handle]
        assert stages[0] == "load" and stages[-1] == "done", stages
        assert "features" in stages and "probe" in stages
        folds = [
            e.done for e in events if e.model == handle and e.stage == "probe"
        ]
        assert folds[-1] == 5


def test_outputs_are_written_when_out_is_given(ranked, workdir):
    result, _ = ranked
    out = workdir.root / "out"
    saved = json.loads((out / "compare.json").read_text())
    assert saved["winner"] == workdir.colour
    assert [m["model"] for m in saved["models"]][:2] == [
        workdir.colour,
        workdir.blind,
    ]
    top = saved["models"][0]
    assert top["num_features"] == 4 and top["image_size"] == [16, 16]
    assert top["license"] == "Apache-2.0"
    assert top["size_bytes"] > 0 and top["features_per_second"] > 0
    assert len(top["per_class_accuracy"]) == 3
    page = (out / "report.html").read_text()
    assert "accuracy_vs_speed.png" in page
    assert "Per-class accuracy" in page
    assert shlex.quote(workdir.colour) in page or workdir.colour in page
    assert "imagehub retrain" in page
    assert (out / "accuracy_vs_speed.png").stat().st_size > 1000


def test_pareto_front_marks_the_winner_when_it_is_most_accurate(ranked):
    result, _ = ranked
    assert result.scores[0].on_front


def test_retrain_reads_the_cached_features_when_run_as_printed(
    ranked, workdir, tmp_path
):
    result, _ = ranked
    assert result.reuses_cache
    winner = result.scores[0]
    assert winner.computed, "compare should have computed the features"
    argv = shlex.split(result.retrain_command)
    assert argv[:2] == ["imagehub", "retrain"]
    config = retrain.parse_flags(argv[2:]).replace(
        saved_model_dir=str(tmp_path / "model"), train_epochs=1
    )
    events = []
    retrain.make_image_classifier(config, progress=events.append)
    passes = [e for e in events if e.stage == "features"]
    assert passes == [], (
        f"retrain computed features again ({len(passes)} feature events); "
        "expected it to read compare's cache"
    )


def test_second_compare_reads_the_cache_when_run_again(ranked, workdir):
    again = compare.compare(
        workdir.images,
        [workdir.colour],
        cache_dir=workdir.root / "out_cache",
    )
    assert not again.scores[0].computed
    first = _score(ranked[0], workdir.colour)
    assert np.array_equal(
        again.scores[0].probe.predictions, first.probe.predictions
    )


def test_undecodable_image_drops_out_for_every_model_when_present(ranked):
    result, _ = ranked
    assert len(result.paths) == 60, len(result.paths)
    assert not any(p.endswith("truncated.jpg") for p in result.paths)
    for s in result.scores:
        if s.ok:
            assert len(s.probe.predictions) == 60


def test_compare_names_image_dir_when_it_has_one_class(tmp_path):
    from imagehub import testing

    testing.write_image_folder(tmp_path / "one", num_classes=1, per_class=2)
    with pytest.raises(compare.CompareError) as caught:
        compare.compare(tmp_path / "one", ["never_loaded_model"])
    message = str(caught.value)
    assert message.startswith("--image_dir: "), message
    assert "found 1 class folders" in message, message
