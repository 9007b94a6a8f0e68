"""Export (CLI) and classify read a labels file by the one rule of
`imagehub.spec.read_labels`: line N names class N, blank lines included."""

from __future__ import annotations

import imagehub
from imagehub import testing
from imagehub.cli import main
from imagehub.spec import read_card

SIZE = 8


def test_export_then_classify_agree_on_indices_with_blank_lines(
    tmp_path, capsys
):
    model = testing.tiny_keras_model(num_classes=4, image_size=SIZE, seed=3)
    source = str(tmp_path / "m.keras")
    model.save(source)
    labels = tmp_path / "labels.txt"
    # Line 2 is blank: class 1 has no name, and "cat" stays class 2.
    labels.write_text("ant\n\ncat\ndog\n\n", encoding="utf-8")
    out = str(tmp_path / "cls")

    code = main(
        ["export", "--task", "classification", "--keras_model", source]
        + ["--labels", str(labels), "--out", out]
    )
    assert code == 0, capsys.readouterr().err
    assert read_card(out).labels == ("ant", "", "cat", "dog")

    images = testing.write_flat_folder(str(tmp_path / "images"), 4, (12, 12))
    by_card = imagehub.classify(out, images, top_k=4)
    by_file = imagehub.classify(out, images, top_k=4, labels=str(labels))
    assert by_card == by_file, "the card and the file name other classes"
    names = {c["index"]: c["label"] for r in by_card for c in r["top_k"]}
    assert names == {0: "ant", 1: "", 2: "cat", 3: "dog"}
