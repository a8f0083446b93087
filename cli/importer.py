"""The CSV import pipeline behind ``touchlog import`` (the contract is docs/import.md).

Two streaming passes keep memory flat whatever the file size:
1. read and validate every row; good rows are spooled to temporary files, bad rows
   reported. Nothing is recorded yet, so ``--strict`` and file-level errors (a bad header,
   broken encoding) always stop before the first write.
2. read the spool sorted by (customer, occurred_at, line) and record it in batches, each
   one ``TouchpointLog.log_cards`` call, which is one transaction. A killed import
   therefore leaves whole batches only, and ids derived from row content (plus the count
   of earlier identical rows) make the re-run skip what is already there.
Then the projections catch up, so the reporting tables hold the import when it ends. In a
big import they follow in a second process while pass 2 records, so most of that work is
done on the other core by then.

Rows are validated once, without a pydantic model per row (``RowParser``: the models'
rules, and a property test says they agree): the spool keeps each finished contact card as
a JSON list, and the second pass only reads it back. Rows that arrive in application order
(a file exported per customer and time) are read back as written; others are sorted by
SQLite. The row's values as read are kept aside, found by line when a row is rejected
while it is recorded (a follow-up nobody can own).
"""

from __future__ import annotations

import sqlite3
import tempfile
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import orjson

from touchlog.cli.csv_rows import ParsedRow, RowParser, by_column, read_lists
from touchlog.cli.parallel import InOrder
from touchlog.domain.application import CardEntry
from touchlog.domain.contact import FollowUpPlan
from touchlog.domain.errors import InvalidInput, TouchlogError
from touchlog.domain.identity import derived_contact_id

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.settings import Settings

BATCH_SIZE = 5_000
# From this many rows to record, the projections follow in a second process meanwhile
# (projections/runner.py ``projecting_alongside``); starting it costs about 0.3 s.
PROJECT_ALONGSIDE_FROM = 10_000


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


# A spooled row: line, customer reference, occurred_at, contact id (before any occurrence),
# derived (or, read back, the occurrence), then the card's values in _CARD order followed by
# the follow-up's due time, owner and purpose when it has one.
Record = tuple[int, str, str, str, int, tuple[Any, ...]]
_CARD = itemgetter("channel", "initiated_by", "purpose", "summary", "place", "actor",
                   "outcome", "rating", "amount", "stage_signal", "deliberate", "hard",
                   "active")
_SORTED = ("SELECT line, customer, occurred_at, contact_id, derived, card FROM row"
           " ORDER BY customer, occurred_at, line")
# The occurrence counted by SQLite over the whole file (see Spool.batches).
_COUNTED = _SORTED.replace("derived,", "derived * (ROW_NUMBER() OVER (PARTITION BY"
                           " contact_id ORDER BY line) - 1),")

Batch = tuple[list[int], list[CardEntry]]  # the rows' first lines and their entries
# A parsed row ready for the spool: reference, occurred_at, whether a given contact_id looks
# like a derived one, and the Record as JSON.
Encoded = tuple[str, str, bool, bytes]
_dumps, _loads = orjson.dumps, orjson.loads  # JSON never holds a raw line break


