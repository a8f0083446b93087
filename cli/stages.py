"""``touchlog stage``: where a relationship stands, its history, and explicit changes."""

from __future__ import annotations

import click

from touchlog.cli.render import emit, output_format
from touchlog.cli.services import Services
from touchlog.domain.values import DEFAULT_REASON_CATEGORIES


def reason_categories_help(what: str) -> str:
    """A --reason-category option's help: ``what`` it is, then the categories to choose."""
    names = ", ".join(category.name for category in DEFAULT_REASON_CATEGORIES)
    return f"{what}: {names}, or one added in touchlog.toml."

STAGES = ["discovery", "exploration", "expansion", "commitment", "dissolution"]


@click.group()
def stage() -> None:
    """Relationship stages: show, set and list the history."""


@stage.command()
@click.argument("reference")
@click.option("--as-of", "as_of", metavar="TIME",
              help="The stage the relationship was in then (null before it started).")
@output_format
@click.pass_obj
def show(services: Services, reference: str, as_of: str | None, fmt: str | None) -> None:
    """Show the current stage (or the one at --as-of), since when, and the cycle number.

    Example: touchlog stage show ACME --as-of 2018-03-01
    """
    with services.queries() as queries:
        emit(queries.stage(reference, as_of=as_of), fmt)


@stage.command("set")
@click.argument("reference")
@click.argument("to", metavar="STAGE", type=click.Choice(STAGES, case_sensitive=False))
@click.option("--reason", required=True, help="Why the relationship changes stage.")
@click.option("--reason-category", metavar="CATEGORY",
              help=reason_categories_help("With dissolution, why the relationship ended"))
@click.option("--actor", default=None, help="Who decided (default: $USER).")
@click.option("--at", default=None, help="When it changed (default now).")
@click.pass_obj
def set_(services: Services, reference: str, to: str, reason: str,
         reason_category: str | None, actor: str | None, at: str | None) -> None:
    """Move a relationship to a stage from a time on (--at), with a reason.

    The change is a fact of the stage history, ordered with the contacts' stage signals by
    when it happened. A change to the stage the relationship was already in then is kept
    but changes nothing (the message says so).

    Example: touchlog stage set ACME commitment --reason "signed a framework deal" --actor ann

    Example: touchlog stage set ACME dissolution --reason-category competition --reason "left"
    """
    import getpass

    log = services.log(create=False)
    changed = log.change_stage(reference, to, reason, actor or getpass.getuser(), at=at,
                               reason_category=reason_category)
    shown = log.resolved(reference)
    if changed:
        click.echo(f"{shown}: stage {to.lower()}")
    else:
        click.echo(f"{shown}: already in stage {to.lower()} then; recorded, nothing changed")


@stage.command()
@click.argument("reference")
@output_format
@click.pass_obj
def history(services: Services, reference: str, fmt: str | None) -> None:
    """List every stay in a stage: from, to, entered, left, duration, reason (with the
    category of why the relationship ended), actor.

    Tables show the time in a stage in days and hours; JSON and CSV keep duration_seconds.
    Example: touchlog stage history ACME --format csv
    """
    with services.queries() as queries:
        emit(queries.stage_history(reference), fmt)
