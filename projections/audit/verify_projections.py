"""Deterministic projections: the live tables must equal a fresh rebuild from the log.

``verify_projections`` reads the live tables inside one read-only snapshot, at the positions
they record, rebuilds every projection into shadow tables (projections/audit/shadow.py) up to
exactly those positions, and compares table by table. The live tables are only read: a
projection that lags the log is compared as of its own position, not caught up.

Each table's digest is a sha256 over its rows in key order, one line per row: the row's
values, normalised by ``dialect.plain``, as a compact JSON array followed by "\\n". Digests
compare live with shadow on one database; SQLite and PostgreSQL store flags and amounts
differently, so their digests are not comparable with each other. The same pass pairs rows
by key and names every difference.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from touchlog.projections.audit.shadow import replay_to, shadow_db
from touchlog.projections.engine.dialect import json_value
from touchlog.projections.engine.ownership import examine
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import reporting_url
from touchlog.projections.engine.schema import PROJECTION_TABLES, TRACKING, Table

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

SHOWN = 100  # differences listed per table; TableCheck.differences counts them all
FETCH = 2_000


@dataclass(frozen=True)
class Difference:
    """One row that differs between the live and the shadow table."""

    table: str
    key: str  # "customer=ACME contact_id=c-1"
    # value_differs | missing_in_live | missing_in_shadow, or, for a tracking row, why the
    # tables do not fit the log (projections/engine/ownership.py ``Mismatch.kind``)
    problem: str
    column: str | None = None
    live: Any = None
    shadow: Any = None

    def as_row(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "problem": self.problem,
                "column": self.column, "live": self.live, "shadow": self.shadow}

    def __str__(self) -> str:
        if self.problem != "value_differs":
            return f"{self.table} {self.key} : row {self.problem.replace('_', ' ')}"
        return (f"{self.table} {self.key} : column {self.column} "
                f"live {self.live} shadow {self.shadow}")


@dataclass
class TableCheck:
    """One table's rows and digests on both sides."""

    table: str
    live_rows: int = 0
    shadow_rows: int = 0
    live_digest: str = ""
    shadow_digest: str = ""
    differences: int = 0

    def as_row(self) -> dict[str, Any]:
        return {"table": self.table, "identical": self.live_digest == self.shadow_digest,
                "live_rows": self.live_rows, "shadow_rows": self.shadow_rows,
                "live_digest": self.live_digest, "shadow_digest": self.shadow_digest,
                "differences": self.differences}


@dataclass
class DeterminismReport:
    head: int = 0
    positions: dict[str, int] = field(default_factory=dict)  # live = compared position
    tables: list[TableCheck] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.differences


def verify_projections(log: TouchpointLog, live: ReportingDB | None = None) -> DeterminismReport:
    """Rebuilds every projection into shadow tables and compares them with the live ones."""
    own = live is None
    db = live or ReportingDB(reporting_url(log))
    try:
        # Positions no run writes are compared below, as values; others must fit the log.
        fit = examine(log, db) if all(type(p) is int for p in db.tracked().values()) else None
        if fit and fit.mismatches:  # not this log's tables: comparing rows means nothing
            return DeterminismReport(
                head=fit.marks.head,
                positions={n: fit.rows[n].position for n in PROJECTION_TABLES},
                differences=[Difference(TRACKING.name, f"name={m.name}", m.kind, m.column,
                                        m.recorded, m.log) for m in fit.mismatches])
        with shadow_db(db) as shadow, _snapshot(db):
            report = DeterminismReport(head=log.recorder.max_notification_id() or 0)
            tracked = {n: db.tracked().get(n, 0) for n in PROJECTION_TABLES}
            # A position no run writes (text, a real) is compared at the log's head.
            report.positions = {n: p if type(p) is int else report.head
                                for n, p in tracked.items()}
            reached = replay_to(log, shadow, report.positions)
            report.differences += [
                Difference(TRACKING.name, f"name={n}", "value_differs", "position",
                           json_value(tracked[n]), reached[n])
                for n in PROJECTION_TABLES if _line([reached[n]]) != _line([tracked[n]])]
            with _snapshot(shadow):
                report.tables = [compare_table(table, db, shadow, report.differences)
                                 for tables in PROJECTION_TABLES.values() for table in tables]
        return report
    finally:
        if own:
            db.close()


@contextmanager
def _snapshot(db: ReportingDB) -> Iterator[None]:
    """A read-only transaction: positions and rows as of one moment, whatever writes."""
    db.conn.execute(db.dialect.begin_snapshot)
    try:
        yield
    finally:
        db.conn.execute("ROLLBACK")


