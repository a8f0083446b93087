"""``touchlog verify``: proof the log is untouched (hash chains), or that the reporting
tables equal a fresh rebuild (``--projections``)."""

from __future__ import annotations

from pathlib import Path

import click

from touchlog.cli.render import chosen_format, emit, output_format
from touchlog.cli.services import Services


@click.command()
@click.argument("customer", required=False)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Heads file: written on the first run, compared (and advanced) after.")
@click.option("--projections", "projections", is_flag=True,
              help="Instead: rebuild the projections into shadow tables and compare.")
@output_format
@click.pass_obj
def verify(services: Services, customer: str | None, checkpoint: Path | None,
           projections: bool, fmt: str | None) -> None:
    """Recompute every customer's hash chain (or one's); exit 1 listing each break.

    With --projections, rebuild every projection from the log into shadow tables and
    compare each table with the live one; exit 1 listing each differing row.

    Example: touchlog verify --checkpoint heads.json
    """
    if projections:
        if customer or checkpoint:
            raise click.UsageError("--projections takes neither a customer nor --checkpoint")
        _verify_projections(services, fmt)
        return
    from touchlog.projections.audit.verify import verify_chains

    report, written = verify_chains(services.log(create=False), customer, checkpoint)
    summary = {"intact": report.intact, "customers": report.customers,
               "events": report.events, "breaks": len(report.breaks), "checkpoint": written}
    if chosen_format(fmt) == "json":
        emit({**summary, "breaks": [b.as_row() for b in report.breaks]}, fmt)
    elif report.intact:
        emit(summary, fmt)
    else:
        emit([b.as_row() for b in report.breaks], fmt)
    if not report.intact:
        click.get_current_context().exit(1)


def _verify_projections(services: Services, fmt: str | None) -> None:
    from touchlog.projections.audit.verify_projections import verify_projections

    report = verify_projections(services.log(create=False))
    differences = [d.as_row() for d in report.differences]
    tables = [t.as_row() for t in report.tables]
    if chosen_format(fmt) == "json":
        emit({"intact": report.intact, "head": report.head,
                           "positions": report.positions, "tables": tables,
                           "differences": differences}, fmt)
    else:
        emit(tables if report.intact else differences, fmt)
    if not report.intact:
        click.get_current_context().exit(1)
