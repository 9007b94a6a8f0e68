"""`imagehub info PATH`: the model card and the serving signatures."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING
from typing import Any

from imagehub.cli import UsageError
from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_json_argument

if TYPE_CHECKING:
    from imagehub.spec import ModelCard

HELP = "show a SavedModel's model card and signatures"
DESCRIPTION = """\
Print the model card (assets/imagehub.json) and the serving signatures with
their input and output specs.
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "info", HELP, DESCRIPTION)
    p.add_argument("path", help="a SavedModel directory")
    add_json_argument(p, "print JSON")
    p.set_defaults(command="info")


def _tensor_info(info: Any) -> dict[str, Any]:
    from tensorflow.python.framework import dtypes

    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = [
            None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim
        ]
    return {"dtype": dtypes.as_dtype(info.dtype).name, "shape": shape}


def read_signatures(path: str) -> dict[str, Any]:
    """Signatures of a SavedModel from its saved_model.pb, without loading
    variables: {name: {"inputs": {...}, "outputs": {...}}}."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    out: dict[str, Any] = {}
    for meta in proto.meta_graphs:
        for name, sig in sorted(meta.signature_def.items()):
            if name.startswith("__"):
                continue  # internal (e.g. __saved_model_init_op)
            out[name] = {
                "inputs": {
                    k: _tensor_info(v) for k, v in sorted(sig.inputs.items())
                },
                "outputs": {
                    k: _tensor_info(v) for k, v in sorted(sig.outputs.items())
                },
            }
    return out


def _spec_text(spec: dict[str, Any]) -> str:
    shape = spec["shape"]
    dims = (
        "?"
        if shape is None
        else ", ".join("None" if d is None else str(d) for d in shape)
    )
    return f"{spec['dtype']} [{dims}]"


def _print_text(
    path: str, card: ModelCard | None, signatures: dict[str, Any]
) -> None:
    print(f"SavedModel: {path}")
    if card is None:
        print("Model card: none (not exported by imagehub)")
    else:
        print("Model card:")
        data = card.to_dict()
        for key in ("format", "format_version"):
            data.pop(key, None)
        labels = data.get("labels")
        if labels and len(labels) > 10:
            data["labels"] = [*labels[:10], f"... ({len(labels)} in all)"]
        for key, value in data.items():
            if isinstance(value, dict):
                print(f"  {key}:")
                for k, v in value.items():
                    print(f"    {k}: {json.dumps(v)}")
            else:
                print(f"  {key}: {json.dumps(value)}")
    print("Signatures:")
    if not signatures:
        print("  none")
    for name, sig in signatures.items():
        print(f"  {name}:")
        for k, spec in sig["inputs"].items():
            print(f"    input  {k}: {_spec_text(spec)}")
        for k, spec in sig["outputs"].items():
            print(f"    output {k}: {_spec_text(spec)}")


def run(args: argparse.Namespace) -> int:
    path = args.path
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise UsageError(f"{path!r} is not a SavedModel directory")
    from imagehub.spec import read_card

    try:
        card = read_card(path)
    except ValueError as e:
        raise UsageError(str(e)) from e
    signatures = read_signatures(path)
    if args.json:
        print(
            json.dumps(
                {
                    "path": os.path.abspath(path),
                    "card": card.to_dict() if card else None,
                    "signatures": signatures,
                },
                indent=2,
            )
        )
    else:
        _print_text(path, card, signatures)
    return 0
