"""Each engine on a tiny real SavedModel: parity, refusal, the cache."""

from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pytest

from imagehub import engines
from imagehub import testing

from .conftest import FLOAT_ENGINES


def _images(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((count, 16, 16, 3), dtype=np.float32)


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_engine_matches_call_at_batch_sizes_1_7_32(tiny_model, engine):
    compiled = engines.compile_model(tiny_model, engine)
    reference = engines.compile_model(tiny_model, "tensorflow")
    assert compiled.info.max_relative_difference <= 1e-4
    for batch in (1, 7, 32, 7):
        images = _images(batch, seed=batch)
        got = compiled(images)
        want = reference(images)
        assert got.shape == (batch, 8), f"{engine}: shape at batch {batch}"
        difference = engines.relative_difference(got, want)
        assert difference <= 1e-4, (
            f"{engine} at batch {batch}: relative difference {difference}"
        )


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_parity_failure_refuses_with_the_message(tmp_path, engine):
    model = testing.write_tiny_model(tmp_path / "m", seed=2)
    # The engines differ from TensorFlow by ~1e-7 here; a tolerance below
    # that is a real difference the check must refuse.
    with pytest.raises(engines.ParityError) as error:
        engines.compile_model(model, engine, tolerance=1e-12)
    message = str(error.value)
    assert f"Engine {engine}" in message, message
    assert "differs from TensorFlow" in message, message
    assert "--engine tensorflow" in message, message
    assert "e-" in message.split("by ")[1][:12], "the difference is named"
    leftovers = [
        d
        for _, dirs, _ in os.walk(engines.engines_root())
        for d in dirs
        if d.startswith(".tmp-")
    ]
    assert not leftovers, f"a refused compilation leaves nothing: {leftovers}"
    assert engines.load_compiled(model, engine) is None, "nothing cached"


def test_cache_reuses_a_compiled_model(tmp_path, caplog):
    model = testing.write_tiny_model(tmp_path / "m", seed=3)
    first = engines.compile_model(model, "litert")
    assert not first.from_cache, "the first compilation compiles"
    artifact = os.path.join(first.path, "model.tflite")
    stamp = os.stat(artifact).st_mtime_ns
    # Only the second call's records: an earlier test may have left the
    # imagehub loggers at DEBUG, so the first compilation's are kept too.
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="imagehub.engines"):
        second = engines.compile_model(model, "litert")
    assert second.from_cache, "the second run reads the cache"
    assert second.path == first.path
    assert os.stat(artifact).st_mtime_ns == stamp, "not rewritten"
    messages = [r.getMessage() for r in caplog.records]
    assert any("read from the cache" in m for m in messages), messages
    assert not any("compiled " in m and "in " in m for m in messages), (
        f"nothing compiled the second time: {messages}"
    )


def test_cache_recompiles_when_the_saved_model_changes(tmp_path):
    path = str(tmp_path / "m")
    testing.write_tiny_model(path, seed=4)
    first = engines.compile_model(path, "openvino")
    shutil.rmtree(path)
    testing.write_tiny_model(path, seed=5)  # same path, new weights
    second = engines.compile_model(path, "openvino")
    assert not second.from_cache, "changed content is compiled again"
    assert second.path != first.path
    images = _images(4)
    want = engines.compile_model(path, "tensorflow")(images)
    assert engines.relative_difference(second(images), want) <= 1e-4
    assert engines.relative_difference(first(images), want) > 1e-3, (
        "the old compiled model is another model's"
    )


def test_load_compiled_is_none_before_compiling(tmp_path):
    model = testing.write_tiny_model(tmp_path / "m", seed=6)
    assert engines.load_compiled(model, "litert") is None
    engines.compile_model(model, "litert")
    cached = engines.load_compiled(model, "litert")
    assert cached is not None and cached.from_cache


