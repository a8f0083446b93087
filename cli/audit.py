"""``touchlog audit`` and ``touchlog verify``: history as it was, and proof it is untouched."""

from __future__ import annotations

from pathlib import Path

import click

from touchlog.cli.render import output_format, render
from touchlog.cli.services import Services


@click.command()
@click.argument("customer")
@click.option("--as-of", "as_of", metavar="T",
              help="What had happened by T (default: everything recorded).")
@click.option("--known-at", "known_at", metavar="K",
              help="Use only events recorded at or before K (default: all recorded so far).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the full history (JSON Lines) and a manifest into this folder.")
@output_format
@click.pass_obj
def audit(services: Services, customer: str, as_of: str | None, known_at: str | None,
          export_dir: Path | None, fmt: str | None) -> None:
    """Reconstruct a customer as it stood at T, as known at K; or export its history.

    Example: touchlog audit ACME --as-of 2018-03-01 --known-at 2018-04-01 --format json
    """
    log = services.log(create=False)
    if export_dir is not None:
        from touchlog.projections.audit_export import export_history

        manifest = export_history(log, customer, export_dir)
        click.echo(render(manifest, fmt))
        return
    from touchlog.domain.values import parse_instant
    from touchlog.projections.audit import audit_rows, reconstruct

    state = reconstruct(
        log.history(customer),
        as_of=parse_instant(as_of, "as_of") if as_of else None,
        known_at=parse_instant(known_at, "known_at") if known_at else None,
    )
    click.echo(render(state if fmt == "json" or fmt is None and not _tty() else
                      audit_rows(state), fmt))


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
    from touchlog.projections.checkpoint import verify_log

    report, written = verify_log(services.log(create=False), customer, checkpoint)
    summary = {"intact": report.intact, "customers": report.customers,
               "events": report.events, "breaks": len(report.breaks), "checkpoint": written}
    if fmt == "json" or fmt is None and not _tty():
        click.echo(render({**summary, "breaks": [b.as_row() for b in report.breaks]}, fmt))
    elif report.intact:
        click.echo(render(summary, fmt))
    else:
        click.echo(render([b.as_row() for b in report.breaks], fmt))
    if not report.intact:
        click.get_current_context().exit(1)


def _verify_projections(services: Services, fmt: str | None) -> None:
    from touchlog.projections.determinism import verify_projections

    report = verify_projections(services.log(create=False))
    differences = [d.as_row() for d in report.differences]
    tables = [t.as_row() for t in report.tables]
    if fmt == "json" or fmt is None and not _tty():
        click.echo(render({"intact": report.intact, "head": report.head,
                           "positions": report.positions, "tables": tables,
                           "differences": differences}, fmt))
    else:
        click.echo(render(tables if report.intact else differences, fmt))
    if not report.intact:
        click.get_current_context().exit(1)


def _tty() -> bool:
    import sys

    return sys.stdout.isatty()
