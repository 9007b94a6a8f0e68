"""Import behaviour of `imagehub.keras`."""

import os
import subprocess
import sys

import imagehub


def test_import_subpackage_does_not_import_keras_when_unused():
    code = (
        "import sys, imagehub.keras; "
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    # Run this checkout's package, not whatever the venv has installed.
    root = os.path.dirname(os.path.dirname(os.path.abspath(imagehub.__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"], (
        f"importing imagehub.keras imported keras/tensorflow: {out.stdout}"
    )


def test_public_name_is_the_subpackage_class_when_imported():
    import imagehub.keras

    assert imagehub.KerasLayer is imagehub.keras.KerasLayer
    assert imagehub.keras.__all__ == ["KerasLayer"]
