"""The CSV import pipeline behind ``touchlog import`` (the contract is docs/import.md).

Two streaming passes keep memory flat whatever the file size:
1. read and validate every row; good rows are spooled to a temporary SQLite file, bad rows
   reported. Nothing is recorded yet, so ``--strict`` and file-level errors (a bad header,
   broken encoding) always stop before the first write.
2. read the spool sorted by (customer, occurred_at, line) and record it in batches, each
   one ``TouchpointLog.log_cards`` call, which is one transaction. A killed import
   therefore leaves whole batches only, and ids derived from row content (plus the count
   of earlier identical rows) make the re-run skip what is already there.
Then the projections catch up, so the reporting tables hold the import when it ends.

Rows are validated once: the spool keeps the finished contact card (plain JSON), so the
second pass only reads it back.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

from touchlog.cli.csv_rows import RawRow, parse_row, read_rows
from touchlog.domain.application import CardEntry, card_entry
from touchlog.domain.contact import FollowUpPlan
from touchlog.domain.errors import InvalidInput, TouchlogError
from touchlog.domain.identity import derived_contact_id

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.settings import Settings

BATCH_SIZE = 5_000


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    reason: str
    values: dict[str, str]
    columns: list[str]  # the file's header, so a rejects file mirrors the input

    @property
    def message(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class Summary:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    customers: int = 0


@dataclass(frozen=True)
class Spooled:
    line: int
    entry: CardEntry
    values_json: bytes

    @property
    def values(self) -> dict[str, str]:
        return dict(orjson.loads(self.values_json))


class Spool:
    """Validated rows on disk, so sorting a huge file never needs it all in memory."""

    def __init__(self, directory: str) -> None:
        self.db = sqlite3.connect(Path(directory) / "spool.db")
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE row (customer TEXT, occurred_at TEXT, line INTEGER, key TEXT,"
            " derived INTEGER, row_values BLOB, card BLOB, follow_up TEXT)"
        )
        self.pending: list[tuple[str, str, int, str, bool, bytes, bytes, str | None]] = []

    def add(self, entry: CardEntry, derived: bool, raw: RawRow) -> None:
        # Rows with the same key would get the same derived id; the occurrence tells them apart.
        card = entry.card
        self.pending.append((entry.reference, card["occurred_at"], raw.line, card["contact_id"],
                             derived, orjson.dumps(raw.values), orjson.dumps(card),
                             entry.follow_up.model_dump_json() if entry.follow_up else None))
        if len(self.pending) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        with self.db:
            self.db.executemany("INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.pending)
        self.pending.clear()

    def customers(self) -> int:
        return int(self.db.execute("SELECT COUNT(DISTINCT customer) FROM row").fetchone()[0])

    def batches(self, size: int) -> Iterator[list[Spooled]]:
        """The rows in application order, ``size`` at a time, with their occurrence set."""
        cursor = self.db.execute(
            "SELECT customer, line, derived * (ROW_NUMBER() OVER (PARTITION BY key ORDER BY"
            " line) - 1), row_values, card, follow_up FROM row"
            " ORDER BY customer, occurred_at, line"
        )
        while chunk := cursor.fetchmany(size):
            yield [Spooled(line, _entry(customer, card, follow_up, n), values)
                   for customer, line, n, values, card, follow_up in chunk]

    def close(self) -> None:
        self.db.close()


def _entry(reference: str, card_json: bytes, follow_up: str | None, occurrence: int
           ) -> CardEntry:
    card = orjson.loads(card_json)
    if occurrence:  # an identical earlier row: this one is another contact
        card["contact_id"] = derived_contact_id(reference, card, occurrence)
    plan = FollowUpPlan.model_validate_json(follow_up) if follow_up else None
    return CardEntry(reference, card, plan)


Reject = Callable[[Rejection], None]
Progress = Callable[[int, int], None]  # (rows just recorded, rows to record in all)


def _with_columns(on_reject: Reject, header: list[str]) -> Reject:
    return lambda r: on_reject(Rejection(r.line, r.field, r.reason, r.values, header))


def run_import(stream: IO[str], settings: Settings, log: TouchpointLog | None, *,
               strict: bool, on_reject: Reject, dry_run: bool = False,
               progress: Progress | None = None,
               batch_size: int = BATCH_SIZE) -> Summary:
    """Validates, sorts and records the rows.

    A dry run records nothing: it reports what an import would record and skip, reading
    ``log`` (None when there is no database yet) to recognise contacts already there.
    """
    summary = Summary()
    with tempfile.TemporaryDirectory(prefix="touchlog-import-") as directory:
        spool = Spool(directory)
        try:
            header = _validate(stream, settings, spool, summary, on_reject)
            summary.customers = spool.customers()
            if dry_run:
                _preview(spool, log, summary, batch_size)
            elif log is not None and not (strict and summary.rejected):
                reject = _with_columns(on_reject, header)
                _record(spool, log, summary, reject, progress, batch_size)
        finally:
            spool.close()
    return summary


def _validate(stream: IO[str], settings: Settings, spool: Spool, summary: Summary,
              on_reject: Reject) -> list[str]:
    try:
        header, rows = read_rows(stream)
        for raw in rows:
            summary.rows += 1
            try:
                entry = parse_row(raw, settings)
                spool.add(card_entry(entry, settings), entry.contact.contact_id is None, raw)
            except InvalidInput as e:
                summary.rejected += 1
                on_reject(Rejection(raw.line, e.field, _reason(e), raw.values, header))
    except UnicodeDecodeError as e:
        raise InvalidInput("file", f"near data row {summary.rows + 1}",
                           f"not UTF-8 text ({e.reason})") from None
    spool.flush()
    return header


def _record(spool: Spool, log: TouchpointLog, summary: Summary,
            on_reject: Reject, progress: Progress | None, batch_size: int) -> None:
    for batch in spool.batches(batch_size):
        try:
            logged = [r.logged for r in log.log_cards([row.entry for row in batch])]
        except TouchlogError:
            # A rule only the stored state can check (a follow-up with nobody to own it):
            # record this batch row by row so only the offending rows are rejected.
            logged = [_one(log, row, summary, on_reject) for row in batch]
        summary.imported += sum(1 for flag in logged if flag)
        summary.duplicates += sum(1 for flag in logged if flag is False)
        if progress is not None:
            progress(len(batch), summary.rows - summary.rejected)
    from touchlog.projections.runner import Projector

    projector = Projector(log)
    try:
        projector.catch_up()
    finally:
        projector.close()


def _preview(spool: Spool, log: TouchpointLog | None, summary: Summary, batch_size: int) -> None:
    from touchlog.domain.errors import CustomerNotFound

    known: dict[str, set[str]] = {}
    for batch in spool.batches(batch_size):
        for row in batch:
            entry = row.entry
            if entry.reference not in known:
                try:
                    ids = set(log.customer(entry.reference).contact_ids) if log else set()
                except CustomerNotFound:
                    ids = set()
                known = {entry.reference: ids}  # rows arrive grouped by customer
            contact_id = entry.card["contact_id"]
            new = contact_id not in known[entry.reference]
            known[entry.reference].add(contact_id)
            summary.imported += new
            summary.duplicates += not new


def _one(log: TouchpointLog, row: Spooled, summary: Summary, on_reject: Reject) -> bool | None:
    try:
        return log.log_cards([row.entry])[0].logged
    except InvalidInput as e:
        summary.rejected += 1
        on_reject(Rejection(row.line, e.field, _reason(e), row.values, []))
        return None


def _reason(error: InvalidInput) -> str:
    return f"{error.reason} (got {error.value!r})" if error.value not in (None, "") \
        else error.reason
