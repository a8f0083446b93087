"""``touchlog export``: a projection's rows, the follow-up queue or a report as CSV, JSON
Lines or Parquet for other tools."""

from __future__ import annotations

from pathlib import Path

import click

from touchlog.cli.render import force_option
from touchlog.cli.services import Services
from touchlog.projections.queries.export import FILE_FORMATS, STDOUT, export_names


@click.command()
@click.argument("name", type=click.Choice(export_names()))
@click.option("--format", "fmt", type=click.Choice(FILE_FORMATS), required=True,
              help="File format (parquet needs: pip install 'touchlog[parquet]').")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path,
                                                allow_dash=True), required=True,
              help="File to write ('-': standard output); FILE.meta.json records the log "
                   "position it reflects.")
@click.option("--since-position", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only rows changed after log position N (an earlier export's position); "
                   "table exports only.")
@click.option("--raw-csv", is_flag=True,
              help="CSV cells exactly as stored, without the apostrophe that stops a "
                   "spreadsheet from running a cell beginning with = + - @ as a formula.")
@click.option("--no-personal", is_flag=True,
              help="Leave out the columns holding personal data (purpose, summary, place, "
                   "reasons); the meta file says which (docs/privacy.md).")
@force_option
@click.pass_obj
def export(services: Services, name: str, fmt: str, output: Path,
           since_position: int | None, raw_csv: bool, no_personal: bool, force: bool) -> None:
    """Export a table (contacts, archive, archive-channels, contact-attributes,
    customer-attributes, stage-history, followups), the
    follow-up queue as `touchlog followups` lists it (followup-queue) or a report
    (report-NAME).

    Example: touchlog export contacts --format csv -o contacts.csv
    """
    from touchlog.projections.queries.export import export as write_export

    with services.queries() as queries:
        meta = write_export(queries, name, fmt, output, since_position, raw_csv=raw_csv,
                            force=force, personal=not no_personal)
    click.echo(f"{meta['rows']} rows of {name} at position {meta['position']} -> {output}",
               err=output == STDOUT)
