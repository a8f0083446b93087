"""``touchlog audit``: a customer as it stood at a time, as known at a time; or its history."""

from __future__ import annotations

from pathlib import Path

import click

from touchlog.cli.render import chosen_format, emit, force_option, output_format
from touchlog.cli.services import Services


@click.command()
@click.argument("customer")
@click.option("--as-of", "as_of", metavar="T",
              help="What had happened by T (default: everything recorded).")
@click.option("--known-at", "known_at", metavar="K",
              help="Use only events recorded at or before K (default: all recorded so far).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the full history (JSON Lines) and a manifest into this folder.")
@force_option
@output_format
@click.pass_obj
def audit(services: Services, customer: str, as_of: str | None, known_at: str | None,
          export_dir: Path | None, force: bool, fmt: str | None) -> None:
    """Reconstruct a customer as it stood at T, as known at K; or export its history.

    Example: touchlog audit ACME --as-of 2018-03-01 --known-at 2018-04-01 --format json
    """
    if force and export_dir is None:
        raise click.UsageError("--force goes with --export")
    log = services.log(create=False)
    if export_dir is not None:
        from touchlog.projections.audit.history_export import export_history
        from touchlog.projections.engine.runner import protected_databases

        manifest = export_history(log, customer, export_dir, force=force,
                                  protected=protected_databases(log.settings))
        emit(manifest, fmt)
        return
    from touchlog.domain.values import parse_instant
    from touchlog.projections.audit.replay import audit_rows, reconstruct

    state = reconstruct(
        log.history(customer),
        as_of=parse_instant(as_of, "as_of") if as_of else None,
        known_at=parse_instant(known_at, "known_at") if known_at else None,
    )
    emit(state if chosen_format(fmt) == "json" else audit_rows(state), fmt)
