"""What the safety scan returns: the findings and the refusal error."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Finding:
    """One refused op found by the scan.

    Attributes:
        op: The op type, e.g. ``"ReadFile"``.
        node: The node's name.
        function: The library function it sits in, or None for a graph.
        where: Where it sits, with the chain of callers.
        reason: Why it is refused.
    """

    op: str
    node: str
    function: str | None
    where: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class UnsafeModelError(ValueError):
    """The safety scan refused a SavedModel; nothing was loaded.

    Attributes:
        scan: The `ScanResult`, with every finding.
    """

    def __init__(self, message: str, scan: ScanResult):
        super().__init__(message)
        self.scan = scan


@dataclasses.dataclass(frozen=True)
class ScanResult:
    """The outcome of the safety scan (nothing was loaded or run).

    Attributes:
        path: The SavedModel directory.
        file: ``saved_model.pb`` or ``saved_model.pbtxt``.
        refused: True when any finding was made.
        findings: The refused ops and where they sit.
        num_meta_graphs: MetaGraphs scanned.
        num_functions: Functions scanned (all libraries, nested graphs too).
        num_nodes: Nodes scanned.
        from_memo: True when the bytes and the rules were those of a
            clean verdict remembered earlier, so the walk was skipped.
    """

    path: str
    file: str
    refused: bool
    findings: tuple[Finding, ...] = ()
    num_meta_graphs: int = 0
    num_functions: int = 0
    num_nodes: int = 0
    from_memo: bool = False

    @property
    def ops(self) -> tuple[str, ...]:
        """The refused op types, sorted, without repeats."""
        return tuple(sorted({f.op for f in self.findings}))

    def summary(self) -> str:
        if not self.refused:
            return (
                f"scan: clean ({self.num_meta_graphs} meta graph(s), "
                f"{self.num_functions} functions, {self.num_nodes} nodes)"
            )
        return (
            f"scan: REFUSED, {len(self.findings)} dangerous op(s): "
            + ", ".join(self.ops)
        )

    def describe(self, limit: int = 5) -> str:
        """The first `limit` findings, one line each: op, reason, where."""
        shown = self.findings[:limit]
        lines = [f"  {f.op} ({f.reason}) at {f.where}" for f in shown]
        if len(self.findings) > len(shown):
            lines.append(f"  ... and {len(self.findings) - len(shown)} more")
        return "\n".join(lines)

    def raise_if_refused(self, what: str, fix: str) -> None:
        """Raises `UnsafeModelError` naming `what` was refused, each
        finding and `fix` (how to load it anyway), if the scan refused."""
        if not self.refused:
            return
        raise UnsafeModelError(
            f"Refusing {what} ({self.path}): imagehub's safety scan found "
            f"{len(self.findings)} op(s) it does not allow:\n"
            f"{self.describe()}\nNothing was loaded. {fix}; "
            f"`imagehub check {self.path}` shows every finding.",
            self,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "refused": self.refused,
            "file": self.file,
            "meta_graphs": self.num_meta_graphs,
            "functions": self.num_functions,
            "nodes": self.num_nodes,
            "ops": [f.to_dict() for f in self.findings],
        }
