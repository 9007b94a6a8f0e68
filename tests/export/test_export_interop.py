"""Today's consumers: tensorflow_hub.load and hub.KerasLayer under tf_keras.

They run in a subprocess with TF_USE_LEGACY_KERAS=1, as their users do.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from imagehub.export import export_feature_vector
from imagehub.testing import tiny_keras_model

SIZE = 16

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    import tf_keras

    path, x_path = sys.argv[1:3]
    x = np.load(x_path)
    out = {"load": hub.load(path)(x).numpy().tolist()}
    layer = hub.KerasLayer(path, trainable=True)
    model = tf_keras.Sequential(
        [tf_keras.Input(x.shape[1:]), layer, tf_keras.layers.Dense(2)]
    )
    out["layer"] = layer(x).numpy().tolist()
    out["losses"] = [float(v) for v in model.losses]
    out["num_trainable"] = len(layer.trainable_weights)
    out["num_weights"] = len(layer.weights)
    before = [v.numpy().copy() for v in layer.trainable_weights]
    model.compile(
        optimizer=tf_keras.optimizers.SGD(0.5),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, batch_size=4, verbose=0)
    out["changed"] = max(
        float(np.abs(v.numpy() - b).max())
        for v, b in zip(layer.trainable_weights, before)
    )
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("interop")
    path = str(root / "model")
    export_feature_vector(tiny_keras_model(seed=7), path, image_size=SIZE)
    x = np.random.default_rng(0).random((4, SIZE, SIZE, 3), np.float32)
    np.save(root / "x.npy", x)
    return path, x, str(root / "x.npy")


@pytest.fixture(scope="module")
def hub_result(exported):
    path, _, x_path = exported
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, path, x_path],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = [s for s in result.stdout.splitlines() if s.startswith("RESULT ")]
    assert line, result.stdout + result.stderr[-3000:]
    return json.loads(line[-1][len("RESULT ") :])


def test_hub_load_and_keras_layer_give_same_features(exported, hub_result):
    path, x, _ = exported
    want = tf.saved_model.load(path)(x).numpy()
    np.testing.assert_allclose(np.array(hub_result["load"]), want, atol=1e-5)
    np.testing.assert_allclose(np.array(hub_result["layer"]), want, atol=1e-5)


def test_hub_keras_layer_fine_tunes_with_regularization(hub_result):
    # conv1 carries an L2 regularizer; the layer must pick it up (K3).
    assert len(hub_result["losses"]) == 1, hub_result["losses"]
    assert hub_result["losses"][0] > 0
    assert hub_result["num_trainable"] == 6, hub_result
    assert hub_result["num_weights"] > hub_result["num_trainable"]
    assert hub_result["changed"] > 1e-6, "one training step changed nothing"
