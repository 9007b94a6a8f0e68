"""What the checker returns: per-rule results, the scan, JSON and a table."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from rich.table import Table

PASS = "PASS"
FAIL = "FAIL"
WARN = "WARN"
SKIP = "SKIP"
STATUSES = (PASS, FAIL, WARN, SKIP)

# Checks the report adds beside SPEC.md's rules.
EXTRA_CHECKS = {
    "D1": "Inference mode (training=False) is deterministic: the same "
    "input gives the same output.",
}


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
    """

    path: str
    file: str
    refused: bool
    findings: tuple[Finding, ...] = ()
    num_meta_graphs: int = 0
    num_functions: int = 0
    num_nodes: int = 0

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


@dataclasses.dataclass(frozen=True)
class Result:
    """The verdict on one rule.

    Attributes:
        rule: The rule ID of SPEC.md (e.g. ``"R3"``), or an extra check
            (``"D1"``, see `EXTRA_CHECKS`).
        status: PASS, FAIL, WARN or SKIP.
        message: What was seen and, when not PASS, how to fix it.
    """

    rule: str
    status: str
    message: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"Unknown status {self.status!r}; expected one of {STATUSES}"
            )

    def to_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "status": self.status,
            "message": self.message,
        }


@dataclasses.dataclass(frozen=True)
class Report:
    """The conformance report of one SavedModel.

    Attributes:
        path: The local SavedModel directory checked.
        task: The task checked against, or None when unknown.
        task_source: ``"card"``, ``"argument"`` or ``"inferred"``.
        image_size: The (height, width) probes used by default.
        scan: The safety scan.
        results: One result per rule checked, in SPEC order.
        loaded: Whether the model was loaded.
        error: Why the model was not loaded or checked, or None.
        notes: Other observations (e.g. how the task was inferred).
    """

    path: str
    task: str | None
    task_source: str
    image_size: tuple[int, int] | None
    scan: ScanResult | None
    results: tuple[Result, ...] = ()
    loaded: bool = False
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[str, ...]:
        """IDs of the rules that FAIL."""
        return tuple(r.rule for r in self.results if r.status == FAIL)

    @property
    def refused(self) -> bool:
        return self.scan is not None and self.scan.refused and not self.loaded

    @property
    def conforming(self) -> bool:
        """True when the model was checked and no rule FAILs."""
        return self.loaded and self.error is None and not self.failed

    @property
    def exit_code(self) -> int:
        """0 conforming, 1 some rule fails, 2 refused or not loadable."""
        if not self.loaded or self.error is not None:
            return 2
        return 1 if self.failed else 0

    def result(self, rule: str) -> Result:
        """Returns the result of `rule`; KeyError when it was not checked."""
        for r in self.results:
            if r.rule == rule:
                return r
        checked = [r.rule for r in self.results]
        raise KeyError(f"Rule {rule!r} was not checked; checked: {checked}")

    def statuses(self) -> dict[str, str]:
        """{rule: status} for every rule checked."""
        return {r.rule: r.status for r in self.results}

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "task": self.task,
            "task_source": self.task_source,
            "image_size": list(self.image_size) if self.image_size else None,
            "conforming": self.conforming,
            "loaded": self.loaded,
            "error": self.error,
            "failed": list(self.failed),
            "notes": list(self.notes),
            "results": [r.to_dict() for r in self.results],
            "scan": self.scan.to_dict() if self.scan else None,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def rich_table(self) -> Table:
        """The results as a `rich` table: rule, status, message."""
        from rich.markup import escape
        from rich.table import Table

        colours = {PASS: "green", FAIL: "bold red", WARN: "yellow", SKIP: "dim"}
        table = Table(
            title=escape(f"imagehub check {self.path}"), show_lines=False
        )
        table.add_column("rule", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("message")
        for r in self.results:
            colour = colours[r.status]
            table.add_row(
                r.rule, f"[{colour}]{r.status}[/{colour}]", escape(r.message)
            )
        return table

    def summary(self) -> str:
        """One line: the verdict."""
        if self.error is not None:
            return f"NOT CHECKED: {self.error}"
        counts = {s: 0 for s in STATUSES}
        for r in self.results:
            counts[r.status] += 1
        verdict = "CONFORMING" if self.conforming else "NOT CONFORMING"
        parts = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        failed = f" (failed: {', '.join(self.failed)})" if self.failed else ""
        return f"{verdict} as {self.task}: {parts}{failed}"
