"""Shared comparisons on a generated 3-class folder (cyan, magenta,
yellow: equal channel sums; plus one truncated JPEG) with a model that
sees colour, a colour-blind one, a second export of the colour model, a
classifier and a missing model; each comparison runs once per session."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import imagehub
from imagehub import testing


@dataclasses.dataclass(frozen=True)
class Workdir:
    root: Path
    images: Path
    colour: str
    blind: str
    twin: str
    classifier: str
    missing: str


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Workdir:
    root = tmp_path_factory.mktemp("compare")
    testing.write_image_folder(
        root / "images", num_classes=3, per_class=20, size=(16, 16)
    )
    # A truncated JPEG: its header reads, its pixels do not.
    good = (root / "images" / "class_0" / "0000.jpg").read_bytes()
    (root / "images" / "class_0" / "truncated.jpg").write_bytes(
        good[: len(good) // 2]
    )
    return Workdir(
        root=root,
        images=root / "images",
        colour=testing.write_colour_model(root / "colour"),
        blind=testing.write_colour_model(root / "blind", colour_blind=True),
        twin=testing.write_colour_model(root / "twin"),
        classifier=testing.write_tiny_model(
            root / "classifier", task="classification"
        ),
        missing=str(root / "no_such_model"),
    )


@pytest.fixture(scope="session")
def ranked(workdir):
    """colour vs colour-blind (plus a classifier and a missing model),
    written to <root>/out, with progress events kept."""
    events = []
    result = imagehub.compare(
        workdir.images,
        [workdir.blind, workdir.colour, workdir.classifier, workdir.missing],
        out=workdir.root / "out",
        progress=events.append,
    )
    return result, events


@pytest.fixture(scope="session")
def twins(workdir):
    """Two exports of the same colour model: nothing to tell apart."""
    return imagehub.compare(workdir.images, [workdir.colour, workdir.twin])