def test_auto_measures_once_and_remembers(tmp_path):
    model = testing.write_tiny_model(tmp_path / "m", seed=7)
    compiled, choice = engines.choose_engine(
        model, image_size=(16, 16), batch_size=8, num_images=None
    )
    assert isinstance(compiled, engines.Race), "a first run races"
    assert choice.engine == "auto" and "take turns" in choice.reason, choice
    assert (
        engines.cached_choice(model, image_size=(16, 16), batch_size=8) is None
    )
    compiled.settle(_images(8))
    choice = engines.current_choice(compiled, choice)
    assert choice.engine in engines.ENGINES
    assert set(choice.images_per_second) == {"tensorflow", *FLOAT_ENGINES}
    assert all(v > 0 for v in choice.images_per_second.values())
    remembered = engines.cached_choice(model, image_size=(16, 16), batch_size=8)
    assert remembered is not None, "the choice is remembered"
    assert remembered[1].engine == choice.engine
    assert remembered[1].images_per_second == choice.images_per_second
    assert "measured" in remembered[1].reason


def test_auto_races_on_the_job_batches_and_runs_each_image_once(tmp_path):
    model = testing.write_tiny_model(tmp_path / "m", seed=12)
    reference = engines.compile_model(model, "tensorflow")
    race, _ = engines.choose_engine(
        model, image_size=(16, 16), batch_size=8, num_images=None
    )
    assert race.standings.compiling, (
        "the engines compile in the background: choose_engine returns first"
    )
    race.ready()  # then the turns below are known in advance
    assert not race.standings.compiling
    racers = 1 + len(FLOAT_ENGINES)  # tensorflow and the others
    rounds = engines.race_rounds(None, 8, racers)
    # A warm-up each, a short batch (run, not timed), then `rounds` timed
    # batches each; then two batches after the race.
    sizes = [8] * racers + [3] + [8] * (racers * rounds) + [8, 5]
    seen = 0
    for i, size in enumerate(sizes):
        images = _images(size, seed=100 + i)
        got = race(images)
        assert got.shape == (size, 8)
        difference = engines.relative_difference(got, reference(images))
        assert difference <= 1e-4, f"batch {i}: {difference}"
        standings = race.standings
        if standings.winner is None:
            seen += size
            assert standings.images == seen, "each batch runs once"
    standings = race.standings
    assert standings.winner is not None, "settled after the timed rounds"
    assert standings.images == sum(sizes[:-2]), (
        "after the race, the batches run on the winner alone"
    )
    assert set(standings.images_per_second) == {"tensorflow", *FLOAT_ENGINES}
    choice = engines.current_choice(race, None)
    assert choice.engine == standings.winner
    assert "timed on this job's first batches" in choice.reason


def test_auto_job_ending_before_the_race_settles_remembers_nothing(tmp_path):
    model = testing.write_tiny_model(tmp_path / "m", seed=13)
    race, _ = engines.choose_engine(
        model, image_size=(16, 16), batch_size=8, num_images=None
    )
    race(_images(8))  # tensorflow's warm-up
    choice = engines.current_choice(race, None)
    assert "ended before the race settled" in choice.reason, choice.reason
    assert choice.engine == "tensorflow", "the one engine that ran"
    assert (
        engines.cached_choice(model, image_size=(16, 16), batch_size=8) is None
    )


def test_race_rounds_keep_the_race_to_a_third_of_the_job():
    assert engines.race_rounds(None, 32, 2) == 5
    assert engines.race_rounds(1050, 32, 2) == 5  # 33 batches
    assert engines.race_rounds(1000, 256, 2) == 1  # 4 batches
    assert engines.race_rounds(640, 32, 2) == 3  # 20 batches


def _first_run_of_a_big_job(model):
    """`choose_engine` for a job of `AUTO_MIN_IMAGES` images, raced on
    batches of it until it settles: (race, choice)."""
    race, _ = engines.choose_engine(
        model,
        image_size=(16, 16),
        batch_size=8,
        num_images=engines.AUTO_MIN_IMAGES,
    )
    assert isinstance(race, engines.Race)
    race.settle(_images(8))
    return race, engines.current_choice(race, None)


