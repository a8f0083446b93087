"""Exports of the reporting tables to CSV, JSON Lines or Parquet, with the position they reflect.

Each export writes ``FILE.meta.json`` next to the file: the projection, its log position at
export time and the ``since_position`` asked for. Every row carries ``position``, the
notification id of the last event that changed it, so ``--since-position`` of an earlier
export's position gives exactly the rows changed since.

Both files are written safely (domain/storage/files.py): never over the log's databases,
over an existing file only with ``force``, the data file first, so that a meta file never
describes anything but the data file beside it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from touchlog.domain.errors import InvalidInput, TouchlogError
from touchlog.domain.storage.files import NewFiles
from touchlog.projections.engine.runner import Projector, protected_databases
from touchlog.projections.engine.schema import (
    ARCHIVE_CONTACTS,
    ARCHIVE_CUSTOMERS,
    FOLLOWUP_ITEMS,
    STAGE_HISTORY,
    Table,
)

# export name -> (projection, table)
EXPORTS: dict[str, tuple[str, Table]] = {
    "contacts": ("archive", ARCHIVE_CONTACTS),
    "archive": ("archive", ARCHIVE_CUSTOMERS),
    "stage-history": ("stages", STAGE_HISTORY),
    "followups": ("followups", FOLLOWUP_ITEMS),
}
FILE_FORMATS = ("csv", "jsonl", "parquet")


def export(projector: Projector, name: str, fmt: str, path: Path,
           since_position: int | None = None, *, raw_csv: bool = False,
           force: bool = False) -> dict[str, Any]:
    """Writes the rows and the sidecar; returns the sidecar's content. An existing file is
    replaced only with ``force``.

    CSV cells a spreadsheet would run as formulas get a leading apostrophe
    (``spreadsheet_safe``) unless ``raw_csv``."""
    if name not in EXPORTS:
        raise InvalidInput("name", name, f"expected one of {', '.join(EXPORTS)}")
    if fmt not in FILE_FORMATS:
        raise InvalidInput("format", fmt, f"expected one of {', '.join(FILE_FORMATS)}")
    projection, table = EXPORTS[name]
    writer = _parquet_writer() if fmt == "parquet" else None
    meta_path = Path(f"{path}.meta.json")
    with NewFiles(force=force, protected=protected_databases(projector.log.settings)) as files:
        files.check(meta_path)  # both refused before any work, if they are to be
        out = files.open(path, text=fmt == "csv")
        projector.catch_up([projection])
        rows, position = _read(projector, projection, table, since_position or 0)
        if writer is not None:
            writer(rows, out)
        elif fmt == "jsonl":
            for row in rows:
                out.write(orjson.dumps(row) + b"\n")
        else:
            _write_csv(rows, table.column_names, out, (lambda cell: cell) if raw_csv
                       else spreadsheet_safe)
        meta = {"export": name, "projection": projection, "table": table.name, "format": fmt,
                "position": position, "since_position": since_position, "rows": len(rows),
                "exported_at": datetime.now(UTC).isoformat()}
        files.open(meta_path, text=True).write(json.dumps(meta, indent=2) + "\n")
    return meta


def _read(projector: Projector, projection: str, table: Table,
          since: int) -> tuple[list[dict[str, Any]], int]:
    """The rows and the position they reflect, read in one transaction."""
    flags = [c for c, kind in table.columns if kind == "flag"]
    with projector.db.transaction():
        position = projector.db.positions()[projection]
        rows = projector.db.query(
            f"SELECT * FROM {table.name} WHERE position > ? ORDER BY {', '.join(table.key)}",
            [since])
    for row in rows:
        for flag in flags:
            row[flag] = None if row[flag] is None else bool(row[flag])
    return rows, position


def _write_csv(rows: Sequence[dict[str, Any]], columns: list[str], out: IO[str],
               safe: Callable[[str], str]) -> None:
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else str(row[c]).lower()
                         if isinstance(row[c], bool) else safe(row[c])
                         if isinstance(row[c], str) else row[c] for c in columns])


def _parquet_writer() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise TouchlogError("Parquet export needs pyarrow: pip install 'touchlog[parquet]'") \
            from None

    def write(rows: list[dict[str, Any]], out: IO[bytes]) -> None:
        pq.write_table(pa.Table.from_pylist(rows), out)
    return write


# A cell beginning with one of these is a formula to a spreadsheet (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """The cell with a leading apostrophe when a spreadsheet would read it as a formula."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell
