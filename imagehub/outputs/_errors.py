"""The errors of `imagehub.outputs`: one class per refusal, one message
shape each, so every writer of imagehub words a refusal the same way."""

from __future__ import annotations

OVERWRITE_HINT = (
    "pass --overwrite (Python: overwrite=True) to replace it, or choose "
    "another path"
)


class OutputExistsError(FileExistsError):
    """An output already exists and `overwrite` was not given.

    Attributes:
        path: The existing output.
        detail: Why it cannot be kept or resumed, or "".
    """

    def __init__(self, path: str, detail: str = "") -> None:
        self.path = path
        self.detail = detail
        why = f" ({detail})" if detail else ""
        super().__init__(f"{path} already exists{why}; {OVERWRITE_HINT}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Keeps (path, detail) through pickling (Beam, multiprocessing).
        return type(self), (self.path, self.detail)


class OutputLockedError(FileExistsError):
    """Another live process is writing the same output.

    Attributes:
        path: The output.
        owner: Who holds the lock ("process 1234 on host").
    """

    def __init__(self, path: str, owner: str, waited: float) -> None:
        self.path = path
        self.owner = owner
        self.waited = waited
        super().__init__(
            f"{path} is being written by {owner} (waited {waited:.0f} s); "
            "wait for that run to finish, or choose another output"
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, float]]:
        return type(self), (self.path, self.owner, self.waited)