def test_auto_first_run_skips_a_slow_conversion_when_the_job_is_short(
    tmp_path,
):
    model = testing.write_tiny_model(tmp_path / "m", seed=9)
    compiled, choice = _first_run_of_a_big_job(model)
    quick = [e for e in FLOAT_ENGINES if e not in engines.SLOW_TO_COMPILE]
    assert set(choice.images_per_second) == {"tensorflow", *quick}
    for engine in engines.SLOW_TO_COMPILE:
        assert choice.refused[engine].startswith("not compiled"), choice
        assert engines.load_compiled(model, engine) is None, engine
        assert engine in choice.reason, choice.reason
    remembered = engines.cached_choice(model, image_size=(16, 16), batch_size=8)
    assert remembered is not None and remembered[1].engine == choice.engine


def test_auto_first_run_measures_a_slow_engine_when_already_compiled(
    tmp_path,
):
    model = testing.write_tiny_model(tmp_path / "m", seed=10)
    for engine in engines.SLOW_TO_COMPILE:
        engines.compile_model(model, engine)
    _, choice = _first_run_of_a_big_job(model)
    assert set(choice.images_per_second) == {"tensorflow", *FLOAT_ENGINES}


def test_auto_first_run_compiles_a_slow_engine_when_the_job_pays_for_it(
    tmp_path, monkeypatch
):
    from imagehub.engines import _auto

    monkeypatch.setattr(_auto, "SLOW_COMPILE_PAYBACK_S", 0.0)
    model = testing.write_tiny_model(tmp_path / "m", seed=11)
    race, choice = _first_run_of_a_big_job(model)
    assert set(choice.images_per_second) == {"tensorflow", *FLOAT_ENGINES}
    assert race.racers[-len(engines.SLOW_TO_COMPILE) :] == tuple(
        engines.SLOW_TO_COMPILE
    ), "the slow engines joined the race late"
    assert not choice.refused, choice.refused


def test_auto_runs_tensorflow_for_a_small_job(tmp_path):
    model = testing.write_tiny_model(tmp_path / "m", seed=8)
    compiled, choice = engines.choose_engine(
        model, image_size=(16, 16), batch_size=8, num_images=10
    )
    assert choice.engine == "tensorflow" and compiled.engine == "tensorflow"
    assert "10 images" in choice.reason, choice.reason
    digest = engines.content_hash(model)
    model_root = os.path.join(engines.engines_root(), digest[:32])
    assert not os.path.exists(model_root), "nothing compiled for a small job"


def test_cache_clear_deletes_the_compiled_models(tmp_path, monkeypatch):
    from imagehub import hub

    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", str(tmp_path / "cache"))
    model = testing.write_tiny_model(tmp_path / "m", seed=6)
    compiled = engines.compile_model(model, "litert")
    assert compiled.path.startswith(hub.compiled_models_dir())
    done = testing.run_cli("cache", "clear", "--yes")
    assert done.returncode == 0, done.stderr
    said = "and the compiled engine models of 1 SavedModel(s) ("
    assert said in done.stdout, f"the summary should say {said!r}: {done}"
    assert not os.path.exists(hub.compiled_models_dir()), os.listdir(
        tmp_path / "cache"
    )
    assert engines.load_compiled(model, "litert") is None, "compiled again"
    assert os.listdir(tmp_path / "cache") == [], "nothing left behind"


