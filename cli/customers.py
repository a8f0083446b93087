"""``touchlog customer``: a customer's profile, stage and open follow-ups."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from touchlog.cli.render import chosen_format, emit, output_format, render
from touchlog.cli.services import Services

if TYPE_CHECKING:
    from touchlog.domain.customer import Customer

PROFILE_FIELDS = ("name", "email", "phone", "owner")


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


@customer.command("set")
@click.argument("reference")
@click.option("--name")
@click.option("--email")
@click.option("--phone")
@click.option("--owner", help="Who the customer's follow-ups go to by default.")
@output_format
@click.pass_obj
def set_(services: Services, reference: str, fmt: str | None, **fields: str | None) -> None:
    """Set profile fields (a new customer is registered); "" clears a field.

    Example: touchlog customer set ACME --name "Acme Ltd" --owner ann
    """
    from touchlog.domain.values import text

    changes = {k: text(v, k) for k, v in fields.items() if v is not None}
    if not changes:
        raise click.UsageError("give at least one of --name, --email, --phone, --owner")
    log = services.log()
    changed = log.update_profile(reference, changes)
    emit({"customer": log.stored_reference(reference), "changed": changed, **changes}, fmt)


def _card(c: Customer) -> dict[str, Any]:
    """What a person asks about a customer first; follow-ups soonest due first."""
    follow_ups = sorted(c.open_follow_ups.items(), key=lambda item: item[1].due_at)
    return {
        "customer": c.reference,
        **{field: c.profile.get(field) for field in PROFILE_FIELDS},
        "stage": c.stage.value, "stage_since": c.stage_since, "cycle": c.cycle,
        "contacts": len(c.contact_ids), "retracted_contacts": len(c.retracted),
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