def compare_table(table: Table, live: ReportingDB, shadow: ReportingDB,
                  differences: list[Difference]) -> TableCheck:
    """Digests both sides in one pass, appending up to SHOWN of the differing rows."""
    check = TableCheck(table.name)
    live_hash, shadow_hash = hashlib.sha256(), hashlib.sha256()
    keys = [table.column_names.index(k) for k in table.key]
    lefts, rights = _lines(live, table), _lines(shadow, table)
    left, right = next(lefts, None), next(rights, None)
    while left is not None or right is not None:
        if left is not None and right is not None and left[0] == right[0]:
            live_hash.update(left[0])
            shadow_hash.update(right[0])
            check.live_rows, check.shadow_rows = check.live_rows + 1, check.shadow_rows + 1
            left, right = next(lefts, None), next(rights, None)
            continue
        side = _which(left, right, keys)
        found = _differences(table, left, right, side, keys)
        check.differences += 1
        differences += found if check.differences <= SHOWN else []
        if side <= 0 and left is not None:
            live_hash.update(left[0])
            left = next(lefts, None)
            check.live_rows += 1
        if side >= 0 and right is not None:
            shadow_hash.update(right[0])
            right = next(rights, None)
            check.shadow_rows += 1
    check.live_digest, check.shadow_digest = live_hash.hexdigest(), shadow_hash.hexdigest()
    return check


Line = tuple[bytes, tuple[Any, ...]]  # (the row's digest line, its normalised values)


def _lines(db: ReportingDB, table: Table) -> Iterator[Line]:
    """The table's rows in key order, in code point order of text on both databases."""
    kinds = table.kinds()
    order = ", ".join(f"{k}{db.dialect.collate(kinds[k])} NULLS FIRST" for k in table.key)
    statement = f"SELECT {', '.join(table.column_names)} FROM {table.name} ORDER BY {order}"
    cursor = db.dialect.streaming_cursor(db.conn)
    try:
        cursor.execute(statement)
        while batch := cursor.fetchmany(FETCH):
            for row in db.dialect.plain_rows(batch):
                try:  # _line, written out: this loop runs once per row of every table
                    line = orjson.dumps(row)
                except TypeError:
                    line = _line(row)
                if line.count(b"null") != row.count(None):
                    line = _line(row)
                yield line + b"\n", row
    finally:
        cursor.close()


def _order(line: Line, keys: list[int]) -> tuple[tuple[int, Any], ...]:
    """A row's key as SQLite orders mixed values: NULL, then numbers, text, bytes."""
    return tuple((0, 0) if v is None else (1, v) if isinstance(v, int | float) else
                 (2, v) if isinstance(v, str) else (3, v) for v in (line[1][i] for i in keys))


def _which(left: Line | None, right: Line | None, keys: list[int]) -> int:
    """-1: the live row comes first (missing in shadow); 1: the shadow row; 0: same key."""
    if right is None:
        return -1
    if left is None:
        return 1
    a, b = _order(left, keys), _order(right, keys)
    return -1 if a < b else 1 if b < a else 0


def _differences(table: Table, left: Line | None, right: Line | None, side: int,
                 keys: list[int]) -> list[Difference]:
    row = (left if side <= 0 else right)
    assert row is not None
    key = " ".join(f"{table.key[n]}={row[1][i]}" for n, i in enumerate(keys))
    if side < 0:
        return [Difference(table.name, key, "missing_in_shadow")]
    if side > 0:
        return [Difference(table.name, key, "missing_in_live")]
    assert left is not None and right is not None
    return [Difference(table.name, key, "value_differs", name, json_value(a), json_value(b))
            for name, a, b in zip(table.column_names, left[1], right[1], strict=True)
            if _line([a]) != _line([b])]


def _line(row: Sequence[Any]) -> bytes:
    """A row's values as a compact JSON array, exactly: a number that is not finite becomes
    ``{"float": "NaN"}`` (or "Infinity", "-Infinity") and bytes ``{"bytes": hex}``, forms no
    other value takes, so no two different rows give one line (JSON alone would write NaN
    and infinities as null, and has no bytes). Honest rows hold neither, so their lines are
    plain JSON arrays."""
    try:
        line = orjson.dumps(row)
    except TypeError:  # bytes: only a tampered table holds them
        return orjson.dumps([_exact(v) for v in row])
    # Each None writes one null; a NaN or an infinity writes one more (text holding "null"
    # too, which only costs the exact pass): equal counts mean no number that is not finite.
    if line.count(b"null") != row.count(None):
        return orjson.dumps([_exact(v) for v in row])
    return line


def _exact(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": json_value(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": bytes(value).hex()}
    return value
