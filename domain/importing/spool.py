"""The import's spool: validated rows on disk between its two passes (pipeline.py).

Pass 1 appends each good row as a compact JSON list, in blocks that are each one JSON
array; pass 2 reads them back in application order (customer, occurred_at, line), ``size``
at a time, as the ``CardEntry`` batches ``TouchpointLog.log_cards`` records. A file
already in that order is read back as written; any other is loaded into a temporary SQLite
table that sorts it. The values of each row as read are kept in a second file, found by
line when a row is rejected while it is recorded.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson

from touchlog.domain.application import CardEntry
from touchlog.domain.contact import FollowUpPlan, PlanValues
from touchlog.domain.customer import CARD_FIELDS
from touchlog.domain.errors import FileWriteError
from touchlog.domain.facts import FactEntry
from touchlog.domain.identity import derived_contact_id
from touchlog.domain.importing.csv_rows import ParsedRow, by_column
from touchlog.domain.importing.fact_rows import ParsedFact

BLOCK_ROWS = 5_000  # rows per block written, and per chunk read back from SQLite


# A card's fields in the order a card has them: a logged contact's (``ContactLogged``).
_CARD = CARD_FIELDS
# A record keeps the first two, the id and the time, as its own fields; ``card`` the others.
_KEEP = itemgetter(*_CARD[2:])


class _Record(NamedTuple):
    """A spooled row: written as one JSON list, read back through these names."""

    line: int
    reference: str
    occurred_at: str
    contact_id: str  # given, or derived before counting earlier identical rows
    derived: int  # 1 when the id was derived; read back through _COUNTED, its occurrence
    card: Any  # the values of the card's other fields in _CARD order (a list); a fact's (a dict)
    plan: list[Any] | None  # the PlanValues of its follow-up, if it has one
    kind: str | None  # None for a contact; a fact's kind (domain/facts.py), its time in card


# ``seq`` numbers the records in file order: a row of a mapping may give several.
_SORTED = ("SELECT line, customer, occurred_at, contact_id, derived, card, plan, kind FROM row"
           " ORDER BY customer, occurred_at, seq")
# The occurrence counted by SQLite over the whole file (see Spool.batches).
_COUNTED = _SORTED.replace("derived,", "derived * (ROW_NUMBER() OVER (PARTITION BY"
                           " contact_id ORDER BY seq) - 1),")


class SpooledBatch(NamedTuple):
    """Rows read back from the spool: their first lines and their entries, in order."""

    lines: list[int]
    entries: list[CardEntry | FactEntry]


class Encoded(NamedTuple):
    """A parsed row ready for the spool, with what ``Spool.append`` looks at."""

    reference: str
    occurred_at: str
    id_like_derived: bool  # a given contact_id that could equal a derived one
    record: bytes  # the _Record as JSON
    kind: str = "contact"  # of the row (domain/facts.py KINDS)


_dumps, _loads = orjson.dumps, orjson.loads  # JSON never holds a raw line break


class Spool:
    """Validated rows on disk, so sorting a huge file never needs it all in memory.

    Rows are appended to a file in blocks of BLOCK_ROWS; when they did not arrive in
    application order (customer, occurred_at, line), ``finish`` loads them into SQLite,
    which sorts them. The values as read go to a second file, block by block.
    """

    def __init__(self, directory: str | Path) -> None:
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
        reference, at = row.reference, row.occurred_at
        if reference != self.last[0]:
            self.in_order = self.in_order and reference > self.last[0]
            self.changes += 1
            self.last = (reference, at)
        elif at != self.last[1]:
            self.in_order = self.in_order and at > self.last[1]
            self.last = (reference, at)
        self.id_like_derived = self.id_like_derived or row.id_like_derived
        self.pending.append(row.record)
        self.pending_lines.append(line)
        self.pending_values.append(_dumps(values))
        if len(self.pending) >= BLOCK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with self.errors():
            self.blocks.append((self.pending_lines[0], self.values_file.tell()))
            _write(self.values_file,
                   b"\n".join([_dumps(self.pending_lines), *self.pending_values]))
            _write(self.rows, b"[%s]" % b",".join(self.pending))
        self.pending, self.pending_lines, self.pending_values = [], [], []

    def finish(self) -> None:
        """Ends the first pass: what is read back from now on is in application order."""
        self.flush()
        with self.errors():
            self.values_file.flush()
            self.rows.flush()
            if not self.in_order or self.id_like_derived:
                self._load_into_sqlite()

    @contextmanager
    def errors(self) -> Iterator[None]:
        """A full disk (or any other failure) of the spool as a FileWriteError naming it."""
        try:
            yield
        except (OSError, sqlite3.Error) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise FileWriteError(self.directory, f"the import's temporary files: {reason}") \
                from None

    def customers(self) -> int:
        if self.db is None:
            return self.changes
        return int(self.db.execute("SELECT COUNT(DISTINCT customer) FROM row").fetchone()[0])

    def batches(self, size: int) -> Iterator[SpooledBatch]:
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
        entries: list[CardEntry | FactEntry] = []
        for chunk in self._chunks():
            for record in chunk:
                if record.kind is not None:
                    if _merged(entries, record):
                        continue
                    lines.append(record.line)
                    entries.append(FactEntry(record.reference, record.kind,
                                             record.card.get("at"), record.card))
                    if len(entries) >= size and record.kind != "profile":  # see _merged
                        yield SpooledBatch(lines, entries)
                        lines, entries = [], []
                    continue
                occurrence = record.derived  # when not counting here, SQLite counted it
                if counting:
                    if record.occurred_at != group[1] or record.reference != group[0]:
                        group, seen = (record.reference, record.occurred_at), {}
                    earlier = seen.get(record.contact_id, 0)
                    seen[record.contact_id] = earlier + 1
                    occurrence = earlier if record.derived else 0
                lines.append(record.line)
                entries.append(_entry(record, occurrence))
                if len(entries) >= size:
                    yield SpooledBatch(lines, entries)
                    lines, entries = [], []
        if entries:
            yield SpooledBatch(lines, entries)

    def values(self, line: int) -> dict[str, str]:
        """The values of the row that starts at ``line``, as read from the file (the rows of a
        mapping that gives several contacts a row are kept once for each)."""
        block = bisect_right(self.blocks, line, key=lambda b: b[0]) - 1
        self.values_file.seek(self.blocks[block][1])
        lines, *values = _read(self.values_file).split(b"\n")
        return by_column(self.header, _loads(values[_loads(lines).index(line)]))

    def close(self) -> None:
        self.rows.close()
        self.values_file.close()
        if self.db is not None:
            self.db.close()

    def _blocks(self) -> Iterator[list[_Record]]:
        self.rows.seek(0)
        for _ in self.blocks:
            yield list(map(_Record._make, _loads(_read(self.rows))))

    def _chunks(self) -> Iterator[list[_Record]]:
        if self.db is None:
            yield from self._blocks()
            return
        with self.errors():  # sorting may need room on disk too
            cursor = self.db.execute(_COUNTED if self.id_like_derived else _SORTED)
        while chunk := cursor.fetchmany(BLOCK_ROWS):
            yield [_Record(line, reference, at, contact_id, n, _loads(card),
                           _loads(plan) if plan is not None else None, kind)
                   for line, reference, at, contact_id, n, card, plan, kind in chunk]

    def _load_into_sqlite(self) -> None:
        self.db = sqlite3.connect(self.directory / "spool.db")
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE row (seq INTEGER PRIMARY KEY, line INTEGER, customer TEXT,"
            " occurred_at TEXT, contact_id TEXT, derived INTEGER, card BLOB, plan BLOB,"
            " kind TEXT)")
        seq = 0
        for block in self._blocks():
            with self.db:
                self.db.executemany(
                    "INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(seq + n, r.line, r.reference, r.occurred_at, r.contact_id, r.derived,
                      _dumps(r.card), _dumps(r.plan) if r.plan is not None else None, r.kind)
                     for n, r in enumerate(block)])
            seq += len(block)


def encode(line: int, row: ParsedRow | ParsedFact) -> Encoded:
    """A parsed row as the spool keeps it (with what ``Spool.append`` looks at). A fact of
    another kind than contact is kept at its place among the customer's rows (its key)."""
    if row.__class__ is ParsedFact:
        fact: ParsedFact = row
        return Encoded(fact.reference, fact.key, False, _dumps(
            (line, fact.reference, fact.key, "", 0, fact.values, None, fact.kind)), fact.kind)
    card, plan = row.card, row.plan  # type: ignore[union-attr]
    at, contact_id = card["occurred_at"], card["contact_id"]
    record = _dumps((line, row.reference, at, contact_id, row.derived, _KEEP(card),  # type: ignore[union-attr]
                     tuple(plan) if plan is not None else None, None))
    return Encoded(row.reference, at, not row.derived and contact_id.startswith("c-"), record)  # type: ignore[union-attr]


