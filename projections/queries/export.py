"""Exports of the reporting tables and of what the queries compute, to CSV, JSON Lines or
Parquet, with the position they reflect.

A table export (``TABLE_EXPORTS``) writes a table's rows. Every row carries ``position``, the
notification id of the last event that changed it, so ``--since-position`` of an earlier
export's position gives exactly the rows changed since. A computed export
(``COMPUTED_EXPORTS``: the follow-up queue as ``touchlog followups`` shows it, each report)
writes what the query gives at export time; it has no row positions.

Each export to a file writes ``FILE.meta.json`` next to it: the projections, their log
position at export time and the ``since_position`` asked for. Both files are written safely
(domain/storage/files.py): never over the log's databases, over an existing file only with
``force``, the data file first, so that a meta file never describes anything but the data
file beside it. An export to ``-`` writes the data to standard output, and no meta file.

Every column has an abstract kind (projections/engine/schema.py), which types Parquet:
instants are timestamps in UTC, amounts decimals, flags booleans, numbers doubles, and an
empty column keeps its type.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from touchlog.domain.errors import InvalidInput, TouchlogError
from touchlog.domain.storage.files import NewFiles
from touchlog.projections.engine.runner import protected_databases
from touchlog.projections.engine.schema import (
    ARCHIVE_CHANNELS,
    ARCHIVE_CONTACT_ATTRIBUTES,
    ARCHIVE_CONTACTS,
    ARCHIVE_CUSTOMER_ATTRIBUTES,
    ARCHIVE_CUSTOMERS,
    FOLLOWUP_ITEMS,
    STAGE_HISTORY,
    Table,
)

if TYPE_CHECKING:
    from touchlog.projections.queries.reads import Queries

Columns = tuple[tuple[str, str], ...]  # (name, abstract kind)
Rows = list[dict[str, Any]]

# export name -> (projection, table)
TABLE_EXPORTS: dict[str, tuple[str, Table]] = {
    "contacts": ("archive", ARCHIVE_CONTACTS),
    "archive": ("archive", ARCHIVE_CUSTOMERS),
    "archive-channels": ("archive", ARCHIVE_CHANNELS),
    "contact-attributes": ("archive", ARCHIVE_CONTACT_ATTRIBUTES),
    "customer-attributes": ("archive", ARCHIVE_CUSTOMER_ATTRIBUTES),
    "stage-history": ("stages", STAGE_HISTORY),
    "followups": ("followups", FOLLOWUP_ITEMS),
}


@dataclass(frozen=True)
class Computed:
    """An export of what a query computes: the projections it reads, its columns, the query."""

    projections: tuple[str, ...]
    columns: Columns
    rows: Callable[[Queries], Rows]
    personal: tuple[str, ...] = ()  # the columns holding personal data


QUEUE_COLUMNS: Columns = (
    ("customer", "text"), ("kind", "text"), ("follow_up_id", "text"), ("due_at", "instant"),
    ("owner", "text"), ("purpose", "text"), ("stage", "text"), ("status", "text"))
COMPUTED_EXPORTS: dict[str, Computed] = {
    "followup-queue": Computed(("followups",), QUEUE_COLUMNS,
                               lambda queries: queries.followups(), personal=("purpose",)),
}
FILE_FORMATS = ("csv", "jsonl", "parquet")
STDOUT = Path("-")


def export_names() -> list[str]:
    """Every export, the reports' included (``report-NAME``)."""
    from touchlog.projections.reports.catalogue import report_exports

    return [*TABLE_EXPORTS, *COMPUTED_EXPORTS, *report_exports()]


