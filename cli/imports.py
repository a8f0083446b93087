"""``touchlog import``: record contacts from a file, in the plain contract or through a
mapping (the contract is docs/import.md)."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from touchlog.cli.render import chosen_format, emit, force_option, output_format
from touchlog.cli.services import Services
from touchlog.domain.facts import KINDS
from touchlog.domain.importing.sources import REJECTS_COLUMNS

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.importing import Rejection, Summary
    from touchlog.domain.settings import Settings

SHOWN_REJECTIONS = 50  # on stderr; --rejects keeps them all
SHOWN_REASONS = 20  # lines of the summary of rejections by field and reason
# Fields whose rejections are summarised by value too: a few values, each worth naming.
BY_VALUE = ("channel", "stage", "outcome", "initiated_by")


def _delimiter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from touchlog.domain.importing.mapping_check import delimiter_of

    if value is None:
        return None
    delimiter = delimiter_of(value)
    if delimiter is None:
        raise click.BadParameter(f"expected one character or 'tab', got {value!r}")
    return delimiter


def _encoding(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from touchlog.domain.importing.mapping_check import encoding_problem

    problem = encoding_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem)
    return value


@click.command("import")
@click.argument("file", type=click.File("rb", lazy=False))
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path),
              help="A mapping file (TOML) saying how the file's rows become contacts.")
@click.option("--delimiter", callback=_delimiter,
              help="The CSV delimiter (one character, or 'tab'); over the mapping's.")
@click.option("--encoding", callback=_encoding,
              help="The file's encoding (utf-8, cp1252, latin-1, gb18030, …); over the "
                   "mapping's.")
@click.option("--tz", "timezone", metavar="ZONE",
              help="The IANA time zone of times without an offset (default: the mapping's, "
                   "then touchlog.toml's [import] timezone, then UTC).")
@click.option("--kind", type=click.Choice(KINDS),
              help="The kind of every row of a file without a kind column, e.g. profile for "
                   "a customers file (default: contact; docs/import.md \"Kinds of rows\").")
@click.option("--dry-run", is_flag=True, help="Check and count only; record nothing.")
@click.option("--strict", is_flag=True, help="Record nothing if any row is bad.")
@click.option("--existing-only", is_flag=True,
              help="Reject the rows of customers the log does not hold, instead of "
                   "registering them.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the rejected rows, with line, field and reason, to this CSV file.")
@click.option("--on-change", type=click.Choice(["reject", "amend", "skip"]), default="reject",
              show_default=True,
              help="A row whose contact id is stored with other content: reject it naming "
                   "the fields, record an amendment of those fields, or keep what is stored.")
@click.option("--replaces", metavar="IMPORT",
              help="Undo this import (imports undo) and import the corrected file instead.")
@click.option("--actor", help="Who runs the import, as its record names them (default: the "
              "user running touchlog).")
@force_option
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=5_000, show_default=True,
              help="Rows per transaction.")
@output_format
@click.pass_obj
def import_(services: Services, file: IO[bytes], mapping: Path | None, delimiter: str | None,
            encoding: str | None, timezone: str | None, kind: str | None, dry_run: bool,
            strict: bool, existing_only: bool, rejects: Path | None, on_change: str,
            replaces: str | None, actor: str | None, force: bool, batch_size: int,
            fmt: str | None) -> None:
    """Import contacts, and any other fact (follow-ups, profiles, stage changes,
    retractions), from a file; importing the same file again adds nothing.

    A row whose contact id is already stored with other content is counted as changed and
    handled as --on-change says. The import is recorded with its file's sha256 and who ran
    it ('touchlog imports list'), and each record names its import and line.

    Without --mapping the file is CSV with touchlog's own columns (docs/import.md), its
    rows' kind in a kind column or given by --kind; a mapping reads someone else's export
    (docs/import.md "Mapping files").

    Example: touchlog import customers.csv --kind profile
    """
    from touchlog.domain.importing import Reading, import_file
    from touchlog.domain.storage.files import NewFiles
    from touchlog.projections.engine.runner import following_import, protected_databases

    reading = Reading.of(mapping, services.settings, delimiter=delimiter, encoding=encoding,
                         timezone=timezone, kind=kind)
    if replaces is not None:  # refused before the file is read
        services.log(create=False).import_record(replaces)
    with ExitStack() as stack:
        out = None
        if rejects is not None:  # written when the import ends, refused before it starts
            protected = protected_databases(services.settings).stream(file, "file being imported")
            if mapping is not None:
                protected.file(mapping, "mapping file")
            out = stack.enter_context(NewFiles(force=force, protected=protected)).open(
                rejects, text=True)
        reporter = RejectReporter(out)
        progress = stack.enter_context(TerminalProgress()) if not dry_run else None
        summary = import_file(OpenWhenNeeded(services, dry_run), file, reading=reading,
                              strict=strict, dry_run=dry_run, on_reject=reporter,
                              progress=progress, batch_size=batch_size,
                              recording=following_import, existing_only=existing_only,
                              on_change=on_change, actor=actor, replaces=replaces)
    _emit(summary.report(mapped=mapping is not None, dry_run=dry_run), fmt)
    if summary.replaced is not None:
        from touchlog.cli.import_records import report_undo

        report_undo(summary.replaced)
    _report_reconnections(summary)
    reporter.summarise(services.settings.channels)
    if summary.rejected:
        nothing = "; nothing was imported (--strict)" if strict and not dry_run else ""
        raise click.ClickException(f"{summary.rejected} row(s) rejected{nothing}")


def _emit(result: dict[str, Any], fmt: str | None) -> None:
    """The summary; a dry run's preview of contacts as a table of its own, but in JSON."""
    preview = result.pop("preview", None) if chosen_format(fmt) != "json" else None
    emit(result, fmt)
    if preview:
        click.echo("\nfirst contacts as they would be recorded:")
        emit(preview, fmt)


