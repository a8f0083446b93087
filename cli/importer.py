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
rules, and a property test says they agree): the spool (cli/spool.py) keeps each finished
contact card, and the second pass only reads it back. A forked helper parses rows on the
second core meanwhile (cli/parallel.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import IO, TYPE_CHECKING

from touchlog.cli.csv_rows import RowParser, by_column, read_lists
from touchlog.cli.parallel import InOrder
from touchlog.cli.spool import Encoded, Spool, encode
from touchlog.domain.application import CardEntry
from touchlog.domain.errors import InvalidInput, TouchlogError

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


Reject = Callable[[Rejection], None]
Progress = Callable[[int, int], None]  # (rows just recorded, rows to record in all)


def run_import(stream: IO[str], settings: Settings,
               open_log: Callable[[], TouchpointLog | None], *, strict: bool,
               on_reject: Reject, dry_run: bool = False, progress: Progress | None = None,
               batch_size: int = BATCH_SIZE) -> Summary:
    """Validates, sorts and records the rows.

    The log is opened (``open_log``) only once the file is read and something is to be
    recorded, so a refused file leaves no new database behind. A dry run records nothing:
    it reports what an import would record and skip, reading the log (None when there is
    no database yet) to recognise contacts already there.
    """
    summary = Summary()
    with tempfile.TemporaryDirectory(prefix="touchlog-import-") as directory:
        spool = Spool(directory)
        try:
            _validate(stream, settings, spool, summary, on_reject)
            summary.customers = spool.customers()
            if dry_run:
                _preview(spool, open_log(), summary, batch_size)
            elif summary.rows > summary.rejected and not (strict and summary.rejected):
                log = open_log()
                if log is not None:
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