def export(queries: Queries, name: str, fmt: str, path: Path,
           since_position: int | None = None, *, raw_csv: bool = False,
           force: bool = False, personal: bool = True) -> dict[str, Any]:
    """Writes the rows (and, to a file, the sidecar); returns the sidecar's content. An
    existing file is replaced only with ``force``. The sidecar says whether the rows hold
    personal data (docs/privacy.md); without ``personal`` its columns are left out.

    CSV cells a spreadsheet would run as formulas get a leading apostrophe
    (``spreadsheet_safe``) unless ``raw_csv``."""
    from touchlog.projections.reports.catalogue import report_exports

    computed = {**COMPUTED_EXPORTS, **report_exports()}
    if name not in TABLE_EXPORTS and name not in computed:
        raise InvalidInput("name", name, f"expected one of {', '.join(export_names())}")
    if fmt not in FILE_FORMATS:
        raise InvalidInput("format", fmt, f"expected one of {', '.join(FILE_FORMATS)}")
    if name in computed and since_position is not None:
        raise InvalidInput("since-position", since_position,
                           f"{name} is computed when exported, so its rows have no position; "
                           "only the table exports take --since-position")
    write = _parquet_writer() if fmt == "parquet" else None
    projector = queries.projector
    with NewFiles(force=force, protected=protected_databases(projector.log.settings)) as files:
        meta_path = Path(f"{path}.meta.json")
        to_file = path != STDOUT
        if to_file:
            files.check(meta_path)  # both refused before any work, if they are to be
            out: IO[bytes] = files.open(path)
        else:
            out = io.BytesIO()
        if name in TABLE_EXPORTS:
            projection, table = TABLE_EXPORTS[name]
            projector.catch_up([projection])
            rows, position = _read(queries, projection, table, since_position or 0)
            columns, private = table.columns, table.personal
            source: dict[str, Any] = {"projection": projection, "table": table.name}
        else:
            chosen = computed[name]
            columns, rows, private = chosen.columns, chosen.rows(queries), chosen.personal
            positions = {n: p for n, p in queries.db.positions().items()
                         if n in chosen.projections}
            position, source = min(positions.values()), {"projections": positions}
        if not personal:
            columns = tuple(c for c in columns if c[0] not in private)
            rows = [{k: v for k, v in row.items() if k not in private} for row in rows]
        _typed(rows, columns)
        if write is not None:
            write(rows, columns, out)
        elif fmt == "jsonl":
            for row in rows:
                out.write(orjson.dumps(row, default=str) + b"\n")
        else:
            _write_csv(rows, [c for c, _ in columns], out,
                       (lambda cell: cell) if raw_csv else spreadsheet_safe)
        meta = {"export": name, **source, "format": fmt, "position": position,
                "since_position": since_position, "rows": len(rows),
                "personal_data": personal and bool(private),
                "personal_columns": list(private) if personal else [],
                "left_out": [] if personal else list(private),
                "exported_at": datetime.now(UTC).isoformat()}
        if to_file:
            files.open(meta_path, text=True).write(json.dumps(meta, indent=2) + "\n")
        else:
            assert isinstance(out, io.BytesIO)
            sys.stdout.buffer.write(out.getvalue())
            sys.stdout.buffer.flush()
    return meta


def _read(queries: Queries, projection: str, table: Table, since: int) -> tuple[Rows, int]:
    """The rows and the position they reflect, read in one transaction."""
    db = queries.db
    with db.transaction():
        position = db.positions()[projection]
        rows = db.query(f"SELECT {', '.join(table.column_names)} FROM {table.name} "
                        f"WHERE position > ? ORDER BY {', '.join(table.key)}", [since])
    return rows, position


def _typed(rows: Rows, columns: Columns) -> None:
    """Flags as booleans and numbers as floats, whichever database they came from (0/1 on
    SQLite; PostgreSQL's numeric comes as exact text)."""
    flags = [c for c, kind in columns if kind == "flag"]
    numbers = [c for c, kind in columns if kind == "number"]
    for row in rows:
        for flag in flags:
            row[flag] = None if row[flag] is None else bool(row[flag])
        for number in numbers:
            row[number] = None if row[number] is None else float(row[number])


def _write_csv(rows: Sequence[dict[str, Any]], columns: list[str], out: IO[bytes],
               safe: Callable[[str], str]) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else str(row[c]).lower()
                         if isinstance(row[c], bool) else safe(row[c])
                         if isinstance(row[c], str) else row[c] for c in columns])
    text.detach()  # the file stays open for its owner


# Parquet's decimal for amounts: 38 digits, 12 after the point (the most an amount has), so
# every amount and every sum of them fits exactly, and each export of a table has one schema.
AMOUNT_PRECISION, AMOUNT_SCALE = 38, 12


def arrow_schema(columns: Columns) -> Any:
    """The Parquet columns' types (pyarrow) for columns of these abstract kinds."""
    import pyarrow as pa

    types = {"text": pa.string(), "int": pa.int64(), "position": pa.int64(),
             "real": pa.float64(), "number": pa.float64(), "flag": pa.bool_(),
             "instant": pa.timestamp("us", tz="UTC"),
             "amount": pa.decimal128(AMOUNT_PRECISION, AMOUNT_SCALE)}
    return pa.schema([(name, types[kind]) for name, kind in columns])


def _parquet_writer() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise TouchlogError("Parquet export needs pyarrow: pip install 'touchlog[parquet]'") \
            from None

    def write(rows: Rows, columns: Columns, out: IO[bytes]) -> None:
        schema = arrow_schema(columns)
        kinds = dict(columns)
        arrays = [pa.array([_arrow_value(row[name], kinds[name]) for row in rows],
                           type=schema.field(name).type) for name, _ in columns]
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), out)
    return write


def _arrow_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "instant":
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if kind == "amount":
        return Decimal(value)
    return value


# A cell beginning with one of these is a formula to a spreadsheet (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """The cell with a leading apostrophe when a spreadsheet would read it as a formula."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell
