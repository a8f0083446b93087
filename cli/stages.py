"""``touchlog stage``: where a relationship stands, its history, and explicit changes."""

from __future__ import annotations

import click

from touchlog.cli.render import emit, output_format
from touchlog.cli.services import Services

STAGES = ["discovery", "exploration", "expansion", "commitment", "dissolution"]


@click.group()
def stage() -> None:
    """Relationship stages: show, set and list the history."""


@stage.command()
@click.argument("reference")
@output_format
@click.pass_obj
def show(services: Services, reference: str, fmt: str | None) -> None:
    """Show the current stage, since when, and the cycle number.

    Example: touchlog stage show ACME
    """
    with services.queries() as queries:
        emit(queries.stage(reference), fmt)


@stage.command("set")
@click.argument("reference")
@click.argument("to", metavar="STAGE", type=click.Choice(STAGES, case_sensitive=False))
@click.option("--reason", required=True, help="Why the relationship changes stage.")
@click.option("--actor", default=None, help="Who decided (default: $USER).")
@click.option("--at", default=None, help="When it changed (default now).")
@click.pass_obj
def set_(services: Services, reference: str, to: str, reason: str, actor: str | None,
         at: str | None) -> None:
    """Move a relationship to a stage, with a reason.

    Example: touchlog stage set ACME commitment --reason "signed a framework deal" --actor ann
    """
    import getpass

    log = services.log(create=False)
    log.change_stage(reference, to, reason, actor or getpass.getuser(), at=at)
    click.echo(f"{log.stored_reference(reference)}: stage {to.lower()}")


@stage.command()
@click.argument("reference")
@output_format
@click.pass_obj
def history(services: Services, reference: str, fmt: str | None) -> None:
    """List every stay in a stage: from, to, entered, left, duration, reason, actor.

    Example: touchlog stage history ACME --format csv
    """
    with services.queries() as queries:
        emit(queries.stage_history(reference), fmt)
