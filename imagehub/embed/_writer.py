"""Streaming, resumable, atomic output of `embed`.

Rows are buffered up to `part_size` and written as Parquet parts
`OUT.parts/part-00000.parquet`, ... (each through `imagehub.outputs`: a
temporary sibling, then a rename), with the files that failed in a
`part-00000.errors.csv` beside each part. A rerun reads the paths of the
finished parts and skips them; a part cut short by a crash never reaches its
final name, so it is simply redone. At the end the parts are merged, one at a
time, into OUT (Parquet, or `.npy` with the paths in `OUT.paths.txt`),
`OUT.errors.csv` (only when a file failed) and the run's settings
`OUT.config.json`, each written atomically, and the parts are removed.

An existing OUT is resumed (its rows kept, new images added) only when its
`OUT.config.json` records the same settings (`RESUME_KEYS`); otherwise it is
refused with `imagehub.outputs.OutputExistsError` unless `overwrite`, which
starts over and replaces OUT when the new run completes.

Memory is bounded by construction: the writer holds at most one part's rows.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
import shutil
from collections.abc import Iterable
from collections.abc import Sequence

import numpy as np

from imagehub import outputs
from imagehub.embed._defaults import DEFAULTS

logger = logging.getLogger(__name__)

FORMATS = (".parquet", ".npy")
_PART_GLOB = "part-*.parquet"
_META = "config.json"
# Settings a resumed run must share with the run it continues.
RESUME_KEYS = (
    "model",
    "num_outputs",
    "with_logits",
    "image_size",
    "resize",
    "precision",
)
# Settings recorded only when not the default: absent means this value.
IMPLIED = {"precision": "float32"}


def output_stem(output: str) -> str:
    """OUT of OUT.parquet / OUT.npy; raises ValueError for other suffixes."""
    stem, suffix = os.path.splitext(output)
    if suffix.lower() not in FORMATS:
        raise ValueError(
            f"Unsupported output {output!r}; expected a name ending in one "
            f"of {FORMATS}"
        )
    return stem


def errors_path(output: str) -> str:
    """Where the errors file of `output` goes: OUT.errors.csv."""
    return output_stem(output) + ".errors.csv"


def paths_path(output: str) -> str:
    """Where the paths of a `.npy` output go: OUT.paths.txt."""
    return output_stem(output) + ".paths.txt"


def config_path(output: str) -> str:
    """Where the settings of `output`'s run go: OUT.config.json."""
    return output_stem(output) + ".config.json"


def parts_dir(output: str) -> str:
    return output_stem(output) + ".parts"


def arrow_schema(with_logits: bool):  # -> pa.Schema
    """path string, vector list<float32>, [logits list<float32>]."""
    import pyarrow as pa

    fields = [
        pa.field("path", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32()), nullable=False),
    ]
    if with_logits:
        fields.append(pa.field("logits", pa.list_(pa.float32())))
    return pa.schema(fields)


def _list_array(rows: np.ndarray):  # -> pa.ListArray
    import pyarrow as pa

    rows = np.ascontiguousarray(rows, np.float32)
    n, dim = rows.shape
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(rows.reshape(-1)))


def to_table(paths: Sequence[str], vectors: np.ndarray, with_logits: bool):
    """Builds the Arrow table of a part (a classifier's vector = logits)."""
    import pyarrow as pa

    columns = [pa.array(list(paths), pa.string()), _list_array(vectors)]
    if with_logits:
        columns.append(columns[1])
    return pa.Table.from_arrays(columns, schema=arrow_schema(with_logits))


def write_errors_csv(path: str, errors: Iterable[tuple[str, str]]) -> None:
    """Writes a `path,reason` CSV atomically (replacing an older one)."""
    with outputs.atomic_file(path, overwrite=True) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "reason"])
            writer.writerows(errors)


def read_errors_csv(path: str) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return [(r[0], r[1]) for r in rows[1:] if len(r) >= 2]


