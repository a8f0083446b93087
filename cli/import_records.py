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


def _line(record: dict[str, Any]) -> dict[str, Any]:
    """An import in one table line."""
    return {"import": record["import"], "at": record["at"], "actor": record["actor"],
            "file": record["file"], "status": record["status"],
            "imported": record.get("imported"), "changed": record.get("changed"),
            "rejected": record.get("rejected")}
