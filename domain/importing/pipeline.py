"""The import pipeline behind ``touchlog import`` (the contract is docs/import.md).

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

Rows are read by sources.py (CSV, TSV, white-space columns, JSON Lines, .xlsx) and turned
into contacts once, by a mapping (mapping.py; without one, the plain contract is the
identity mapping) compiled into a ``RowReader`` (records.py) over ``RowParser``
(csv_rows.py): the spool (spool.py) keeps each finished contact card, and the second pass
only reads it back. A forked helper parses rows on the second core meanwhile (parallel.py).
"""

from __future__ import annotations

import codecs
import io
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from functools import partial
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

from touchlog.domain.application import (
    ImportOrigin,
    ImportStart,
    OnChange,
    Provenance,
    TouchpointLog,
    write_refused,
)
from touchlog.domain.errors import InvalidInput, MappingError, StoreError
from touchlog.domain.importing.csv_rows import by_column, check_header, without_rejects_columns
from touchlog.domain.importing.fact_rows import check_kinds_header
from touchlog.domain.importing.mapping import identity
from touchlog.domain.importing.parallel import ParallelParser
from touchlog.domain.importing.reading import Reading
from touchlog.domain.importing.records import RowReader, RowRefused, Unlisted
from touchlog.domain.importing.sources import read_table
from touchlog.domain.importing.spool import Encoded, Spool, encode
from touchlog.domain.importing.summary import PREVIEW_ROWS, Rejection, Summary, shown
from touchlog.domain.importing.undo import undo_import
from touchlog.domain.memory import between_batches, bulk_collection
from touchlog.domain.settings import Settings
from touchlog.domain.storage.location import locate
from touchlog.domain.storage.scratch import scratch_folder

ROWS_PER_TRANSACTION = 5_000
UNKNOWN_CUSTOMER = "a customer the log does not hold (--existing-only)"
SPOOL_KIND = "import"  # the spool's folder: .touchlog-import-PID-… beside the database
__all__ = ["LogOpener", "Reading", "Rejection", "Summary", "import_file"]

Reject = Callable[[Rejection], None]
Progress = Callable[[int, int], None]  # (rows just recorded, rows to record in all)
# Run around pass 2, given the log and the number of rows to record.
Recording = Callable[[TouchpointLog, int], AbstractContextManager[object]]


class LogOpener(Protocol):
    """A log opened only when something is to be recorded (None: no database to read)."""

    settings: Settings

    def __call__(self) -> TouchpointLog | None: ...


def import_file(log: TouchpointLog | LogOpener, source: str | Path | IO[str] | IO[bytes], *,
                reading: Reading | None = None, strict: bool = False, dry_run: bool = False,
                on_reject: Reject | None = None, progress: Progress | None = None,
                batch_size: int = ROWS_PER_TRANSACTION,
                recording: Recording | None = None, existing_only: bool = False,
                on_change: str = "reject", actor: str | None = None,
                replaces: str | None = None) -> Summary:
    """Validates, sorts and records the contacts of a file (a path, or a stream).

    ``reading`` says how the file is read: a mapping and the options over it; without one,
    the file is CSV in the plain contract (docs/import.md). ``log`` is the log, or a
    ``LogOpener`` called only once the file is read and something is to be recorded, so a
    refused file leaves no new database behind. ``strict`` records nothing if any row is
    bad. A dry run records nothing: it reports what an import would record and skip,
    reading the log to recognise contacts already there. ``existing_only`` rejects the rows
    of customers the log does not hold (before anything is recorded, so ``strict`` counts
    them). Every refused row is passed to ``on_reject``; ``recording`` runs around the
    second pass. A row whose contact id is
    stored with other content is counted ``changed`` and rejected, recorded as an
    amendment of the fields that differ, or skipped, as ``on_change`` says (``reject``,
    ``amend``, ``skip``).

    An import that records is itself recorded (domain/imports.py): the file's name and
    sha256, the mapping's, ``actor`` (default: the user running it), the import it
    ``replaces``, and at its end its counts; ``Summary.import_id`` names it, and every
    event it writes names it and its line. The import it ``replaces`` is undone
    (undo.py) once the file is read and before anything of it is recorded.

    Example: ``import_file(log, "visits.jsonl", reading=Reading.of("visits.toml",
    log.settings)).imported``
    """
    open_log: Callable[[], TouchpointLog | None] = (
        (lambda: log) if isinstance(log, TouchpointLog) else log)
    reading = reading or Reading()
    zone = reading.zone(log.settings)
    summary = Summary()
    with ExitStack() as stack:
        stream = source if not isinstance(source, str | Path) else stack.enter_context(
            _opened(Path(source)))
        origin = ImportOrigin(_name(source, stream), file_sha256(stream),
                              reading.mapping_sha256,
                              actor or user(), replaces)
        location = locate(log.settings.db)
        if not dry_run and location.exists() and location.database.read_only(location):
            raise write_refused(location, read_only=True)  # before any work, and any spool
        directory = stack.enter_context(scratch_folder(SPOOL_KIND, location.path))
        spool = Spool(directory)
        stack.callback(spool.close)
        _validate(stream, reading, zone, log.settings, spool, summary, on_reject or _ignore)
        summary.customers = spool.customers()
        unknown: set[str] = set()
        if existing_only:
            held = open_log() if location.exists() else None
            unknown = _unknown_customers(spool, held, summary, on_reject or _ignore,
                                         batch_size)
        if dry_run:
            _preview(spool, open_log(), summary, batch_size, unknown)
        elif summary.contacts and summary.customers and not (strict and summary.rejected):
            opened = open_log()
            if opened is not None:
                recorded = False
                try:
                    if replaces is not None:
                        summary.replaced = undo_import(
                            opened, replaces, f"replaced by an import of {origin.file_name}",
                            origin.actor)
                    start = ImportStart.now(origin)
                    summary.import_id = start.import_id
                    with recording(opened, summary.contacts) if recording \
                            else nullcontext():
                        _record(spool, opened, summary, on_reject or _ignore, progress,
                                batch_size, OnChange(on_change,
                                                     reason=f"import {summary.import_id}"),
                                start, unknown)
                        opened.finish_import(summary.import_id, summary.counts())
                        recorded = True
                except StoreError as e:
                    raise StoreError(f"{e}; {_progress(summary, recorded)}") from None
    return summary


def _progress(summary: Summary, recorded: bool) -> str:
    """How far an import stopped by a database error got, and what to do about the rest."""
    valid = summary.contacts
    done = summary.imported + summary.duplicates + summary.changed
    if recorded:
        return (f"all {done} rows were recorded, but the reporting tables were not brought "
                "up to date ('touchlog projections run' does it)")
    if not done:
        return f"none of the {valid} rows were recorded"
    return (f"{done} of {valid} rows were recorded ({summary.imported} new, "
            f"{summary.duplicates} already there) and {valid - done} were not; importing "
            "the same file again records those and skips the rest")


