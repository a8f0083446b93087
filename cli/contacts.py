"""``touchlog contact``: record contacts (corrections are new facts, never edits)."""

from __future__ import annotations

import click

from touchlog.cli.render import output_format, render
from touchlog.cli.services import Services


@click.group()
def contact() -> None:
    """Record, amend or retract a contact."""


@contact.command("log")
@click.argument("customer")
@click.option("--channel", required=True, help="How: phone, email, meeting, … (see README).")
@click.option("--at", "occurred_at", required=True,
              help="When it happened: ISO 8601; no offset means UTC.")
@click.option("--initiated-by", type=click.Choice(["company", "customer", "third_party"]))
@click.option("--purpose")
@click.option("--summary")
@click.option("--place")
@click.option("--actor", help="The staff member involved.")
@click.option("--outcome", type=click.Choice(["positive", "neutral", "negative"]))
@click.option("--rating", help="1 to 5.")
@click.option("--amount", help="Exact decimal amount of a purchase, e.g. 1054.00.")
@click.option("--stage", "stage_signal", help="Stage signal: the stage this contact shows.")
@click.option("--follow-up-due", help="Schedule a follow-up due at this time.")
@click.option("--follow-up-owner")
@click.option("--follow-up-purpose")
@click.option("--id", "contact_id", help="Contact id (default: derived from the content).")
@output_format
@click.pass_obj
def log(services: Services, customer: str, follow_up_due: str | None,
        follow_up_owner: str | None, follow_up_purpose: str | None, fmt: str | None,
        **card: str | None) -> None:
    """Record one contact with a customer; recording the same contact twice is a no-op.

    Example: touchlog contact log ACME --channel phone --at 2018-01-05T10:00 --actor ann
    """
    from touchlog.domain.contact import Contact, FollowUpPlan, validated

    contact_card = validated(Contact, {k: v for k, v in card.items() if v is not None})
    plan = None
    if follow_up_due is not None:
        plan = validated(FollowUpPlan, {"due_at": follow_up_due, "owner": follow_up_owner,
                                        "purpose": follow_up_purpose})
    recorded = services.log().log_contact(customer, contact_card, plan)
    click.echo(render({"customer": recorded.reference, "contact_id": recorded.contact_id,
                       "logged": recorded.logged}, fmt))
