"""``touchlog imports``: the imports recorded in the log (docs/import.md "Provenance"):
list them, show one, undo one."""

from __future__ import annotations

from typing import Any

import click

from touchlog.cli.render import chosen_format, emit, listed, listing_options, output_format
from touchlog.cli.services import Services


@click.group()
def imports() -> None:
    """List, show or undo the imports recorded in the log."""


@imports.command("list")
@listing_options
@output_format
@click.pass_obj
def list_(services: Services, limit: int | None, reverse: bool, fmt: str | None) -> None:
    """Every import the log records, oldest first: id, when, who, file and counts.

    Example: touchlog imports list --reverse --limit 5
    """
    records = [record.shown() for record in services.log(create=False).imports()]
    emit([_line(r) for r in listed(records, limit, reverse)]
         if chosen_format(fmt) == "table" else listed(records, limit, reverse), fmt)


@imports.command()
@click.argument("import_id")
@output_format
@click.pass_obj
def show(services: Services, import_id: str, fmt: str | None) -> None:
    """One import: its file and mapping (with their sha256), who ran it and when, its
    counts, and whether it was undone.

    Example: touchlog imports show i-3f9a1c2b7d
    """
    emit(services.log(create=False).import_record(import_id).shown(), fmt)


@imports.command()
@click.argument("import_id")
@click.option("--reason", required=True, help="Why the import is undone.")
@click.option("--actor", help="Who undoes it (default: the user running touchlog).")
@click.option("--force", is_flag=True,
              help="Undo it even though contacts of it were amended since (listed).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500,
              show_default=True, help="Customers per transaction.")
@output_format
@click.pass_obj
def undo(services: Services, import_id: str, reason: str, actor: str | None, force: bool,
         batch_size: int, fmt: str | None) -> None:
    """Retract every contact an import added and cancel the follow-ups it scheduled (new
    facts: nothing is deleted); says what it cannot undo. Running it again does nothing.

    Example: touchlog imports undo i-3f9a1c2b7d --reason "wrong file"
    """
    from touchlog.domain.importing.pipeline import user
    from touchlog.domain.importing.undo import undo_import

    done = undo_import(services.log(create=False), import_id, reason, actor or user(),
                       force=force, batch_size=batch_size)
    emit(done.report(), fmt)
    report_undo(done)


def report_undo(done: Any) -> None:
    """What an undo could not do, and contacts amended since that it retracted, on stderr."""
    if done.amended_since:
        click.echo(f"retracted {len(done.amended_since)} contact(s) amended since (--force): "
                   + ", ".join(c for _, c in done.amended_since[:20]), err=True)
    for line in done.not_undone:
        click.echo(f"not undone: {line}", err=True)
    if done.already_undone and not done.retracted and not done.cancelled:
        click.echo(f"import {done.import_id} was undone already; nothing to do", err=True)


def _line(record: dict[str, Any]) -> dict[str, Any]:
    """An import in one table line."""
    return {"import": record["import"], "at": record["at"], "actor": record["actor"],
            "file": record["file"], "status": record["status"],
            "imported": record.get("imported"), "changed": record.get("changed"),
            "rejected": record.get("rejected")}
