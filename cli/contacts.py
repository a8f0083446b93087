"""``touchlog contact``: record contacts (corrections are new facts, never edits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from touchlog.cli.attributes import attr_option, given_attributes
from touchlog.cli.render import emit, output_format
from touchlog.cli.services import Services
from touchlog.cli.stages import reason_categories_help

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

F = TypeVar("F", bound=Callable[..., Any])


def card_options(command: F) -> F:
    """The contact card's optional fields, shared by ``log`` and ``amend``."""
    options = [
        click.option("--initiated-by", type=click.Choice(["company", "customer", "third_party"])),
        click.option("--purpose"),
        click.option("--summary"),
        click.option("--place"),
        click.option("--actor", help="The staff member involved."),
        click.option("--outcome", type=click.Choice(["positive", "neutral", "negative"])),
        click.option("--rating", help="1 to 5."),
        click.option("--amount", help="Exact decimal amount of a purchase, e.g. 1054.00."),
        click.option("--reason-category", metavar="CATEGORY", help=reason_categories_help(
            "Why the relationship ended, with a dissolution signal")),
        click.option("--person", help="The person at the customer it was with (a name)."),
        click.option("--person-email", help="That person's e-mail address."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def contact() -> None:
    """Record, amend or retract a contact."""


@contact.command("log")
@click.argument("customer")
@click.option("--channel", required=True, help="How: phone, email, meeting, … (see README).")
@click.option("--at", "occurred_at", required=True,
              help="When it happened: ISO 8601; no offset means UTC.")
@card_options
@click.option("--stage", "stage_signal", help="Stage signal: the stage this contact shows.")
@click.option("--follow-up-due", help="Schedule a follow-up due at this time.")
@click.option("--follow-up-owner")
@click.option("--follow-up-purpose")
@click.option("--id", "contact_id", help="Contact id (default: derived from the content).")
@click.option("--purchase", is_flag=True, default=None,
              help="A purchase, even without an amount (an amount makes it one anyway).")
@attr_option("A contact attribute declared in touchlog.toml [contact_attributes]; "
             "repeatable.")
@click.option("--existing-only", is_flag=True,
              help="Refuse a reference no customer has, instead of registering a new one.")
@click.option("--amend", is_flag=True,
              help="When --id is stored with other content, amend it to the values given.")
@output_format
@click.pass_obj
def log(services: Services, customer: str, follow_up_due: str | None,
        follow_up_owner: str | None, follow_up_purpose: str | None, attrs: tuple[str, ...],
        existing_only: bool, amend: bool, fmt: str | None, **card: Any) -> None:
    """Record one contact with a customer; recording the same contact twice is a no-op.

    An --id already stored with other content is refused, naming the fields that differ,
    unless --amend (which records an amendment of just those fields).

    Example: touchlog contact log ACME --channel phone --at 2018-01-05T10:00 --actor ann

    Example: touchlog contact log ACME --channel letter --at 2019-02-01 --stage dissolution
    --reason-category moved_away (why the relationship ended)

    Example: touchlog contact log ACME --channel web --at 2019-03-01 --purchase
    --person "Ann Lee" --attr utm_campaign=spring
    """
    from touchlog.domain.application import OnChange
    from touchlog.domain.contact import Contact, FollowUpPlan, validated

    given = {k: v for k, v in card.items() if v is not None}
    if attrs:
        given["attributes"] = given_attributes(attrs)
    contact_card = validated(Contact, given)
    plan = None
    if follow_up_due is not None:
        plan = validated(FollowUpPlan, {"due_at": follow_up_due, "owner": follow_up_owner,
                                        "purpose": follow_up_purpose})
    on_change = OnChange("amend", reason="contact log --amend") if amend else OnChange(
        hint="--amend records the given values")
    log = services.log(create=not existing_only)
    recorded = log.log_contact(customer, contact_card, follow_up=plan,
                               existing_only=existing_only, on_change=on_change)
    if recorded.registered:
        say_registered(log, [recorded.reference])
    result = {"customer": recorded.reference, "contact_id": recorded.contact_id,
              "logged": recorded.logged}
    if recorded.changed:
        result["amended"] = list(recorded.changed)
    emit(result, fmt)


def say_registered(log: TouchpointLog, references: list[str]) -> None:
    """Says on stderr which new customers a write registered, each with the existing
    references it is close to ("did you mean"), if any."""
    for reference in references:
        close = log.closest(reference)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        click.echo(f"registered a new customer {reference!r}{hint}", err=True)


def from_file(command: F) -> F:
    """``--from FILE`` (bulk corrections) and the options only it takes."""
    options = [
        click.option("--from", "from_file", type=click.File("rb"), metavar="FILE",
                     help="Correct many contacts: a CSV file with a contact_id column "
                          "(docs/import.md \"Bulk corrections\")."),
        click.option("--rejects", type=click.Path(dir_okay=False),
                     help="With --from: write the rejected rows, with line, field and "
                          "reason, to this CSV file."),
        click.option("--batch-size", type=click.IntRange(1, 100_000), default=1_000,
                     show_default=True, help="With --from: rows per transaction."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contact.command()
@click.argument("contact_id", required=False)
@click.option("--customer", help="The contact's customer (default: looked up by the id).")
@click.option("--at", "occurred_at", help="Corrected time it happened.")
@click.option("--channel")
@card_options
@click.option("--purchase/--no-purchase", default=None,
              help="Whether it is a purchase (an amount makes it one anyway).")
@attr_option("A contact attribute to change; KEY= (blank) removes it; repeatable.")
@click.option("--reason", help="Why the card is corrected.")
@click.option("--by", "amended_by", help="Who makes the correction.")
@from_file
@output_format
@click.pass_obj
def amend(services: Services, contact_id: str | None, customer: str | None,
          reason: str | None, amended_by: str | None, attrs: tuple[str, ...],
          from_file: IO[bytes] | None, rejects: str | None, batch_size: int,
          fmt: str | None, **fields: Any) -> None:
    """Correct fields of a contact card (a new fact; the original stays in the log).

    Blank text ("") clears a field. With --from FILE, every row of the file amends one
    contact (its contact_id, the fields to correct, optionally customer and reason).

    Example: touchlog contact amend c-1f0e… --amount 1054.00 --reason typo

    Example: touchlog contact amend c-1f0e… --person-email ann@example.com
    --attr utm_campaign=summer

    Example: touchlog contact amend --from corrections.csv --rejects refused.csv
    """
    from touchlog.domain.contact import ContactChanges, validated

    if from_file is not None:
        given_fields = [k for k, v in fields.items() if v is not None]
        if contact_id or customer or given_fields or attrs:
            raise click.UsageError("--from FILE takes no contact id, --customer, fields or "
                                   "--attr")
        _bulk(services, from_file, "amend", reason, amended_by, rejects, batch_size, fmt)
        return
    if contact_id is None:
        raise click.UsageError("name a CONTACT_ID, or give --from FILE")

    given = {k: v for k, v in fields.items() if v is not None}
    if attrs:
        given["attributes"] = given_attributes(attrs)
    changes = validated(ContactChanges, given)
    customer = customer or _customer_of(services, contact_id)
    log = services.log()
    amended = log.amend_contact(customer, contact_id, changes, reason=reason, actor=amended_by)
    emit({"customer": log.resolved(customer), "contact_id": contact_id,
          "amended": amended}, fmt)


@contact.command()
@click.argument("contact_id", required=False)
@click.option("--customer", help="The contact's customer (default: looked up by the id).")
@click.option("--reason", help="Why the contact is invalid (with --from: of rows without "
              "a reason).")
@click.option("--by", "retracted_by", help="Who retracts it.")
@from_file
@output_format
@click.pass_obj
def retract(services: Services, contact_id: str | None, customer: str | None,
            reason: str | None, retracted_by: str | None, from_file: IO[bytes] | None,
            rejects: str | None, batch_size: int, fmt: str | None) -> None:
    """Mark a contact invalid, with a reason; timelines hide it unless asked. With --from
    FILE, every row of the file retracts one contact (contact_id, reason, optionally
    customer).

    Example: touchlog contact retract c-1f0e… --reason "wrong customer"

    Example: touchlog contact retract --from invalid.csv --reason "test data"
    """
    if from_file is not None:
        if contact_id or customer:
            raise click.UsageError("--from FILE takes no contact id or --customer")
        _bulk(services, from_file, "retract", reason, retracted_by, rejects, batch_size, fmt)
        return
    if contact_id is None or reason is None:
        raise click.UsageError("name a CONTACT_ID and a --reason, or give --from FILE")
    customer = customer or _customer_of(services, contact_id)
    log = services.log()
    log.retract_contact(customer, contact_id, reason, actor=retracted_by)
    emit({"customer": log.resolved(customer), "contact_id": contact_id,
          "retracted": True, "reason": reason}, fmt)


def _bulk(services: Services, file: IO[bytes], kind: str, reason: str | None,
          actor: str | None, rejects: str | None, batch_size: int, fmt: str | None) -> None:
    """A bulk correction from a file: its summary, its rejections as the import reports
    them, exit 1 when a row was rejected."""
    from contextlib import ExitStack
    from pathlib import Path

    from touchlog.cli.imports import RejectReporter
    from touchlog.domain.application import ImportOrigin
    from touchlog.domain.importing.corrections import correct_file
    from touchlog.domain.importing.pipeline import file_sha256, user
    from touchlog.domain.storage.files import NewFiles

    origin = ImportOrigin(file.name, file_sha256(file), None, actor or user())
    with ExitStack() as stack, services.queries() as queries:
        out = stack.enter_context(NewFiles()).open(Path(rejects), text=True) if rejects \
            else None
        reporter = RejectReporter(out)
        done = correct_file(services.log(create=False), file, kind, origin,
                            customer_of=queries.contact_customer, reason=reason,
                            on_reject=reporter, batch_size=batch_size)
    emit(done.report(), fmt)
    if done.rejected:
        raise click.ClickException(f"{done.rejected} row(s) rejected")


def _customer_of(services: Services, contact_id: str) -> str:
    """The customer of a contact id, from the contacts projection (caught up first)."""
    with services.queries() as queries:
        return queries.contact_customer(contact_id)