class PartWriter:
    """Writes `embed` rows to OUT in atomic parts; resumes where it stopped.

    Args:
        output: OUT.parquet or OUT.npy.
        num_outputs: Length of each vector.
        with_logits: Also write a `logits` column (classifiers).
        part_size: Rows per part: the most the writer holds in memory.
        config: The run's settings (model, image_size, resize, ...), saved
            as OUT.config.json; resuming with other `RESUME_KEYS` values is
            refused, so one output never mixes two models.
        overwrite: Start over: discard unfinished parts and replace an
            existing OUT (when this run completes) instead of resuming it.

    Raises:
        imagehub.outputs.OutputExistsError: (from `done_paths` or the first
            `flush`) OUT exists with other settings, or without the
            OUT.config.json that would allow resuming it, and `overwrite`
            is False.
    """

    def __init__(
        self,
        output: str | os.PathLike[str],
        num_outputs: int,
        with_logits: bool,
        part_size: int = DEFAULTS.part_size,
        config: dict | None = None,
        overwrite: bool = False,
    ):
        self.output = os.fspath(output)
        self.overwrite = overwrite
        self.format = os.path.splitext(self.output)[1].lower()
        self.parts = parts_dir(self.output)
        output_stem(self.output)  # validates the suffix
        os.makedirs(
            os.path.dirname(os.path.abspath(self.output)), exist_ok=True
        )
        if part_size < 1:
            raise ValueError(f"part_size must be positive, got {part_size}")
        self.num_outputs = num_outputs
        self.with_logits = with_logits
        self.part_size = part_size
        self.config = {
            **(config or {}),
            "num_outputs": num_outputs,
            "with_logits": with_logits,
        }
        self._paths: list[str] = []
        self._vectors: list[np.ndarray] = []
        self._errors: list[tuple[str, str]] = []
        self._next_part = 0
        self._started = False
        self._import_pending = False
        self.peak_buffered_rows = 0
        self.parts_written = 0

    # -- resuming ---------------------------------------------------------

    def _finished_parts(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.parts, _PART_GLOB)))

    def _check_config(self, path: str, what: str) -> None:
        """Refuses to resume `what` (OUT or its parts) when made with
        another model or options, or when nothing says how it was made."""
        if not os.path.isfile(path):
            raise outputs.OutputExistsError(
                self.output,
                f"{what} has no {os.path.basename(path)} recording the "
                "settings it was made with, so it cannot be resumed",
            )
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        for key in RESUME_KEYS:
            if key == "model" and not (old.get(key) and self.config.get(key)):
                continue  # a loaded object has no handle to compare
            if key not in old and key not in IMPLIED:
                continue
            before = old.get(key, IMPLIED.get(key))
            now = self.config.get(key, IMPLIED.get(key))
            if before != now:
                raise outputs.OutputExistsError(
                    self.output,
                    f"{what} was made with {key}={before!r}, this run has "
                    f"{now!r}; the same settings resume it",
                )

    def _write_config(self, path: str) -> None:
        with outputs.atomic_file(path, overwrite=True) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.config, f, indent=2)
                f.write("\n")

    def _import_finished_output(self) -> None:
        """Turns a finished OUT (and its errors) into part 0 of a new run."""
        staging = outputs.temp_sibling(self.parts, directory=True)
        try:
            part = os.path.join(staging, "part-00000.parquet")
            if self.format == ".parquet":
                shutil.copyfile(self.output, part)
            else:
                self._npy_to_part(part)
            errors = errors_path(self.output)
            if os.path.isfile(errors):
                shutil.copyfile(
                    errors, os.path.join(staging, "part-00000.errors.csv")
                )
            self._write_config(os.path.join(staging, _META))
            # Publishing the folder in one step: a crash leaves either no
            # parts folder (OUT is still the truth) or a complete one.
            outputs.commit(staging, self.parts)
        except BaseException:
            outputs.discard(staging)
            raise

    def _npy_to_part(self, part: str) -> None:
        import pyarrow.parquet as pq

        vectors = np.load(self.output, mmap_mode="r")
        with open(paths_path(self.output), encoding="utf-8") as f:
            paths = f.read().splitlines()
        if len(paths) != len(vectors):
            raise ValueError(
                f"{self.output} has {len(vectors)} rows but "
                f"{paths_path(self.output)} {len(paths)} paths; delete both "
                "to start over"
            )
        with pq.ParquetWriter(part, arrow_schema(self.with_logits)) as w:
            for start in range(0, len(paths), self.part_size):
                stop = start + self.part_size
                w.write_table(
                    to_table(
                        paths[start:stop],
                        np.asarray(vectors[start:stop]),
                        self.with_logits,
                    )
                )

    def done_paths(self) -> set[str]:
        """Paths already written (or failed) by earlier runs."""
        import pyarrow.parquet as pq

        self._started = True
        if self.overwrite:
            # Starting over; the old OUT stays until the new one replaces it.
            outputs.discard(self.parts)
            return set()
        if not os.path.isdir(self.parts):
            if not os.path.lexists(self.output):
                return set()
            self._check_config(config_path(self.output), "it")
            # A finished output: it becomes part 0 if anything is added.
            self._import_pending = True
            return self._finished_output_paths()
        self._check_config(
            os.path.join(self.parts, _META),
            f"its unfinished run in {self.parts}",
        )
        # Leftovers of a crash: temporary files (no other run writes here:
        # embed holds the output's lock), and errors files whose part was
        # never published.
        for tmp in glob.glob(os.path.join(self.parts, ".*")):
            outputs.discard(tmp)
        done: set[str] = set()
        numbers = []
        for part in self._finished_parts():
            table = pq.read_table(part, columns=["path"])
            done.update(table["path"].to_pylist())
            errors = part[: -len(".parquet")] + ".errors.csv"
            if os.path.isfile(errors):
                done.update(p for p, _ in read_errors_csv(errors))
            numbers.append(int(os.path.basename(part)[5:10]))
        for errors in glob.glob(os.path.join(self.parts, "part-*.errors.csv")):
            if not os.path.isfile(errors[: -len(".errors.csv")] + ".parquet"):
                outputs.discard(errors)
        self._next_part = max(numbers, default=-1) + 1
        return done

    def _finished_output_paths(self) -> set[str]:
        import pyarrow.parquet as pq

        if self.format == ".parquet":
            table = pq.read_table(self.output, columns=["path"])
            done = set(table["path"].to_pylist())
        else:
            with open(paths_path(self.output), encoding="utf-8") as f:
                done = set(f.read().splitlines())
        errors = errors_path(self.output)
        if os.path.isfile(errors):
            done.update(p for p, _ in read_errors_csv(errors))
        return done

    # -- writing ----------------------------------------------------------

    def add(self, paths: Sequence[str], vectors: np.ndarray) -> None:
        """Adds rows; writes a part each time `part_size` rows are held."""
        start = 0
        while start < len(paths):
            room = self.part_size - len(self._paths)
            stop = start + room
            self._paths.extend(paths[start:stop])
            self._vectors.append(np.asarray(vectors[start:stop], np.float32))
            self.peak_buffered_rows = max(
                self.peak_buffered_rows, len(self._paths)
            )
            start = stop
            if len(self._paths) >= self.part_size:
                self.flush()

    def annotate(self, **facts: object) -> None:
        """Adds facts measured during the run (int8's agreement) to the
        settings saved as OUT.config.json; they are not compared when a
        later run resumes OUT."""
        self.config.update(facts)

    def add_errors(self, errors: Sequence[tuple[str, str]]) -> None:
        """Records failed files; they are written with the next part."""
        self._errors.extend(errors)

    def flush(self) -> None:
        """Writes the held rows and errors as the next part (atomically)."""
        import pyarrow.parquet as pq

        if not self._paths and not self._errors:
            return
        if not self._started:
            self.done_paths()
        if self._import_pending:
            self._import_finished_output()
            self._import_pending = False
            self._next_part = 1
        if not os.path.isdir(self.parts):
            os.makedirs(self.parts)
            self._write_config(os.path.join(self.parts, _META))
        name = os.path.join(self.parts, f"part-{self._next_part:05d}")
        vectors = (
            np.concatenate(self._vectors)
            if self._vectors
            else np.zeros((0, self.num_outputs), np.float32)
        )
        table = to_table(self._paths, vectors, self.with_logits)
        if self._errors:
            write_errors_csv(name + ".errors.csv", self._errors)
        # The part's final name is what makes its rows count as done.
        with outputs.atomic_file(name + ".parquet") as tmp:
            pq.write_table(table, tmp)
        logger.debug("Wrote %s (%d rows)", name, len(self._paths))
        self._next_part += 1
        self.parts_written += 1
        self._paths, self._vectors, self._errors = [], [], []

    def close(self) -> tuple[int, int]:
        """Flushes, merges the parts into OUT, removes them.

        Returns:
            (rows, errors) in the finished output.
        """
        self.flush()
        if not os.path.isdir(self.parts):
            if os.path.isfile(self.output) and not self.overwrite:
                # Nothing was left to do: OUT is already complete.
                return self._count_finished()
            os.makedirs(self.parts)  # no images at all: an empty OUT
            self._write_config(os.path.join(self.parts, _META))
        parts = self._finished_parts()
        errors: list[tuple[str, str]] = []
        for part in parts:
            path = part[: -len(".parquet")] + ".errors.csv"
            if os.path.isfile(path):
                errors.extend(read_errors_csv(path))
        rows = (
            self._merge_parquet(parts)
            if self.format == ".parquet"
            else self._merge_npy(parts)
        )
        if errors:
            write_errors_csv(errors_path(self.output), errors)
        else:  # nothing failed: no errors file (an older one goes)
            outputs.discard(errors_path(self.output))
        self._write_config(config_path(self.output))
        shutil.rmtree(self.parts)
        return rows, len(errors)

    def _count_finished(self) -> tuple[int, int]:
        import pyarrow.parquet as pq

        if self.format == ".parquet":
            rows = pq.read_metadata(self.output).num_rows
        else:
            rows = len(np.load(self.output, mmap_mode="r"))
        errors = errors_path(self.output)
        count = len(read_errors_csv(errors)) if os.path.isfile(errors) else 0
        return rows, count

    def _merge_parquet(self, parts: list[str]) -> int:
        import pyarrow.parquet as pq

        rows = 0
        # done_paths checked OUT: resumed from, or replaced by overwrite.
        with outputs.atomic_file(self.output, overwrite=True) as tmp:
            with pq.ParquetWriter(tmp, arrow_schema(self.with_logits)) as w:
                for part in parts:
                    table = pq.read_table(part)
                    rows += table.num_rows
                    w.write_table(table)
        return rows

    def _merge_npy(self, parts: list[str]) -> int:
        import pyarrow.parquet as pq

        counts = [pq.read_metadata(p).num_rows for p in parts]
        rows = sum(counts)
        # Two files, the paths published first; the parts are removed
        # only after both, so a crash in between is merged again.
        with (
            outputs.atomic_file(self.output, overwrite=True) as tmp,
            outputs.atomic_file(
                paths_path(self.output), overwrite=True
            ) as tmp_paths,
        ):
            out = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.float32, shape=(rows, self.num_outputs)
            )
            start = 0
            with open(tmp_paths, "w", encoding="utf-8") as f:
                for part, count in zip(parts, counts, strict=True):
                    table = pq.read_table(part, columns=["path", "vector"])
                    values = table["vector"].combine_chunks().flatten()
                    out[start : start + count] = np.asarray(
                        values, np.float32
                    ).reshape(count, self.num_outputs)
                    start += count
                    for path in table["path"].to_pylist():
                        f.write(path + "\n")
            out.flush()
            del out
        return rows
