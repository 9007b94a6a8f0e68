"""Per-epoch checkpoints of a retraining run, and resuming from them.

A checkpoint is the values of the model's variables (including the dropout
RNG state) and of the optimizer's (momentum, step count), plus the run's
state (epoch, history, early-stopping counters) and a fingerprint of the
run's setup, so `--resume` refuses a checkpoint written by a different run.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
from typing import Any

import numpy as np

from imagehub import outputs

logger = logging.getLogger(__name__)

STATE_FILE = "checkpoint.json"


def has_checkpoint(directory: str) -> bool:
    """Whether `directory` holds a checkpoint."""
    return os.path.isfile(os.path.join(directory, STATE_FILE))


def remove_checkpoint(directory: str) -> None:
    """Deletes the checkpoint in `directory` (not the cached features)."""
    for path in glob.glob(os.path.join(directory, "ckpt-*.npz")):
        outputs.discard(path)
    outputs.discard(os.path.join(directory, STATE_FILE))


def stored_seed(directory: str | None) -> int | None:
    """The seed saved with the last checkpoint in `directory`, or None
    when there is no readable one."""
    if not directory:
        return None
    try:
        with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as f:
            return int(json.load(f)["state"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class CheckpointMismatchError(ValueError):
    """The checkpoint to resume from was written by a different setup."""


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        epoch: Number of epochs completed.
        model_values: Values of the saved model variables, in order.
        optimizer_values: Values of the optimizer variables, in order.
        state: The run's JSON state (history, early stopping, seed).
        best_values: Model values of the best epoch so far (early
            stopping), or None.
    """

    epoch: int
    model_values: list[np.ndarray]
    optimizer_values: list[np.ndarray]
    state: dict[str, Any]
    best_values: list[np.ndarray] | None = None


class Checkpointer:
    """Writes and reads the checkpoints of one run in `directory`.

    Args:
        directory: Folder of the checkpoint files.
        fingerprint: JSON-able description of the setup; a checkpoint
            resumes only a run with an equal fingerprint.
    """

    def __init__(
        self, directory: str | os.PathLike[str], fingerprint: dict[str, Any]
    ):
        self.directory = os.fspath(directory)
        self.fingerprint = json.loads(json.dumps(fingerprint))

    @property
    def state_path(self) -> str:
        return os.path.join(self.directory, STATE_FILE)

    def save(
        self,
        epoch: int,
        model_variables: list[Any],
        optimizer_variables: list[Any],
        state: dict[str, Any],
        best_values: list[Any] | None = None,
    ) -> str:
        """Saves a checkpoint after `epoch` (1-based) epochs; returns its
        file. The state file is replaced last, so a kill at any moment
        leaves the previous checkpoint usable."""
        os.makedirs(self.directory, exist_ok=True)
        name = f"ckpt-{epoch:04d}.npz"
        path = os.path.join(self.directory, name)
        # Any: np.savez's own keyword (allow_pickle) is typed bool.
        arrays: dict[str, Any] = {
            f"m{i:05d}": np.asarray(v) for i, v in enumerate(model_variables)
        }
        arrays.update(
            {
                f"o{i:05d}": np.asarray(v)
                for i, v in enumerate(optimizer_variables)
            }
        )
        for i, v in enumerate(best_values or ()):
            arrays[f"b{i:05d}"] = np.asarray(v)
        with outputs.atomic_file(path, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        meta = {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "file": name,
            "state": state,
        }
        with outputs.atomic_file(self.state_path, overwrite=True) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(meta, f, indent=1)
        for old in glob.glob(os.path.join(self.directory, "ckpt-*.npz")):
            if os.path.basename(old) != name:
                outputs.discard(old)
        return path

    def load(self) -> Checkpoint | None:
        """The last checkpoint, or None if there is none.

        Raises:
            CheckpointMismatchError: It was written by a different setup.
        """
        try:
            with open(self.state_path, encoding="utf-8") as f:
                meta = json.load(f)
        except FileNotFoundError:
            return None
        if meta.get("fingerprint") != self.fingerprint:
            old = meta.get("fingerprint") or {}
            differs = sorted(
                k
                for k in set(old) | set(self.fingerprint)
                if old.get(k) != self.fingerprint.get(k)
            )
            raise CheckpointMismatchError(
                f"The checkpoint in {self.directory} was written by a "
                f"different run (it differs in: {', '.join(differs)}); "
                "run with the same flags, or drop --resume to start over"
            )
        with np.load(os.path.join(self.directory, meta["file"])) as npz:
            keys = sorted(npz.files)
            model_values = [npz[k] for k in keys if k.startswith("m")]
            optimizer_values = [npz[k] for k in keys if k.startswith("o")]
            best_values = [npz[k] for k in keys if k.startswith("b")]
        return Checkpoint(
            epoch=int(meta["epoch"]),
            model_values=model_values,
            optimizer_values=optimizer_values,
            state=meta.get("state") or {},
            best_values=best_values or None,
        )