def _report_reconnections(summary: Summary) -> None:
    """Says on stderr which connections were lost and opened again, and that every row
    was recorded all the same (a failure to record one is an error, never reaches here)."""
    from touchlog.domain.storage.database import RECONNECTED

    if RECONNECTED:
        lost = ", ".join(f"{where} {count} time(s)" for where, count in RECONNECTED.items())
        valid = "valid " if summary.rejected else ""
        click.echo(f"connection lost ({lost}) and reconnected; all "
                   f"{summary.imported + summary.duplicates} {valid}rows recorded", err=True)


class RejectReporter:
    """Prints the first rejections to stderr and writes every one to the --rejects file."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out = out
        self.writer: Any = None  # a csv writer, once the first rejection comes
        self.columns: list[str] = []
        self.count = 0
        self.reasons: Counter[tuple[str, str, str | None]] = Counter()

    def __call__(self, rejection: Rejection) -> None:
        self.count += 1
        value = (str(rejection.value) if rejection.field in BY_VALUE
                 and rejection.value not in (None, "") else None)
        self.reasons[(rejection.field, rejection.cause or rejection.reason, value)] += 1
        if self.count <= SHOWN_REJECTIONS:
            click.echo(f"rejected {rejection.message}", err=True)
        elif self.count == SHOWN_REJECTIONS + 1:
            click.echo("… more rejections not shown (use --rejects FILE)", err=True)
        if self.out is not None:
            if self.writer is None:
                # "\r\n" (standard CSV) also makes the csv module quote a value holding a
                # bare "\r", so the file reads back as written.
                self.writer = csv.writer(self.out, lineterminator="\r\n")
                self.columns = rejection.columns
                # The input's columns, then line, field and reason: by position, so an input
                # column of the same name (a retraction's reason) keeps its own value.
                self.writer.writerow([*self.columns, *REJECTS_COLUMNS])
            values = rejection.values
            self.writer.writerow([*(values.get(c, "") for c in self.columns), rejection.line,
                                  rejection.field, rejection.reason])


    def summarise(self, channels: dict[str, Any]) -> None:
        """The rejections by field and reason (and value, for a channel, stage, outcome or
        party), most frequent first; the known channels once when a channel was unknown."""
        if not self.reasons:
            return
        click.echo("rejections by field and reason:", err=True)
        for (field, reason, value), count in self.reasons.most_common(SHOWN_REASONS):
            named = f"{field} {value!r}" if value is not None else field
            click.echo(f"  {named}: {reason}: {count:,} row{'s' if count > 1 else ''}",
                       err=True)
        if len(self.reasons) > SHOWN_REASONS:
            click.echo(f"  … {len(self.reasons) - SHOWN_REASONS} more", err=True)
        if any(field == "channel" and reason.startswith("unknown channel")
               for field, reason, _ in self.reasons):
            click.echo(f"known channels: {', '.join(sorted(channels))} (add one in "
                       "touchlog.toml [channels], or map the file's values in a mapping)",
                       err=True)


class TerminalProgress:
    """A progress bar on a terminal only: scripts and logs get no control characters."""

    def __init__(self) -> None:
        self.bar = None  # type: ignore[var-annotated]

    def __enter__(self) -> TerminalProgress | None:
        return self if sys.stderr.isatty() else None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="importing", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


class OpenWhenNeeded:
    """How the import gets its log (a ``LogOpener``). An existing database is opened now,
    so an unreachable one is reported before the file is read; a new SQLite file is created
    only when there is something to record, and never by a dry run (None: nothing to
    compare with)."""

    def __init__(self, services: Services, dry_run: bool) -> None:
        self.settings: Settings = services.settings
        self.log: TouchpointLog | None = None
        self.open = services.log if not dry_run else None
        from touchlog.domain.storage.location import locate

        if locate(self.settings.db).exists():
            self.log = services.log(create=not dry_run)

    def __call__(self) -> TouchpointLog | None:
        if self.log is None and self.open is not None:
            self.log = self.open()
        return self.log
