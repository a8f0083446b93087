"""The CSV import pipeline behind ``touchlog import`` (the contract is docs/import.md).

Two streaming passes keep memory flat whatever the file size:
1. read and validate every row; good rows are spooled to temporary files, bad rows
   reported. Nothing is recorded yet, so ``--strict`` and file-level errors (a bad header,
   broken encoding) always stop before the first write.
2. read the spool sorted by (customer, occurred_at, line) and record it in batches, each
   one ``TouchpointLog.log_cards`` call, which is one transaction. A killed import
   therefore leaves whole batches only, and ids derived from row content (plus the count
   of earlier identical rows) make the re-run skip what is already there.
The caller may run something beside pass 2 (``recording``): the CLI keeps the reporting
tables following the import that way (projections/engine/runner.py ``following_import``).

Rows are validated once, by ``RowParser`` (csv_rows.py): the spool (spool.py) keeps each
finished contact card, and the second pass only reads it back. A forked helper parses rows
on the second core meanwhile (parallel.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, NamedTuple, Protocol

from touchlog.domain.application import TouchpointLog, write_refused
from touchlog.domain.errors import InvalidInput, StoreError
from touchlog.domain.importing.csv_rows import RowParser, by_column, read_lists
from touchlog.domain.importing.parallel import ParallelParser
from touchlog.domain.importing.spool import Encoded, Spool, encode
from touchlog.domain.settings import Settings
from touchlog.domain.storage.location import locate
from touchlog.domain.storage.scratch import scratch_folder

ROWS_PER_TRANSACTION = 5_000
SPOOL_KIND = "import"  # the spool's folder: .touchlog-import-PID-… beside the database


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
# Run around pass 2, given the log and the number of rows to record.
Recording = Callable[[TouchpointLog, int], AbstractContextManager[object]]


class LogOpener(Protocol):
    """A log opened only when something is to be recorded (None: no database to read)."""

    settings: Settings

    def __call__(self) -> TouchpointLog | None: ...


def import_file(log: TouchpointLog | LogOpener, source: str | Path | IO[str], *,
                strict: bool = False, dry_run: bool = False, on_reject: Reject | None = None,
                progress: Progress | None = None, batch_size: int = ROWS_PER_TRANSACTION,
                recording: Recording | None = None) -> Summary:
    """Validates, sorts and records the contacts of a CSV file (a path, or a text stream).

    ``log`` is the log, or a ``LogOpener`` called only once the file is read and something
    is to be recorded, so a refused file leaves no new database behind. ``strict`` records
    nothing if any row is bad. A dry run records nothing: it reports what an import would
    record and skip, reading the log to recognise contacts already there. Every refused row
    is passed to ``on_reject``; ``recording`` runs around the second pass.

    Example: ``import_file(log, "contacts.csv").imported``
    """
    open_log: Callable[[], TouchpointLog | None] = (
        (lambda: log) if isinstance(log, TouchpointLog) else log)
    summary = Summary()
    with ExitStack() as stack:
        stream = source if not isinstance(source, str | Path) else stack.enter_context(
            _opened(Path(source)))
        location = locate(log.settings.db)
        if not dry_run and location.exists() and location.database.read_only(location):
            raise write_refused(location, read_only=True)  # before any work, and any spool
        directory = stack.enter_context(scratch_folder(SPOOL_KIND, location.path))
        spool = Spool(directory)
        stack.callback(spool.close)
        _validate(stream, log.settings, spool, summary, on_reject or _ignore)
        summary.customers = spool.customers()
        if dry_run:
            _preview(spool, open_log(), summary, batch_size)
        elif summary.rows > summary.rejected and not (strict and summary.rejected):
            opened = open_log()
            if opened is not None:
                recorded = False
                try:
                    with recording(opened, summary.rows - summary.rejected) if recording \
                            else nullcontext():
                        _record(spool, opened, summary, on_reject or _ignore, progress,
                                batch_size)
                        recorded = True
                except StoreError as e:
                    raise StoreError(f"{e}; {_progress(summary, recorded)}") from None
    return summary


def _progress(summary: Summary, recorded: bool) -> str:
    """How far an import stopped by a database error got, and what to do about the rest."""
    valid = summary.rows - summary.rejected
    done = summary.imported + summary.duplicates
    if recorded:
        return (f"all {done} rows were recorded, but the reporting tables were not brought "
                "up to date ('touchlog projections run' does it)")
    if not done:
        return f"none of the {valid} rows were recorded"
    return (f"{done} of {valid} rows were recorded ({summary.imported} new, "
            f"{summary.duplicates} already there) and {valid - done} were not; importing "
            "the same file again records those and skips the rest")


def _opened(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InvalidInput("file", str(path), f"cannot read: {e.strerror}") from None


def _ignore(rejection: Rejection) -> None:
    pass


def _validate(stream: IO[str], settings: Settings, spool: Spool, summary: Summary,
              on_reject: Reject) -> None:
    try:
        header, rows = read_lists(stream)
        spool.header = header
        with ParallelParser(partial(_parse_unit, RowParser(header, settings))) as parsing:
            for unit, results in parsing.parsed(_units(rows, summary)):
                for (line, values), result in zip(unit, results, strict=True):
                    if isinstance(result, Refused):
                        summary.rejected += 1
                        on_reject(Rejection(line, result.field, result.reason,
                                            by_column(header, values), header))
                    else:
                        spool.append(line, values, result)
    except UnicodeDecodeError as e:
        raise InvalidInput("file", f"near data row {summary.rows + 1}",
                           f"not UTF-8 text ({e.reason})") from None
    spool.finish()


def _record(spool: Spool, log: TouchpointLog, summary: Summary,
            on_reject: Reject, progress: Progress | None, batch_size: int) -> None:
    for lines, entries in spool.batches(batch_size):
        refused: dict[int, InvalidInput] = {}
        try:
            recorded = log.log_cards(entries)
        except InvalidInput:
            # A rule only the stored state can check (a follow-up with nobody to own it):
            # the batch again, still one transaction, without the rows it refuses.
            recorded = log.log_cards(entries, refused=refused)
        for index, error in sorted(refused.items()):
            summary.rejected += 1
            on_reject(Rejection(lines[index], error.field, _reason(error),
                                spool.values(lines[index]), spool.header))
        summary.imported += sum(1 for r in recorded if r.logged)
        summary.duplicates += len(recorded) - len(refused) - sum(1 for r in recorded if r.logged)
        if progress is not None:
            progress(len(entries), summary.rows - summary.rejected)


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


# -- pass 1: rows in units, parsed on two cores (parallel.py) --------------------------

UNIT_ROWS = 500  # rows read, then parsed here or by the helper process, at a time

Unit = list[tuple[int, list[str]]]  # rows: first line and values


class Refused(NamedTuple):
    """A row's refusal as parsing gives it: the CSV column and the reason."""

    field: str
    reason: str


Parsed = list[Encoded | Refused]  # each row of a unit, encoded or refused


def _parse_unit(parse: RowParser, unit: Unit) -> Parsed:
    results: Parsed = []
    for line, values in unit:
        try:
            results.append(encode(line, parse(values)))
        except InvalidInput as e:
            results.append(Refused(e.field, _reason(e)))
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
