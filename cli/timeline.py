"""``touchlog timeline``: a customer's history in the order it happened."""

from __future__ import annotations

import click

from touchlog.cli.render import output_format, render
from touchlog.cli.services import Services


@click.command()
@click.argument("customer")
@click.option("--since", help="Only entries at or after this time.")
@click.option("--until", help="Only entries at or before this time.")
@click.option("--channel", help="Only contacts through this channel.")
@click.option("--include-retracted", is_flag=True, help="Show contacts found invalid too.")
@output_format
@click.pass_obj
def timeline(services: Services, customer: str, since: str | None, until: str | None,
             channel: str | None, include_retracted: bool, fmt: str | None) -> None:
    """Show a customer's contacts, stage changes and follow-ups, oldest first.

    Example: touchlog timeline ACME --since 2018-01-01 --format json
    """
    from touchlog.domain.values import parse_instant
    from touchlog.projections.timeline import TimelineFilter, build_timeline

    window = TimelineFilter(
        since=parse_instant(since, "since") if since else None,
        until=parse_instant(until, "until") if until else None,
        channel=channel, include_retracted=include_retracted,
    )
    events = services.log(create=False).history(customer)
    click.echo(render(build_timeline(events, window), fmt))
