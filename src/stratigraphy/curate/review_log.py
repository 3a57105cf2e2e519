"""Human review decisions: an append-only SQLite log, and the current state derived from it.

The table refuses UPDATE and DELETE (triggers), every write is one parameterised INSERT in its
own transaction, and WAL mode lets several reviewers write at once without losing a row. The
state of an example is its latest decision that is not ``skip``.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from stratigraphy.core.errors import StratigraphyError

DECISIONS = ("keep", "relabel", "ood", "remove", "skip")
REVIEW_DB = "review.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    example INTEGER NOT NULL CHECK (example >= 0),
    decision TEXT NOT NULL CHECK (decision IN ('keep', 'relabel', 'ood', 'remove', 'skip')),
    label INTEGER CHECK ((decision = 'relabel') = (label IS NOT NULL)),
    reviewer TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_example ON decisions (example, id);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'review decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'review decisions are append-only'); END;
"""


class ReviewError(StratigraphyError, ValueError):
    """A decision names an unknown example, an invalid class or an unknown kind of decision."""


@dataclass(frozen=True)
class Decision:
    id: int
    example: int
    decision: str
    label: int | None
    reviewer: str
    created_at: str


def replay(decisions: Iterable[Decision]) -> dict[int, Decision]:
    """Current state from a log in id order: each example's latest decision other than skip."""
    state: dict[int, Decision] = {}
    for d in sorted(decisions, key=lambda d: d.id):
        if d.decision != "skip":
            state[d.example] = d
    return state


class ReviewLog:
    """The decisions of one run, in ``RUN/review.sqlite``."""

    def __init__(self, path: str | Path, n_examples: int, n_classes: int) -> None:
        self.path = Path(path)
        self.n_examples = n_examples
        self.n_classes = n_classes
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA busy_timeout=30000")
        return con

    def validate(self, example: int, decision: str, label: int | None, reviewer: str) -> None:
        if decision not in DECISIONS:
            raise ReviewError(f"decision must be one of {DECISIONS}; got {decision!r}.")
        if not 0 <= example < self.n_examples:
            raise ReviewError(f"unknown example {example}; examples are 0..{self.n_examples - 1}.")
        if decision == "relabel":
            if label is None or not 0 <= label < self.n_classes:
                raise ReviewError(f"relabel needs a class in 0..{self.n_classes - 1}; got {label}.")
        elif label is not None:
            raise ReviewError(f"only relabel takes a label; {decision!r} got {label}.")
        if not reviewer or len(reviewer) > 100:
            raise ReviewError("reviewer must be a name of 1 to 100 characters.")

    def append(
        self, example: int, decision: str, label: int | None = None, reviewer: str = "anonymous"
    ) -> Decision:
        """Validate and append one decision; returns it with its id and time."""
        self.validate(example, decision, label, reviewer)
        now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        con = self._connect()
        try:
            cur = con.execute(
                "INSERT INTO decisions (example, decision, label, reviewer, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (example, decision, label, reviewer, now),
            )
            row_id = int(cur.lastrowid or 0)
        finally:
            con.close()
        return Decision(row_id, example, decision, label, reviewer, now)

    def decisions(self) -> list[Decision]:
        con = self._connect()
        try:
            rows = con.execute(
                "SELECT id, example, decision, label, reviewer, created_at FROM decisions "
                "ORDER BY id"
            ).fetchall()
        finally:
            con.close()
        return [Decision(*r) for r in rows]

    def history(self, example: int) -> list[Decision]:
        """Every decision on one example, oldest first."""
        con = self._connect()
        try:
            rows = con.execute(
                "SELECT id, example, decision, label, reviewer, created_at FROM decisions "
                "WHERE example = ? ORDER BY id",
                (example,),
            ).fetchall()
        finally:
            con.close()
        return [Decision(*r) for r in rows]

    def count(self) -> int:
        con = self._connect()
        try:
            return int(con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
        finally:
            con.close()

    def state(self) -> dict[int, Decision]:
        """Each example's current decision (latest non-skip), computed in SQL."""
        con = self._connect()
        try:
            rows = con.execute(
                "SELECT id, example, decision, label, reviewer, created_at FROM decisions "
                "WHERE id IN (SELECT MAX(id) FROM decisions WHERE decision != 'skip' "
                "GROUP BY example) ORDER BY example"
            ).fetchall()
        finally:
            con.close()
        return {r[1]: Decision(*r) for r in rows}

    def to_csv(self, current_only: bool = False) -> str:
        """The whole log (or the current state) as CSV text."""
        rows = list(self.state().values()) if current_only else self.decisions()
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["id", "example", "decision", "label", "reviewer", "created_at"])
        for d in rows:
            w.writerow(
                [
                    d.id,
                    d.example,
                    d.decision,
                    "" if d.label is None else d.label,
                    d.reviewer,
                    d.created_at,
                ]
            )
        return buf.getvalue()