def test_int8_given_other_calibration_images_is_compiled_again(tmp_path):
    model = testing.write_tiny_model(tmp_path / "m", seed=14)

    def int8(calibration, said):
        return engines.compile_model(
            model,
            "litert",
            precision="int8",
            calibration_images=calibration,
            calibrated_on=said,
            min_agreement=0.0,
        )

    first = int8(_images(20, seed=1), "set A")
    assert not first.from_cache and first.info.calibrated_on == "set A"
    same = int8(_images(20, seed=1), "set A again")
    assert same.from_cache, "the same calibration images reuse the cache"
    assert same.info.calibrated_on == "set A", "it says what it was made on"
    other = int8(_images(20, seed=2), "set B")
    assert not other.from_cache, "other calibration images compile anew"
    assert other.info.calibration_digest != first.info.calibration_digest
    cached = engines.load_compiled(model, "litert", precision="int8")
    assert cached is not None and cached.info.calibrated_on == "set B", (
        "the new calibration replaced the cache entry"
    )
    assert np.isfinite(cached(_images(3))).all()


def test_race_runs_the_job_while_engines_compile_and_times_only_after(
    tiny_model,
):
    from concurrent.futures import Future

    tensorflow = engines.compile_model(tiny_model, "tensorflow")
    openvino = engines.compile_model(tiny_model, "openvino")
    compiling: Future = Future()
    failing: Future = Future()
    told = []
    race = engines.Race(
        {"tensorflow": tensorflow},
        entries={"openvino": compiling, "litert": failing},
        info=tensorflow.info,
        batch_size=8,
        rounds=2,
        settled=told.append,
    )
    for seed in range(4):  # the job goes on while they compile
        images = _images(8, seed)
        assert (
            engines.relative_difference(race(images), tensorflow(images))
            <= 1e-4
        )
    standings = race.standings
    assert standings.images == 32 and standings.winner is None
    assert not standings.images_per_second, (
        "batches beside a compilation share the cores: not timed"
    )
    assert set(standings.compiling) == {"openvino", "litert"}
    compiling.set_result(openvino)
    failing.set_exception(engines.EngineError("cannot convert this"))
    for seed in range(4, 10):
        race(_images(8, seed))
        if race.standings.winner:
            break
    assert race.refused == {"litert": "cannot convert this"}
    assert race.racers == ("tensorflow", "openvino")
    assert len(told) == 1 and told[0].winner in ("tensorflow", "openvino")
    assert set(told[0].images_per_second) == {"tensorflow", "openvino"}


def test_openvino_keeps_its_compiled_blob_and_survives_a_damaged_one(
    tmp_path,
):
    model = testing.write_tiny_model(tmp_path / "m", seed=15)
    compiled = engines.compile_model(model, "openvino")
    blobs = os.listdir(os.path.join(compiled.path, "blob"))
    assert blobs, "the CPU plugin's compiled model is kept in the entry"
    images = _images(5)
    want = engines.compile_model(model, "tensorflow")(images)
    with open(os.path.join(compiled.path, "blob", blobs[0]), "wb") as f:
        f.write(b"not a blob" * 50)
    again = engines.load_compiled(model, "openvino")
    assert again is not None
    difference = engines.relative_difference(again(images), want)
    assert difference <= 1e-4, f"a damaged blob gave {difference}"


def test_race_waits_at_half_the_job_for_engines_still_compiling(tiny_model):
    import threading
    from concurrent.futures import Future

    tensorflow = engines.compile_model(tiny_model, "tensorflow")
    openvino = engines.compile_model(tiny_model, "openvino")
    compiling: Future = Future()
    told = []
    race = engines.Race(
        {"tensorflow": tensorflow},
        entries={"openvino": compiling},
        info=tensorflow.info,
        batch_size=8,
        rounds=1,
        settled=told.append,
        num_batches=8,
    )
    for seed in range(4):  # half the job on TensorFlow, untimed
        race(_images(8, seed))
    assert race.standings.compiling == ("openvino",)
    # Compiles later than the job would take: the race waits for it.
    threading.Timer(0.3, compiling.set_result, [openvino]).start()
    for seed in range(4, 8):
        race(_images(8, seed))
    assert told, "the race settled before the job ended"
    assert set(told[0].images_per_second) == {"tensorflow", "openvino"}
