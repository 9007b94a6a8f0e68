import subprocess
import sys

from imagehub.testing import run_cli


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from imagehub.cli import build_parser; build_parser(); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "building the CLI imported TF"


def test_help_lists_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "export" in result.stdout, result.stdout


def test_import_without_tensorflow_names_pip_command():
    code = "import sys; sys.modules['tensorflow'] = None; import imagehub"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "pip install 'imagehub[cpu]'" in out.stderr


def test_functions_named_like_subpackages_stay_callable_after_import():
    import imagehub
    import imagehub.check  # noqa: F401  (sets the attribute to the module)
    import imagehub.embed  # noqa: F401
    from imagehub.check import check
    from imagehub.embed import embed

    assert callable(imagehub.check) and callable(imagehub.embed)
    assert imagehub.check.check is check and imagehub.embed.embed is embed
    # Calling the module forwards to the function of the same name.
    report = imagehub.check("/nonexistent/model")
    assert type(report) is type(check("/nonexistent/model"))
    assert not report.conforming


def test_subpackage_attributes_survive_calling_the_function_first():
    code = (
        "import imagehub; imagehub.check('/nonexistent'); "
        "import imagehub.check; print(imagehub.check.scan.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("scan"), out.stdout


def test_callable_subpackages_show_the_function_signature_when_inspected():
    import inspect

    import imagehub

    embed_args = inspect.signature(imagehub.embed).parameters
    check_args = inspect.signature(imagehub.check).parameters
    assert {"runner", "beam_options"} <= set(embed_args), (
        f"imagehub.embed's signature should be embed's, got {embed_args}"
    )
    assert "trust" in check_args, (
        f"imagehub.check's signature should be check's, got {check_args}"
    )
