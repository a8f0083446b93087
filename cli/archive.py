"""``touchlog archive``: per-customer statistics, the RFM basis (caught up before reading)."""

from __future__ import annotations

import click

from touchlog.cli.render import emit, listed, listing_options, output_format
from touchlog.cli.services import Services


@click.command()
@click.argument("reference", required=False)
@click.option("--as-of", "as_of", metavar="TIME",
              help="The archive as it stood then: the stage then, and the live contacts "
                   "(as known now) that had occurred by then; open_follow_ups is null.")
@listing_options
@output_format
@click.pass_obj
def archive(services: Services, reference: str | None, as_of: str | None, limit: int | None,
            reverse: bool, fmt: str | None) -> None:
    """Show contact archives: contacts, channels, purchases and ratings per customer, by
    reference (--reverse: last first).

    Retracted contacts count in no statistic. Example: touchlog archive ACME --format json
    """
    with services.queries() as queries:
        emit(listed(queries.archive(reference, as_of=as_of), limit, reverse), fmt)
