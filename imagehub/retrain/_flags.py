"""Command-line flags of `imagehub retrain`, generated from `RetrainConfig`.

Flags keep make_image_classifier's absl spelling, so old command lines run
unchanged: ``--name value`` and ``--name=value`` for every flag, and for
booleans also ``--name``, ``--noname`` and ``--name=true|false``.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import field_help

_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")
# Extra spellings of a flag: alias -> field name.
ALIASES = {"model": "tfhub_module"}


def parse_bool(text: str) -> bool:
    """Parses an absl-style boolean flag value."""
    lowered = str(text).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(
        f"invalid boolean value {text!r}; expected true or false"
    )


def _base_type(annotation: Any) -> type:
    """The non-None type of a field annotation such as ``int | None``."""
    hints = {
        "bool": bool,
        "int": int,
        "float": float,
        "str": str,
    }
    text = annotation if isinstance(annotation, str) else str(annotation)
    first = text.replace("typing.", "").split("|")[0].strip()
    return hints.get(first, str)


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per `RetrainConfig` field (defaults from it)."""
    old = parser.add_argument_group("make_image_classifier flags")
    new = parser.add_argument_group("imagehub additions")
    helps = field_help()
    for f in dataclasses.fields(RetrainConfig):
        group = old if f.metadata["old"] else new
        kind = _base_type(f.type)
        aliases = [a for a, target in ALIASES.items() if target == f.name]
        names = [f"--{f.name}"] + [f"--{a}" for a in aliases]
        help_text = helps[f.name]
        # Some help texts say what the default means (None stands for
        # "decided at run time"); do not print a second, bare default.
        explained = "(default:" in help_text
        if kind is bool:
            default_text = (
                "auto" if f.default is None else str(f.default).lower()
            )
            group.add_argument(
                *names,
                dest=f.name,
                nargs="?",
                const=True,
                default=f.default,
                type=parse_bool,
                metavar="true|false",
                help=(
                    f"{help_text} (--no{f.name} turns it off)"
                    if explained
                    else f"{help_text} (default: {default_text}; "
                    f"--no{f.name} turns it off)"
                ),
            )
            group.add_argument(
                f"--no{f.name}",
                dest=f.name,
                action="store_false",
                help=argparse.SUPPRESS,
            )
            continue
        choices = f.metadata.get("choices")
        group.add_argument(
            *names,
            dest=f.name,
            type=kind,
            default=f.default,
            choices=choices,
            metavar=None if choices else f.name.upper(),
            help=(
                help_text
                if explained
                else f"{help_text} (default: {f.default!r})"
            ),
        )


def config_from_args(args: argparse.Namespace) -> RetrainConfig:
    """Builds the config from parsed flags.

    Raises:
        ValueError: A value is out of range (the message names the flag).
    """
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(RetrainConfig)
        if hasattr(args, f.name)
    }
    return RetrainConfig(**values)


def parse_flags(argv: list[str]) -> RetrainConfig:
    """Parses a make_image_classifier-style command line into a config."""
    parser = argparse.ArgumentParser(prog="imagehub retrain")
    add_flags(parser)
    return config_from_args(parser.parse_args(argv))
