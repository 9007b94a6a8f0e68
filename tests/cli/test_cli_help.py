"""The command line as a new user meets it: --help texts and bad flags.

All but one test build the parser in this process (no TensorFlow import);
the last runs `imagehub check` in a subprocess to see what a user sees.
"""

import argparse

import pytest

from imagehub.cli import build_parser
from imagehub.cli import main
from imagehub.testing import run_cli
from imagehub.testing import write_tiny_model


def _command_parsers():
    """(name, parser) of every command and sub-action (`cache list`)."""
    todo = [("imagehub", build_parser())]
    while todo:
        name, parser = todo.pop()
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    todo.append((f"{name} {sub_name}", sub))


def _options(parser):
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        yield action


def test_help_shows_default_of_every_option_when_it_has_one():
    missing = []
    for name, parser in _command_parsers():
        for action in _options(parser):
            has_default = action.default not in (None, False, [], "")
            if has_default and "default" not in (action.help or ""):
                missing.append(f"{name} {action.option_strings[0]}")
    assert not missing, f"--help does not show the default of {missing}"


def test_help_explains_every_option_when_listed():
    bare = [
        f"{name} {action.option_strings[0]}"
        for name, parser in _command_parsers()
        for action in _options(parser)
        if not action.help
    ]
    assert not bare, f"options without a help text: {bare}"


def test_help_states_each_default_once_when_the_text_explains_it():
    twice = [
        f"{name} {action.option_strings[0]}: {action.help}"
        for name, parser in _command_parsers()
        for action in _options(parser)
        if (action.help or "").count("(default:") > 1
    ]
    assert not twice, "default given twice:\n" + "\n".join(twice)


def _flag(command, flag):
    """What a user sees of `imagehub COMMAND FLAG`, or None without it."""
    parser = dict(_command_parsers())[f"imagehub {command}"]
    for action in _options(parser):
        if flag in action.option_strings:
            return (
                action.default,
                action.type,
                action.choices,
                action.metavar,
                action.required,
                action.help,
            )
    return None


@pytest.mark.parametrize(
    "flag, commands",
    [
        ("--model", ("classify", "embed", "evaluate")),
        ("--batch_size", ("classify", "embed", "evaluate")),
        ("--image_size", ("classify", "embed", "evaluate")),
        ("--resize", ("classify", "embed", "evaluate")),
        ("--labels", ("classify", "evaluate")),
        ("--engine", ("classify", "embed")),
        ("--no_progress", ("classify", "embed")),
        ("--overwrite", ("embed", "compare", "demo", "export")),
    ],
)
def test_shared_flag_reads_alike_when_several_commands_take_it(flag, commands):
    seen = {command: _flag(command, flag) for command in commands}
    assert None not in seen.values(), f"{flag} missing from some of {seen}"
    if flag == "--overwrite":  # each names what it replaces
        seen = {
            c: (*s[:-1], s[-1].split(" if it exists")[1])
            for c, s in seen.items()
        }
    assert len(set(map(repr, seen.values()))) == 1, (
        f"{flag} differs between commands: {seen}"
    )


def test_description_keeps_its_line_breaks_when_it_shows_an_example():
    parser = dict(_command_parsers())["imagehub lock"]
    lines = parser.format_help().splitlines()
    assert "  imagehub lock \\" in lines, (
        "the example of `imagehub lock --help` is not on lines of its own:\n"
        + "\n".join(lines)
    )


def test_unknown_flag_error_names_the_command_when_misspelled(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", "--model", "m", "--topk", "3", "photo.jpg"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "usage: imagehub classify" in err, err
    assert "imagehub classify: error: unrecognized arguments: --topk" in err
    assert "did you mean --top_k?" in err, err


def test_unknown_flag_error_names_the_sub_action_when_nested(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cache", "list", "--bogus"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "imagehub cache list: error: unrecognized arguments: --bogus" in (
        err
    ), err
    assert "did you mean" not in err, f"no flag is close to --bogus: {err}"


def test_verbose_after_the_command_says_where_it_goes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "some_model", "-v"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "-v goes before the command: imagehub -v COMMAND" in err, err


def test_check_output_has_no_tensorflow_save_chatter_when_not_verbose(
    tmp_path,
):
    path = write_tiny_model(str(tmp_path / "tiny"))
    proc = run_cli("check", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # R9 re-saves the model into a temporary folder; TensorFlow logs that
    # at INFO, which is noise (and a temp path) to a user.
    assert "Assets written to" not in proc.stderr, proc.stderr
