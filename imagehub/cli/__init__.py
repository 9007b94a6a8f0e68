"""The `imagehub` command line: thin drivers over the library.

Each subcommand lives in `imagehub/cli/_<name>.py` with two functions:
`add_parser(subparsers)` (argument definitions only, no heavy imports) and
`run(args) -> int` (imports TensorFlow and friends, does the work, returns the
exit code). What several commands share is written once in `_args.py`: the
making of a command's parser from its help line and description, the flags
that several commands take (and the reading of them), and the turning of
the library's input errors into usage errors (exit code 2).
Building the parser imports no TensorFlow, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from collections.abc import Sequence

# Subcommand name -> module, in the order data flows.
COMMANDS = {
    "export": "imagehub.cli._export",
    "info": "imagehub.cli._info",
    "check": "imagehub.cli._check",
    "cache": "imagehub.cli._cache",
    "lock": "imagehub.cli._lock",
    "retrain": "imagehub.cli._retrain",
    "classify": "imagehub.cli._classify",
    "embed": "imagehub.cli._embed",
    "evaluate": "imagehub.cli._evaluate",
    "compare": "imagehub.cli._compare",
    "bench": "imagehub.cli._bench",
    "demo": "imagehub.cli._demo",
}


class UsageError(Exception):
    """A bad flag or argument: printed without a traceback, exit code 2."""


def parse_image_size_flag(
    text: str | None, flag: str = "--image_size"
) -> tuple[int, int] | None:
    """`imagehub.spec.parse_image_size` for a flag: raises `UsageError`."""
    from imagehub.spec import parse_image_size

    try:
        return parse_image_size(text, flag)
    except ValueError as e:
        raise UsageError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    from imagehub._version import __version__

    parser = argparse.ArgumentParser(
        prog="imagehub",
        description=(
            "Reusable image SavedModels for TensorFlow 2 and Keras 3: "
            "export, check, load, retrain, classify and embed."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"imagehub {__version__}"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: imagehub's debug messages; -vv: every library's",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # not built yet
        module.add_parser(sub)
    return parser


def _command_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The innermost (sub)command parser that `args` went through."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = getattr(args, action.dest, None)
            sub = action.choices.get(chosen) if chosen else None
            if sub is not None:
                return _command_parser(sub, args)
    return parser


def _close_flags(name: str, flags: list[str]) -> list[str]:
    """Flags a mistyped `name` may have meant: a near spelling, or flags
    of which it is one underscore-separated part (--epochs ->
    --train_epochs)."""
    close = difflib.get_close_matches(name, flags, n=1, cutoff=0.8)
    if close:
        return close
    word = name[2:]
    return [
        flag
        for flag in flags
        if flag.startswith("--") and word in flag[2:].split("_")
    ][:3]


def _unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """argparse's message, plus the closest existing flag for a typo."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    flags = [o for a in parser._actions for o in a.option_strings]
    for extra in extras:
        if re.fullmatch(r"-v+|--verbose", extra):
            message += " (-v goes before the command: imagehub -v COMMAND ...)"
            break
        if extra.startswith("--"):
            close = _close_flags(extra.split("=", 1)[0], flags)
            if close:
                message += f" (did you mean {' or '.join(close)}?)"
                break
    return message


def _setup_logging(verbosity: int) -> None:
    """Logging through the CLI's console at `verbosity` (see _console)."""
    from imagehub.cli._console import setup_logging

    setup_logging(int(verbosity))


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the process exit code."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # argparse would blame the top-level parser and show its usage;
        # the subcommand's usage lists the flags that do exist.
        command_parser = _command_parser(parser, args)
        command_parser.error(_unrecognized(command_parser, extras))
    if not args.command:
        if not (sys.argv[1:] if argv is None else argv):
            parser.print_help()
            return 2
        parser.error(
            "a command is needed after the options, e.g. imagehub -v check "
            "MODEL; commands: " + ", ".join(COMMANDS)
        )
    _setup_logging(args.verbose)
    if args.verbose < 2:
        from imagehub.cli._quiet_import import quiet_tensorflow_import

        quiet_tensorflow_import()
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return int(module.run(args) or 0)
    except UsageError as e:
        print(f"imagehub {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# The demo's photos, for bench/demo.py (which reruns the demo's
# retraining over many seeds): name -> name in _demo.
_DEMO_NAMES = {"DEMO_FLOWERS": "FLOWERS"}


def __getattr__(name: str) -> object:
    if name in _DEMO_NAMES:
        demo = importlib.import_module("imagehub.cli._demo")
        return getattr(demo, _DEMO_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