def user() -> str:
    """Who runs this process, as the operating system names them."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _name(source: str | Path | IO[Any], stream: IO[Any]) -> str:
    return str(source) if isinstance(source, str | Path) else str(
        getattr(stream, "name", "<stream>"))


def file_sha256(stream: IO[Any]) -> str | None:
    """The sha256 of a stream's bytes from where it stands, which it is put back to; None
    for a stream that cannot be read twice (a pipe, a device such as /dev/zero) or that
    gives text."""
    import hashlib
    import os
    import stat

    try:
        if not stream.seekable():
            return None
        try:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return None
        except (AttributeError, io.UnsupportedOperation):
            pass  # an in-memory stream: read twice all the same
        start = stream.tell()
        digest = hashlib.sha256()
        while chunk := stream.read(1 << 20):
            if not isinstance(chunk, bytes):
                stream.seek(start)
                return None
            digest.update(chunk)
        stream.seek(start)
    except (OSError, ValueError):
        return None
    return digest.hexdigest()


def _opened(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as e:
        raise InvalidInput("file", str(path), f"cannot read: {e.strerror}") from None


def _ignore(rejection: Rejection) -> None:
    pass


def _validate(stream: IO[Any], reading: Reading, zone: Any, settings: Settings, spool: Spool,
              summary: Summary, on_reject: Reject) -> None:
    source = reading.source(stream)
    mapping = reading.mapping
    try:
        columns, rows = read_table(stream, source, mapping.columns() if mapping else ())
        if mapping is None:
            if reading.kind is not None or "kind" in without_rejects_columns(columns):
                check_kinds_header(columns, source.delimiter, reading.kind)
            else:
                check_header(columns, source.delimiter)
            mapping = identity(columns, reading.kind)
        else:
            mapping.check_columns(columns)
        header = without_rejects_columns(columns)
        spool.header = header
        names = [record.name for record in mapping.records]
        counts = [0] * len(names)  # contacts per record
        unlisted: dict[str, Counter[str]] = {}
        reader = RowReader(columns, mapping, settings, zone)
        append = spool.append
        kinds = summary.kinds if any("kind" in r.fields for r in mapping.records) else None
        with ParallelParser(partial(_parse_unit, reader.read)) as parsing:
            for unit, results in parsing.parsed(_units(rows, summary)):
                for (line, values), result in zip(unit, results, strict=True):
                    if result.__class__ is Refused:
                        if result.unlisted:
                            unlisted.setdefault(result.field, Counter())[result.value] += 1
                            continue
                        summary.rejected += 1
                        on_reject(Rejection(line, result.field, _reason_text(result),
                                            by_column(header, values), header, result.reason,
                                            result.value, result.rule))
                        continue
                    if not result:
                        summary.skipped += 1
                    for number, row in result:
                        counts[number] += 1
                        append(line, values, row)
                        if kinds is not None:
                            kinds[row.kind] += 1
                if len(summary.preview) < PREVIEW_ROWS:
                    _preview_of(unit, results, names, summary.preview)
        summary.records = dict(zip(names, counts, strict=True))
    except UnicodeDecodeError as e:
        name = "UTF-8" if codecs.lookup(source.encoding).name == "utf-8" else source.encoding
        raise InvalidInput("file", f"near data row {summary.rows + 1}",
                           f"not {name} text ({e.reason}); name the file's "
                           "encoding with --encoding (e.g. cp1252, latin-1, gb18030) or in "
                           "the mapping's [source]") from None
    if unlisted:
        raise MappingError(mapping.path, [(place, _unlisted(values))
                                          for place, values in unlisted.items()])
    spool.finish()


def _unlisted(values: Counter[str]) -> str:
    shown = ", ".join(f"{value!r} ({count:,} row{'s' if count > 1 else ''})"
                      for value, count in values.most_common(10))
    more = f" and {len(values) - 10} more" if len(values) > 10 else ""
    return (f"the map has no default, and the file has values it does not list: {shown}"
            f"{more}; add them to the map or give it a default; nothing was imported")


def _preview_of(unit: Unit, results: Parsed, names: list[str],
                preview: list[dict[str, Any]]) -> None:
    """The first contacts of a unit, as they would be recorded, up to PREVIEW_ROWS."""
    for result in results:
        if isinstance(result, Refused):
            continue
        for number, row in result:
            if len(preview) < PREVIEW_ROWS:
                preview.append(shown(row, names[number]))


def _unknown_customers(spool: Spool, log: TouchpointLog | None, summary: Summary,
                       on_reject: Reject, batch_size: int) -> set[str]:
    """The customers of the spool the log does not hold (none: a log not made yet), each of
    their rows rejected, naming the closest existing references."""
    from touchlog.domain.identity import closest_references
    from touchlog.domain.storage.events import registered_references

    known = registered_references(log) if log is not None else []
    unknown: dict[str, str] = {}  # reference -> the reason its rows are rejected
    for lines, entries in spool.batches(batch_size):
        references = {e.reference for e in entries} - unknown.keys()
        held = log.existing(references) if log is not None else set()
        for reference in references - held:
            close = closest_references(reference, known)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            unknown[reference] = f"no customer {reference!r} (--existing-only){hint}"
        for line, entry in zip(lines, entries, strict=True):
            reason = unknown.get(entry.reference)
            if reason is not None:
                summary.rejected += 1
                on_reject(Rejection(line, "customer", reason, spool.values(line), spool.header,
                                    UNKNOWN_CUSTOMER, entry.reference))
    summary.customers -= len(unknown)
    return set(unknown)


def _record(spool: Spool, log: TouchpointLog, summary: Summary, on_reject: Reject,
            progress: Progress | None, batch_size: int, on_change: OnChange,
            start: ImportStart, unknown: set[str]) -> None:
    """Records the spool in batches, one transaction each, leaving out the rows of
    ``unknown`` customers (rejected already: --existing-only); the first batch also records
    the import's start."""
    starting: ImportStart | None = start
    with bulk_collection():
        for lines, entries in spool.batches(batch_size):
            between_batches()
            if unknown:
                kept = [i for i, e in enumerate(entries) if e.reference not in unknown]
                lines, entries = [lines[i] for i in kept], [entries[i] for i in kept]
                if not entries:
                    continue
            refused: dict[int, InvalidInput] = {}
            provenance = Provenance(start.import_id, lines, starting)
            starting = None
            try:
                recorded = log.log_cards(entries, on_change=on_change, provenance=provenance)
            except InvalidInput:
                # A rule only the stored state can check (a follow-up with nobody to own it,
                # other content under a stored id): the batch again, still one transaction,
                # without the rows it refuses.
                recorded = log.log_cards(entries, refused=refused, on_change=on_change,
                                         provenance=provenance)
            for index, error in sorted(refused.items()):
                summary.rejected += 1
                on_reject(Rejection(lines[index], error.field, _reason(error),
                                    spool.values(lines[index]), spool.header, error.reason,
                                    error.value))
            for reference in dict.fromkeys(r.reference for r in recorded if r.registered):
                summary.registered(reference)
            summary.imported += sum(1 for r in recorded if r.logged)
            summary.changed += sum(1 for r in recorded if r.changed)
            summary.duplicates += sum(1 for i, r in enumerate(recorded)
                                      if not r.logged and not r.changed and i not in refused)
            if progress is not None:
                progress(len(entries), summary.contacts)


