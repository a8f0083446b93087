"""``touchlog customer``: a customer's profile, stage and open follow-ups."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from touchlog.cli.attributes import attr_option, given_attributes
from touchlog.cli.render import (
    chosen_format,
    emit,
    listed,
    listing_options,
    output_format,
    render,
)
from touchlog.cli.services import Services

if TYPE_CHECKING:
    from touchlog.domain.customer import Customer


@click.group()
def customer() -> None:
    """Show or update a customer."""


@customer.command()
@click.argument("reference")
@output_format
@click.pass_obj
def show(services: Services, reference: str, fmt: str | None) -> None:
    """Show a customer's profile, stage, cycle and open follow-ups.

    Example: touchlog customer show ACME --format json
    """
    card = _card(services.log(create=False).customer(reference))
    if chosen_format(fmt) == "table":
        follow_ups = card.pop("open_follow_ups")
        click.echo(render(card, fmt) + "\n\nOpen follow-ups:\n" + render(follow_ups, fmt),
                   color=True)
    else:
        emit(card, fmt)


@customer.command("list")
@click.option("--stage", help="Only customers now in this stage.")
@click.option("--owner", help="Only customers this person owns (the profile's owner).")
@click.option("--search", metavar="TEXT",
              help="Only customers whose reference, name or email holds TEXT (case ignored).")
@click.option("--since", metavar="TIME", help="Only customers with a contact at or after TIME.")
@listing_options
@output_format
@click.pass_obj
def list_(services: Services, stage: str | None, owner: str | None, search: str | None,
          since: str | None, limit: int | None, reverse: bool, fmt: str | None) -> None:
    """List customers by reference (--reverse: last first), with profile, stage and contacts.

    Example: touchlog customer list --stage expansion --owner ann --search acme
    """
    with services.queries() as queries:
        found = queries.customers(stage=stage, owner=owner, search=search, since=since)
    emit(listed(found, limit, reverse), fmt)


@customer.command()
@click.argument("text")
@listing_options
@output_format
@click.pass_obj
def search(services: Services, text: str, limit: int | None, reverse: bool,
           fmt: str | None) -> None:
    """Find customers whose reference, name or email holds TEXT, case ignored
    (``customer list --search TEXT``).

    Example: touchlog customer search "kan code"
    """
    with services.queries() as queries:
        emit(listed(queries.customers(search=text), limit, reverse), fmt)


@customer.command("set")
@click.argument("reference")
@click.option("--name")
@click.option("--email")
@click.option("--phone")
@click.option("--owner", help="Who the customer's follow-ups go to by default.")
@attr_option("A customer attribute declared in touchlog.toml [customer_attributes]; "
             "KEY= (blank) removes it; repeatable.")
@output_format
@click.pass_obj
def set_(services: Services, reference: str, attrs: tuple[str, ...], fmt: str | None,
         **fields: str | None) -> None:
    """Set profile fields and attributes (a new customer is registered); "" clears one.
    An e-mail address must look like one.

    Example: touchlog customer set ACME --name "Acme Ltd" --owner ann

    Example: touchlog customer set ACME --email info@acme.example --attr sector=retail
    --attr employees=120
    """
    from touchlog.domain.attributes import attribute_values
    from touchlog.domain.values import email_of, text

    changes = {k: email_of(v, k) if k == "email" else text(v, k)
               for k, v in fields.items() if v is not None}
    if not changes and not attrs:
        raise click.UsageError("give at least one of --name, --email, --phone, --owner, --attr")
    log = services.log()
    given = given_attributes(attrs)
    changed = log.update_profile(reference, changes, attributes=given)
    typed = attribute_values(services.settings.customer_attributes, given, "customer",
                             clearing=True)
    emit({"customer": log.resolved(reference), "changed": changed, **changes,
          **({"attributes": typed} if typed else {})}, fmt)


@customer.command()
@click.argument("duplicate")
@click.option("--into", "keep", required=True, metavar="REFERENCE",
              help="The customer to keep: the duplicate's facts are read as this one's.")
@click.option("--reason", required=True, help="Why they are one customer.")
@click.option("--actor", help="Who merges them (default: the user).")
@output_format
@click.pass_obj
def merge(services: Services, duplicate: str, keep: str, reason: str, actor: str | None,
          fmt: str | None) -> None:
    """Merge a duplicate customer into the one to keep (recorded on both; both event
    streams stay as they are). From then on every view shows the duplicate's contacts,
    follow-ups and profile under the one kept, and what is recorded for the duplicate's
    reference lands there. There is no unmerge (docs/cli.md says why).

    Example: touchlog customer merge "Kan code" --into Kan-code --reason "typed with a space"
    """
    import getpass

    merged, kept = services.log(create=False).merge(duplicate, keep, reason,
                                                    actor=actor or getpass.getuser())
    emit({"merged": merged, "into": kept, "reason": reason}, fmt)


def _card(c: Customer) -> dict[str, Any]:
    """What a person asks about a customer first; follow-ups soonest due first."""
    from touchlog.domain.customer import PROFILE_FIELDS

    follow_ups = sorted(c.open_follow_ups.items(), key=lambda item: item[1].due_at)
    return {
        "customer": c.reference,
        **{field: c.profile.get(field) for field in PROFILE_FIELDS},
        "attributes": dict(sorted(c.attributes.items())),
        "stage": c.stage.value, "stage_since": c.stage_since, "cycle": c.cycle,
        "contacts": len(c.contact_ids), "retracted_contacts": len(c.retracted),
        "merged": list(c.merged),
        "open_follow_ups": [{"follow_up_id": fid, "due_at": f.due_at, "owner": f.owner,
                             "purpose": f.purpose} for fid, f in follow_ups],
    }


@customer.command()
@click.argument("reference")
@click.option("--basis", required=True,
              help="The legal basis: gdpr-17 (GDPR art. 17), pipl-47 (PIPL art. 47), …")
@click.option("--request", "request", required=True, help="The erasure request's id.")
@click.option("--by", help="Who carries out the erasure.")
@click.option("--certificate", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the erasure certificate (default erasure-REQUEST.json).")
@output_format
@click.pass_obj
def erase(services: Services, reference: str, basis: str, request: str, by: str | None,
          certificate: Path | None, fmt: str | None) -> None:
    """Erase a customer's personal data: verify its chain, record the erasure, bring the
    projections up to date, destroy its key and write a certificate (docs/privacy.md).
    Run it again after an interruption; a legal hold makes it refuse.

    Example: touchlog customer erase C-1042 --basis gdpr-17 --request REQ-77 --by dpo
    """
    from touchlog.projections.audit.erasure import erase_customer

    emit(erase_customer(services.log(create=False), reference, basis, request, by=by,
                        certificate=certificate), fmt)


@customer.command()
@click.argument("reference")
@click.option("--reason", required=True, help="The matter the hold is for.")
@click.option("--lift", is_flag=True, help="Lift the hold that stands instead.")
@click.option("--by", help="Who places (or lifts) the hold.")
@output_format
@click.pass_obj
def hold(services: Services, reference: str, reason: str, lift: bool, by: str | None,
         fmt: str | None) -> None:
    """Place a legal retention hold (GDPR art. 17(3)): erase refuses while it stands;
    --lift records that it was lifted.

    Example: touchlog customer hold C-1042 --reason "case 2026/114" --by legal
    """
    log = services.log(create=False)
    (log.lift_hold if lift else log.place_hold)(reference, reason, by=by)
    emit({"customer": log.stored_reference(reference), "hold": not lift}, fmt)


@customer.command()
@click.argument("reference")
@click.option("--by", help="Who starts the new relationship.")
@output_format
@click.pass_obj
def renew(services: Services, reference: str, by: str | None, fmt: str | None) -> None:
    """Start a new relationship with an erased customer: what is recorded from now on is
    sealed with a new key; what was erased stays erased.

    Example: touchlog customer renew C-1042 --by ann
    """
    log = services.log(create=False)
    log.renew_relationship(reference, by=by)
    emit({"customer": log.stored_reference(reference), "renewed": True}, fmt)
