"""``python -m benchmarks.row_costs DB``: what SQLite alone needs to write each kind of row.

Copies the rows an import wrote into ``DB`` (a touchlog SQLite file, e.g. one a benchmark
run left with ``--keep``) into fresh tables of the same shape in a scratch file, with the
sqlite3 module only, 20,000 rows per transaction and touchlog's settings (WAL, synchronous
NORMAL). The result is the floor under the import and the rebuild: no Python work of
touchlog's is in it, only binding the values and SQLite's own insert.

Example: python -m benchmarks.row_costs /tmp/bench/touchlog.db
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from touchlog.projections.engine.schema import ARCHIVE_CONTACTS, STAGE_FACTS, Table
from touchlog.projections.engine.sqlite import SQLiteReporting

PER_TRANSACTION = 20_000


def cost(source: sqlite3.Connection, scratch: Path, name: str, columns: str,
         statements: list[str]) -> float:
    """µs per row to insert ``name``'s rows into the table ``copy`` made by ``statements``."""
    rows = source.execute(f"SELECT {columns} FROM {name}").fetchall()  # noqa: S608
    target = sqlite3.connect(scratch / f"{name}-{len(statements)}.db", isolation_level=None)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    for statement in statements:
        target.execute(statement)
    marks = ", ".join("?" * len(rows[0]))
    started = time.perf_counter()
    for i in range(0, len(rows), PER_TRANSACTION):
        target.execute("BEGIN")
        target.executemany(f"INSERT INTO copy VALUES ({marks})", rows[i:i + PER_TRANSACTION])
        target.execute("COMMIT")
    seconds = time.perf_counter() - started
    target.close()
    return seconds / len(rows) * 1e6


def table_statements(table: Table, with_indexes: bool) -> list[str]:
    """The table's DDL under the name ``copy``."""
    create, *indexes = replace(table, name="copy").ddl(SQLiteReporting.types)
    return [create, *(indexes if with_indexes else [])]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print(__doc__, file=sys.stderr)
        return 1
    source = sqlite3.connect(argv[0])
    events = ["CREATE TABLE copy (originator_id TEXT, originator_version INTEGER, "
              "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"]
    with tempfile.TemporaryDirectory(prefix="touchlog-row-costs-") as folder:
        scratch = Path(folder)
        results = {
            "stored_events (the log)": cost(source, scratch, "stored_events",
                                            "originator_id, originator_version, topic, state",
                                            events),
            "archive_contacts, key only": cost(source, scratch, "archive_contacts", "*",
                                               table_statements(ARCHIVE_CONTACTS, False)),
            "archive_contacts, with its indexes": cost(
                source, scratch, "archive_contacts", "*",
                table_statements(ARCHIVE_CONTACTS, True)),
            "stage_facts": cost(source, scratch, "stage_facts", "*",
                                table_statements(STAGE_FACTS, True)),
        }
    for name, micros in results.items():
        print(f"{name:38} {micros:6.1f} µs/row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
