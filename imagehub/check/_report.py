"""What the checker returns: per-rule results, JSON and a table.

The scan's own result (`ScanResult`) lives in `imagehub.scan`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING
from typing import Any

from imagehub.scan import ScanResult

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
