"""``touchlog archive``: per-customer statistics, the RFM basis (caught up before reading)."""

from __future__ import annotations

import click

from touchlog.cli.attributes import attr_option, attribute_filter
from touchlog.cli.render import emit, listed, listing_options, output_format
from touchlog.cli.services import Services


@click.command()
@click.argument("reference", required=False)
@click.option("--as-of", "as_of", metavar="TIME",
              help="The archive as it stood then: the stage then, and the live contacts "
                   "(as known now) that had occurred by then; open_follow_ups is null.")
@attr_option("Only customers with this attribute value (sector=retail); repeatable: all "
             "must hold.")
@listing_options
@output_format
@click.pass_obj
def archive(services: Services, reference: str | None, as_of: str | None,
            attrs: tuple[str, ...], limit: int | None, reverse: bool, fmt: str | None) -> None:
    """Show contact archives: contacts, channels, purchases and ratings per customer, by
    reference (--reverse: last first).

    Retracted contacts count in no statistic; purchases are the live contacts said to be
    one or with an amount. Example: touchlog archive ACME --format json

    Example: touchlog archive --attr sector=retail
    """
    wanted = attribute_filter(services.settings.customer_attributes, attrs, "customer")
    with services.queries() as queries:
        emit(listed(queries.archive(reference, as_of=as_of, attributes=wanted), limit,
                    reverse), fmt)