def _preview(spool: Spool, log: TouchpointLog | None, summary: Summary, batch_size: int,
             unknown: set[str]) -> None:
    from touchlog.domain.errors import CustomerNotFound
    from touchlog.domain.facts import FactEntry

    known: dict[str, set[str]] = {}
    for _lines, entries in spool.batches(batch_size):
        for entry in entries:
            if entry.reference in unknown:
                continue
            if entry.reference not in known:
                try:
                    if log is None:
                        raise CustomerNotFound(entry.reference)
                    ids = set(log.customer(entry.reference).contact_ids)
                except CustomerNotFound:
                    ids = set()
                    summary.registered(entry.reference)
                known = {entry.reference: ids}  # rows arrive grouped by customer
            if entry.__class__ is FactEntry:  # counted as new: only recording it can tell
                summary.imported += 1
                continue
            contact_id = entry.card["contact_id"]  # type: ignore[union-attr]
            new = contact_id not in known[entry.reference]
            known[entry.reference].add(contact_id)
            summary.imported += new
            summary.duplicates += not new


# -- pass 1: rows in units, parsed on two cores (parallel.py) --------------------------

UNIT_ROWS = 500  # rows read, then parsed here or by the helper process, at a time

Unit = list[tuple[int, list[str]]]  # rows: first line and values


class Refused(NamedTuple):
    """A row's refusal as parsing gives it: the field, the reason, the value and the
    mapping's rule; ``unlisted`` when a value map without a default does not list the value
    (``field`` is then the map's place in the mapping)."""

    field: str
    reason: str
    value: Any = None
    rule: str | None = None
    unlisted: bool = False


Encodeds = list[tuple[int, Encoded]]  # a row's contacts: record number and encoded row
Parsed = list[Encodeds | Refused]  # each row of a unit, encoded or refused


def _parse_unit(parse: Callable[[list[str]], list[tuple[int, Any]]], unit: Unit) -> Parsed:
    results: Parsed = []
    for line, values in unit:
        try:
            results.append([(number, encode(line, row)) for number, row in parse(values)])
        except Unlisted as e:
            results.append(Refused(e.place, e.reason, e.value, unlisted=True))
        except InvalidInput as e:
            results.append(Refused(e.field, e.reason, e.value,
                                   e.rule if isinstance(e, RowRefused) else None))
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
    return _with_value(error.reason, error.value)


def _reason_text(refused: Refused) -> str:
    return _with_value(refused.reason, refused.value)


def _with_value(reason: str, value: Any) -> str:
    return f"{reason} (got {value!r})" if value not in (None, "") else reason
