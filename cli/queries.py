"""``touchlog archive`` and ``touchlog followups``: the read models, caught up before reading."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from touchlog.cli.render import output_format, render
from touchlog.cli.services import Services

if TYPE_CHECKING:
    from touchlog.projections.queries import Queries


@contextmanager
def open_queries(services: Services) -> Iterator[Queries]:
    """Queries over the reporting tables of the services' log; closed afterwards."""
    from touchlog.projections.queries import Queries

    queries = Queries(services.log(create=False))
    try:
        yield queries
    finally:
        queries.close()


@click.command()
@click.argument("reference", required=False)
@output_format
@click.pass_obj
def archive(services: Services, reference: str | None, fmt: str | None) -> None:
    """Show contact archives: contacts, channels, purchases and ratings per customer.

    Retracted contacts count in no statistic. Example: touchlog archive ACME --format json
    """
    with open_queries(services) as queries:
        click.echo(render(queries.archive(reference), fmt))


@click.command()
@click.option("--owner", help="Only items this person owns.")
@click.option("--as-of", "as_of", metavar="TIME",
              help="Judge due dates at this time (default now).")
@click.option("--status", type=click.Choice(["overdue", "upcoming", "all"]), default="all",
              show_default=True, help="Which items to list.")
@click.option("--within", "within", type=click.IntRange(min=0), metavar="DAYS",
              help="Only upcoming items due within this many days.")
@output_format
@click.pass_obj
def followups(services: Services, owner: str | None, as_of: str | None, status: str,
              within: int | None, fmt: str | None) -> None:
    """List who must be contacted next: scheduled follow-ups and cadence items.

    Example: touchlog followups --owner ann --status overdue --as-of 2018-02-01
    """
    with open_queries(services) as queries:
        items = queries.followups(owner=owner, as_of=as_of, status=status, within_days=within)
        click.echo(render(items, fmt))