def decoded(row: Encoded) -> tuple[int, CardEntry | FactEntry]:
    """An encoded row's line and entry, as pass 2 would record it (a dry run's preview)."""
    record = _Record._make(_loads(row.record))
    if record.kind is not None:
        return record.line, FactEntry(record.reference, record.kind, record.card.get("at"),
                                      record.card)
    return record.line, _entry(record, 0)


def _merged(entries: list[CardEntry | FactEntry], record: _Record) -> bool:
    """Adds a profile update to the one just before it of the same customer (the rows of
    a customer's profile in one file are one update, their later values over the earlier),
    so that importing the file again finds the profile as the file leaves it: nothing new."""
    last = entries[-1] if entries else None
    if (record.kind != "profile" or last is None or last.__class__ is not FactEntry
            or last.kind != "profile" or last.reference != record.reference):
        return False
    last.values.update({k: v for k, v in record.card.items() if v is not None})
    return True


def _write(out: BinaryIO, block: bytes) -> None:
    out.write(len(block).to_bytes(8, "little"))
    out.write(block)


def _read(source: BinaryIO) -> bytes:
    return source.read(int.from_bytes(source.read(8), "little"))


def _entry(record: _Record, occurrence: int) -> CardEntry:
    card = dict(zip(_CARD, (record.contact_id, record.occurred_at, *record.card), strict=True))
    if occurrence:  # an identical earlier row: this one is another contact
        card["contact_id"] = derived_contact_id(record.reference, card, occurrence)
    plan = record.plan
    return CardEntry(record.reference, card,
                     FollowUpPlan.from_stored(PlanValues._make(plan)) if plan else None)
