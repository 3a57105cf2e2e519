"""Human review decisions: an append-only SQLite log, and the current state derived from it.

The table refuses UPDATE, DELETE and any INSERT that would reuse an id (``INSERT OR REPLACE``
included), every write is one parameterised INSERT in its own transaction, and WAL mode lets
several reviewers write at once without losing a row. Each row carries a SHA-256 hash chained
over every row before it, so a rewrite made outside this package (another SQLite client, a
hex editor) is found by :meth:`ReviewLog.verify` (``strat review RUN --verify``). The state of
an example is its latest decision that is not ``skip``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from stratigraphy.core.errors import StratigraphyError

DECISIONS = ("keep", "relabel", "ood", "remove", "skip")

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
CREATE TRIGGER IF NOT EXISTS decisions_no_reused_id BEFORE INSERT ON decisions
WHEN NEW.id IS NOT NULL AND NEW.id <= (SELECT COALESCE(MAX(id), 0) FROM decisions)
BEGIN SELECT RAISE(ABORT, 'review decisions are append-only'); END;
"""
_COLUMNS = "id, example, decision, label, reviewer, created_at"
_GENESIS = "stratigraphy review log v1"
# Cells a spreadsheet would run as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


@dataclass(frozen=True)
class Verification:
    """The outcome of checking the hash chain: rows checked, and the first row that breaks it."""

    rows: int
    first_bad: int | None
    unchained: int = 0

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def chain_hash(previous: str, d: Decision) -> str:
    """The hash of a row: SHA-256 over the previous row's hash and this row's fields."""
    label = "" if d.label is None else str(d.label)
    fields = "\x1f".join([str(d.id), str(d.example), d.decision, label, d.reviewer, d.created_at])
    return hashlib.sha256(f"{previous}\x1e{fields}".encode()).hexdigest()


def safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: formula-starting strings get a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


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
        con = self._connect()
        try:
            con.executescript(_SCHEMA)
            columns = {r[1] for r in con.execute("PRAGMA table_info(decisions)")}
            if "hash" not in columns:  # a log written before the chain: its rows stay unchained
                con.execute("ALTER TABLE decisions ADD COLUMN hash TEXT")
        finally:
            con.close()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA busy_timeout=30000")
        con.execute("PRAGMA recursive_triggers=ON")  # REPLACE's implicit delete fires the guard
        return con

    def _chain_tip(self, con: sqlite3.Connection) -> str:
        """The running hash after the last row (recomputed where old rows carry none)."""
        last = con.execute("SELECT hash FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
        if last is None:
            return _GENESIS
        if last[0] is not None:
            return str(last[0])
        tip = _GENESIS
        for row in con.execute(f"SELECT {_COLUMNS} FROM decisions ORDER BY id"):
            tip = chain_hash(tip, Decision(*row))
        return tip

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
            con.execute("BEGIN IMMEDIATE")  # one writer at a time extends the chain
            try:
                tip = self._chain_tip(con)
                (top,) = con.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()
                d = Decision(int(top) + 1, example, decision, label, reviewer, now)
                con.execute(
                    f"INSERT INTO decisions ({_COLUMNS}, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (d.id, example, decision, label, reviewer, now, chain_hash(tip, d)),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
        return d

    def verify(self) -> Verification:
        """Recompute the hash chain over every row; the first row whose stored hash differs (a
        row rewritten, removed or inserted out of band) breaks it."""
        con = self._connect()
        try:
            rows = con.execute(f"SELECT {_COLUMNS}, hash FROM decisions ORDER BY id").fetchall()
        finally:
            con.close()
        tip, unchained = _GENESIS, 0
        for row in rows:
            d = Decision(*row[:6])
            tip = chain_hash(tip, d)
            if row[6] is None:
                unchained += 1
            elif row[6] != tip:
                return Verification(len(rows), d.id, unchained)
        return Verification(len(rows), None, unchained)

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
            label = "" if d.label is None else d.label
            cells = [d.id, d.example, d.decision, label, d.reviewer, d.created_at]
            w.writerow([safe_cell(c) for c in cells])
        return buf.getvalue()