class Spool:
    """Validated rows on disk, so sorting a huge file never needs it all in memory.

    Rows are appended to a file in blocks of BATCH_SIZE; when they did not arrive in
    application order (customer, occurred_at, line), ``finish`` loads them into SQLite,
    which sorts them. The values as read go to a second file, block by block.
    """

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.rows: BinaryIO = (self.directory / "rows").open("w+b")
        self.values_file: BinaryIO = (self.directory / "values").open("w+b")
        self.blocks: list[tuple[int, int]] = []  # (first line, offset in values_file)
        # Rows wait as the bytes written out: few live objects for the garbage collector.
        self.pending: list[bytes] = []
        self.pending_lines: list[int] = []
        self.pending_values: list[bytes] = []
        self.in_order, self.last, self.changes = True, ("", ""), 0
        self.id_like_derived = False  # a given contact_id that could equal a derived one
        self.db: sqlite3.Connection | None = None  # when SQLite sorts the rows
        self.header: list[str] = []  # the file's, to name the values of a row read back

    def append(self, line: int, values: list[str], row: Encoded) -> None:
        reference, at, id_like_derived, record = row
        if reference != self.last[0]:
            self.in_order = self.in_order and reference > self.last[0]
            self.changes += 1
            self.last = (reference, at)
        elif at != self.last[1]:
            self.in_order = self.in_order and at > self.last[1]
            self.last = (reference, at)
        self.id_like_derived = self.id_like_derived or id_like_derived
        self.pending.append(record)
        self.pending_lines.append(line)
        self.pending_values.append(_dumps(values))
        if len(self.pending) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.blocks.append((self.pending_lines[0], self.values_file.tell()))
        _write(self.values_file, b"\n".join([_dumps(self.pending_lines), *self.pending_values]))
        _write(self.rows, b"\n".join(self.pending))
        self.pending, self.pending_lines, self.pending_values = [], [], []

    def finish(self) -> None:
        """Ends the first pass: what is read back from now on is in application order."""
        self.flush()
        self.values_file.flush()
        if not self.in_order or self.id_like_derived:
            self._load_into_sqlite()

    def customers(self) -> int:
        if self.db is None:
            return self.changes
        return int(self.db.execute("SELECT COUNT(DISTINCT customer) FROM row").fetchone()[0])

    def batches(self, size: int) -> Iterator[Batch]:
        """The rows in application order, ``size`` at a time, with their occurrence set.

        The occurrence is the number of rows before with the same id. Rows with the same
        derived id have the same customer and time, so they arrive together and are counted
        on the way; only a given contact_id that looks like a derived one needs SQLite to
        count over the whole file (_COUNTED).
        """
        counting = not self.id_like_derived
        group, seen = ("", ""), {}  # the customer and time read last, and their ids' counts
        lines: list[int] = []
        entries: list[CardEntry] = []
        for chunk in self._chunks():
            for line, reference, at, contact_id, n, card in chunk:
                if counting:
                    if at != group[1] or reference != group[0]:
                        group, seen = (reference, at), {}
                    earlier = seen.get(contact_id, 0)
                    seen[contact_id] = earlier + 1
                    n = earlier if n else 0  # n was whether the id is derived
                lines.append(line)
                entries.append(_entry(reference, at, contact_id, n, card))
                if len(entries) == size:
                    yield lines, entries
                    lines, entries = [], []
        if entries:
            yield lines, entries

    def values(self, line: int) -> dict[str, str]:
        """The values of the row that starts at ``line``, as read from the file."""
        block = bisect_right(self.blocks, line, key=lambda b: b[0]) - 1
        self.values_file.seek(self.blocks[block][1])
        lines, *values = _read(self.values_file).split(b"\n")
        return by_column(self.header, _loads(values[_loads(lines).index(line)]))

    def close(self) -> None:
        self.rows.close()
        self.values_file.close()
        if self.db is not None:
            self.db.close()

    def _blocks(self) -> Iterator[list[Record]]:
        self.rows.seek(0)
        for _ in self.blocks:
            yield [_loads(row) for row in _read(self.rows).split(b"\n")]

    def _chunks(self) -> Iterator[list[Record]]:
        if self.db is None:
            yield from self._blocks()
            return
        cursor = self.db.execute(_COUNTED if self.id_like_derived else _SORTED)
        while chunk := cursor.fetchmany(BATCH_SIZE):
            yield [(line, reference, at, contact_id, n, _loads(card))
                   for line, reference, at, contact_id, n, card in chunk]

    def _load_into_sqlite(self) -> None:
        self.db = sqlite3.connect(self.directory / "spool.db")
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE row (line INTEGER PRIMARY KEY, customer TEXT, occurred_at TEXT,"
            " contact_id TEXT, derived INTEGER, card BLOB)")
        for block in self._blocks():
            with self.db:
                self.db.executemany(
                    "INSERT INTO row VALUES (?, ?, ?, ?, ?, ?)",
                    [(*record[:5], _dumps(record[5])) for record in block])


def encode(line: int, row: ParsedRow) -> Encoded:
    """A parsed row as the spool keeps it (with what ``Spool.append`` looks at)."""
    reference, card, plan, derived = row
    at, contact_id, kept = card["occurred_at"], card["contact_id"], _CARD(card)
    record = _dumps((line, reference, at, contact_id, derived, kept + plan if plan else kept))
    return reference, at, not derived and contact_id.startswith("c-"), record


def _write(out: BinaryIO, block: bytes) -> None:
    out.write(len(block).to_bytes(8, "little"))
    out.write(block)


def _read(source: BinaryIO) -> bytes:
    return source.read(int.from_bytes(source.read(8), "little"))


def _entry(reference: str, at: str, contact_id: str, occurrence: int, v: tuple[Any, ...]
           ) -> CardEntry:
    card = {"occurred_at": at, "channel": v[0], "initiated_by": v[1], "purpose": v[2],
            "summary": v[3], "place": v[4], "actor": v[5], "outcome": v[6], "rating": v[7],
            "amount": v[8], "stage_signal": v[9], "contact_id": contact_id,
            "deliberate": v[10], "hard": v[11], "active": v[12]}
    if occurrence:  # an identical earlier row: this one is another contact
        card["contact_id"] = derived_contact_id(reference, card, occurrence)
    plan = FollowUpPlan.from_stored(v[13], v[14], v[15]) if len(v) > 13 else None
    return CardEntry(reference, card, plan)


