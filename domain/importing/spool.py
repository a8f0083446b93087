"""The import's spool: validated rows on disk between its two passes (cli/importer.py).

Pass 1 appends each good row as one compact JSON list, in blocks; pass 2 reads them back in
application order (customer, occurred_at, line), ``size`` at a time, as the ``CardEntry``
batches ``TouchpointLog.log_cards`` records. A file already in that order is read back as
written; any other is loaded into a temporary SQLite table that sorts it. The values of
each row as read are kept in a second file, found by line when a row is rejected while it
is recorded.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from touchlog.domain.application import CardEntry
from touchlog.domain.contact import FollowUpPlan
from touchlog.domain.identity import derived_contact_id
from touchlog.domain.importing.csv_rows import ParsedRow, by_column

BLOCK_ROWS = 5_000  # rows per block written, and per chunk read back from SQLite

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

    Rows are appended to a file in blocks of BLOCK_ROWS; when they did not arrive in
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
        if len(self.pending) >= BLOCK_ROWS:
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
        group = ("", "")  # the customer and time read last
        seen: dict[str, int] = {}  # and the counts of their ids
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
        while chunk := cursor.fetchmany(BLOCK_ROWS):
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
