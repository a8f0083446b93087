"""``touchlog followups`` (the queue of who must be contacted next) and ``touchlog followup``
(schedule, complete, cancel or reschedule one follow-up)."""

from __future__ import annotations

import click

from touchlog.cli.render import emit, listed, listing_options, output_format
from touchlog.cli.services import Services


@click.command()
@click.option("--owner", help="Only items this person owns.")
@click.option("--as-of", "as_of", metavar="TIME",
              help="Judge due dates at this time (default now): which items are overdue "
                   "or upcoming then. The queue itself is today's (open follow-ups, each "
                   "customer's current stage and last contact), not the queue as it stood "
                   "then.")
@click.option("--status", type=click.Choice(["overdue", "upcoming", "all"]), default="all",
              show_default=True, help="Which items to list.")
@click.option("--within", "within", type=click.IntRange(min=0), metavar="DAYS",
              help="Only upcoming items due within this many days.")
@listing_options
@output_format
@click.pass_obj
def followups(services: Services, owner: str | None, as_of: str | None, status: str,
              within: int | None, limit: int | None, reverse: bool, fmt: str | None) -> None:
    """List who must be contacted next: scheduled follow-ups and cadence items, soonest due
    first (--reverse: latest due first).

    Example: touchlog followups --owner ann --status overdue --as-of 2018-02-01
    """
    with services.queries() as queries:
        items = queries.followups(owner=owner, as_of=as_of, status=status, within_days=within)
        emit(listed(items, limit, reverse), fmt)


@click.group()
def followup() -> None:
    """Schedule and settle follow-ups ("the first contact is a start, not an end")."""


@followup.command()
@click.argument("customer")
@click.option("--due", required=True, help="When it is due: ISO 8601; no offset means UTC.")
@click.option("--owner", help="Who does it (default: the customer's owner).")
@click.option("--purpose")
@click.option("--id", "follow_up_id", help="Follow-up id (default: generated).")
@click.option("--contact", "contact_id", help="The contact that prompted it.")
@click.option("--at", help="When it was scheduled: ISO 8601, no offset means UTC (default: "
                           "now; never in the future, where only --due may lie).")
@output_format
@click.pass_obj
def schedule(services: Services, customer: str, due: str, owner: str | None,
             purpose: str | None, follow_up_id: str | None, contact_id: str | None,
             at: str | None, fmt: str | None) -> None:
    """Schedule a follow-up for a customer.

    Example: touchlog followup schedule ACME --due 2018-02-01 --owner ann --at 2017-12-20
    """
    from touchlog.domain.contact import FollowUpPlan, validated

    plan = validated(FollowUpPlan, {"due_at": due, "owner": owner, "purpose": purpose,
                                    "follow_up_id": follow_up_id})
    scheduled = services.log().schedule_follow_up(customer, plan, contact_id=contact_id, at=at)
    _echo(services, customer, scheduled, "scheduled", fmt, due_at=plan.due_at.isoformat())


@followup.command()
@click.argument("customer")
@click.argument("follow_up_id")
@click.option("--contact", "contact_id", help="The contact that completed it.")
@click.option("--actor", help="Who completed it.")
@click.option("--at", help="When it happened: ISO 8601, no offset means UTC (default: now; "
                           "never in the future).")
@output_format
@click.pass_obj
def complete(services: Services, customer: str, follow_up_id: str, contact_id: str | None,
             actor: str | None, at: str | None, fmt: str | None) -> None:
    """Mark a follow-up done, optionally by the contact that did it.

    Example: touchlog followup complete ACME f-1 --contact c-1f0e… --at 2018-01-31
    """
    services.log().complete_follow_up(customer, follow_up_id, contact_id=contact_id,
                                      actor=actor, at=at)
    _echo(services, customer, follow_up_id, "completed", fmt)


@followup.command()
@click.argument("customer")
@click.argument("follow_up_id")
@click.option("--reason", required=True, help="Why it is no longer needed.")
@click.option("--actor", help="Who cancels it.")
@click.option("--at", help="When it happened: ISO 8601, no offset means UTC (default: now; "
                           "never in the future).")
@output_format
@click.pass_obj
def cancel(services: Services, customer: str, follow_up_id: str, reason: str,
           actor: str | None, at: str | None, fmt: str | None) -> None:
    """Cancel an open follow-up, with a reason.

    Example: touchlog followup cancel ACME f-1 --reason "customer asked for no calls"
    """
    services.log().cancel_follow_up(customer, follow_up_id, reason, actor=actor, at=at)
    _echo(services, customer, follow_up_id, "cancelled", fmt)


@followup.command()
@click.argument("customer")
@click.argument("follow_up_id")
@click.option("--due", required=True, help="The new due time.")
@click.option("--reason")
@click.option("--actor", help="Who reschedules it.")
@click.option("--at", help="When it happened: ISO 8601, no offset means UTC (default: now; "
                           "never in the future).")
@output_format
@click.pass_obj
def reschedule(services: Services, customer: str, follow_up_id: str, due: str,
               reason: str | None, actor: str | None, at: str | None, fmt: str | None) -> None:
    """Move an open follow-up to a new due time.

    Example: touchlog followup reschedule ACME f-1 --due 2018-02-15 --reason "on holiday"
    """
    from touchlog.domain.values import iso, parse_instant

    due_at = iso(parse_instant(due, "due"))
    services.log().reschedule_follow_up(customer, follow_up_id, due_at, reason=reason,
                                        actor=actor, at=at)
    _echo(services, customer, follow_up_id, "rescheduled", fmt, due_at=due_at)


def _echo(services: Services, customer: str, follow_up_id: str, status: str, fmt: str | None,
          **extra: str) -> None:
    emit({"customer": services.log().resolved(customer),
          "follow_up_id": follow_up_id, "status": status, **extra}, fmt)
