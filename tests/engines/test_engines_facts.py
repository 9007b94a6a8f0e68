"""The engines ask `hub.resolve_facts` for a model's size and task, so a
model without a card compiles and benchmarks at the size its traces fix,
as `embed` with TensorFlow runs it."""

from __future__ import annotations

import pytest

from imagehub import engines
from imagehub import hub
from imagehub.cli import main

SIZE = (12, 14)


@pytest.fixture(scope="module")
def cardless_fixed(tmp_path_factory) -> str:
    """A card-less SavedModel whose only `__call__` trace is 12x14: a
    3x3 conv to 4 channels, averaged (4 features)."""
    import tensorflow as tf

    module = tf.Module()
    kernel = tf.random.stateless_normal([3, 3, 3, 4], seed=(1, 2))
    module.kernel = tf.Variable(kernel)

    @tf.function(input_signature=[tf.TensorSpec([None, *SIZE, 3], tf.float32)])
    def call(images):
        x = tf.nn.conv2d(images, module.kernel, 1, "SAME")
        return tf.reduce_mean(tf.nn.relu(x), axis=[1, 2])

    module.__call__ = call
    path = str(tmp_path_factory.mktemp("cardless") / "fixed")
    tf.saved_model.save(module, path)
    return path


def test_cardless_fixed_model_has_its_traced_size(cardless_fixed):
    facts = hub.resolve_facts(cardless_fixed)
    assert (facts.image_size, facts.size_source) == (SIZE, "traces")


def test_compile_cardless_model_uses_its_traced_size(cardless_fixed):
    compiled = engines.compile_model(cardless_fixed, "litert")
    assert compiled.info.image_size == SIZE, (
        f"expected the traced size {SIZE}, got {compiled.info.image_size}"
    )
    cached = engines.load_compiled(cardless_fixed, "litert")
    assert cached is not None and cached.info.image_size == SIZE


def test_bench_cardless_model_runs_at_its_traced_size(cardless_fixed, capsys):
    code = main(
        [
            "bench",
            cardless_fixed,
            "--engines",
            "litert",
            "--batch_size",
            "2",
            "--rounds",
            "1",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, f"expected exit 0, got {code}: {captured.err}"
    import json

    result = json.loads(captured.out)
    assert tuple(result["image_size"]) == SIZE
    rows = {row["engine"]: row for row in result["rows"]}
    assert rows["litert"]["refused"] is None, rows["litert"]