Reject = Callable[[Rejection], None]
Progress = Callable[[int, int], None]  # (rows just recorded, rows to record in all)


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
            _validate(stream, settings, spool, summary, on_reject)
            summary.customers = spool.customers()
            if dry_run:
                _preview(spool, log, summary, batch_size)
            elif log is not None and not (strict and summary.rejected):
                _record(spool, log, summary, on_reject, progress, batch_size)
        finally:
            spool.close()
    return summary


def _validate(stream: IO[str], settings: Settings, spool: Spool, summary: Summary,
              on_reject: Reject) -> None:
    try:
        header, rows = read_lists(stream)
        spool.header = header
        with InOrder(partial(_parse_unit, RowParser(header, settings))) as parsing:
            for unit, results in parsing.parsed(_units(rows, summary)):
                for (line, values), result in zip(unit, results, strict=True):
                    if len(result) == 2:
                        summary.rejected += 1
                        field, reason = result
                        on_reject(Rejection(line, field, reason, by_column(header, values),
                                            header))
                    else:
                        spool.append(line, values, result)  # type: ignore[arg-type]
    except UnicodeDecodeError as e:
        raise InvalidInput("file", f"near data row {summary.rows + 1}",
                           f"not UTF-8 text ({e.reason})") from None
    spool.finish()


def _record(spool: Spool, log: TouchpointLog, summary: Summary,
            on_reject: Reject, progress: Progress | None, batch_size: int) -> None:
    from touchlog.projections.runner import (
        ALONGSIDE_BATCH_SIZE,
        Projector,
        projecting_alongside,
    )

    # The reporting tables exist before anything is recorded. Whatever the follower left is
    # applied in its small batches too, which keeps this process's memory flat.
    projector = Projector(log, batch_size=ALONGSIDE_BATCH_SIZE)
    big = summary.rows - summary.rejected >= PROJECT_ALONGSIDE_FROM
    try:
        with projecting_alongside(log) if big else nullcontext():
            for lines, entries in spool.batches(batch_size):
                try:
                    logged = [r.logged for r in log.log_cards(entries)]
                except TouchlogError:
                    # A rule only the stored state can check (a follow-up with nobody to
                    # own it): record this batch row by row so only offending rows are
                    # rejected.
                    logged = [_one(log, spool, line, entry, summary, on_reject)
                              for line, entry in zip(lines, entries, strict=True)]
                summary.imported += sum(1 for flag in logged if flag)
                summary.duplicates += sum(1 for flag in logged if flag is False)
                if progress is not None:
                    progress(len(entries), summary.rows - summary.rejected)
        projector.catch_up()
    finally:
        projector.close()


def _preview(spool: Spool, log: TouchpointLog | None, summary: Summary, batch_size: int) -> None:
    from touchlog.domain.errors import CustomerNotFound

    known: dict[str, set[str]] = {}
    for _lines, entries in spool.batches(batch_size):
        for entry in entries:
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


def _one(log: TouchpointLog, spool: Spool, line: int, entry: CardEntry, summary: Summary,
         on_reject: Reject) -> bool | None:
    try:
        return log.log_cards([entry])[0].logged
    except InvalidInput as e:
        summary.rejected += 1
        on_reject(Rejection(line, e.field, _reason(e), spool.values(line), spool.header))
        return None


# -- pass 1: rows in units, parsed on two cores (cli/parallel.py) ----------------------

UNIT_ROWS = 500  # rows read, then parsed here or by the helper process, at a time

Unit = list[tuple[int, list[str]]]  # rows: first line and values
Parsed = list[Encoded | tuple[str, str]]  # each row encoded, or refused: (field, reason)


def _parse_unit(parse: RowParser, unit: Unit) -> Parsed:
    results: Parsed = []
    for line, values in unit:
        try:
            results.append(encode(line, parse(values)))
        except InvalidInput as e:
            results.append((e.field, _reason(e)))
    return results


def _units(rows: Iterator[tuple[int, list[str]]], summary: Summary) -> Iterator[Unit]:
    """The rows UNIT_ROWS at a time, counted as read. A file error is raised after the rows
    before it, so that these are reported first, as when rows were checked one by one."""
    unit: Unit = []
    error = None
    try:
        for row in rows:
            summary.rows += 1
            unit.append(row)
            if len(unit) == UNIT_ROWS:
                yield unit
                unit = []
    except Exception as e:
        error = e
    if unit:
        yield unit
    if error is not None:
        raise error


def _reason(error: InvalidInput) -> str:
    return f"{error.reason} (got {error.value!r})" if error.value not in (None, "") \
        else error.reason
