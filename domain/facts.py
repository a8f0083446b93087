"""Facts other than contacts, as an import records them: follow-ups scheduled, completed,
cancelled and rescheduled, profile updates, explicit stage changes and retractions.

A ``FactEntry`` is one such fact for one customer, its values already checked (the
import's ``fact_rows.py`` reads them from a row). ``apply_fact`` records it on the loaded
customer through the aggregate's own commands and rules, and says whether it was new:
the same fact recorded again changes nothing, so an import run again records nothing
twice. What makes a fact the same (docs/import.md "Kinds of rows"):
- a follow-up scheduled: its ``follow_up_id``;
- completed or cancelled: the follow-up is already completed (cancelled);
- rescheduled: the follow-up was already moved to that ``due_at`` at that ``at``;
- a profile update: every value given is already the profile's;
- a stage change: an explicit change with the same time, stage, reason, actor and category;
- a retraction: the contact is already retracted.
A fact the stored state refuses (a completion of an unknown follow-up) is an InvalidInput
naming the column to fix.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from touchlog.domain.customer import SCHEDULED_IN_FUTURE, Customer, not_in_future
from touchlog.domain.errors import (
    ContactAlreadyRetracted,
    ContactNotFound,
    FollowUpError,
    InvalidInput,
)
from touchlog.domain.stages import StageFact
from touchlog.domain.values import Stage

# The kinds of rows an import reads; ``contact`` is the default.
CONTACT = "contact"
FACT_KINDS = ("follow_up_scheduled", "follow_up_completed", "follow_up_cancelled",
              "follow_up_rescheduled", "profile", "stage_changed", "retraction")
KINDS = (CONTACT, *FACT_KINDS)
# An explicit stage change from a file without an ``actor``: a fixed name, so that the
# same row imported again is the same fact whoever runs the import.
IMPORT_ACTOR = "import"


class FactEntry(NamedTuple):
    """A fact to record on the customer ``reference``: its kind, when it happened (None for
    a profile update or a retraction, which carry no time) and its values by field."""

    reference: str
    kind: str
    at: str | None
    values: dict[str, Any]

    @property
    def id(self) -> str:
        """What names the fact in a result: its follow-up, or its contact, if any."""
        return str(self.values.get("follow_up_id") or self.values.get("contact_id") or "")


def apply_fact(customer: Customer, entry: FactEntry,
               source: dict[str, Any] | None = None) -> bool:
    """Records the fact on ``customer``; False when it is already there (see the module).
    ``source`` (the import and line) goes into the event it records."""
    values = entry.values if source is None else {**entry.values, "source": source}
    return bool(_APPLY[entry.kind](customer, values))


def _scheduled(customer: Customer, f: dict[str, Any]) -> bool:
    if f["follow_up_id"] in customer.follow_ups:
        return False
    not_in_future(f["at"], SCHEDULED_IN_FUTURE)
    owner = f.get("owner") or customer.owner
    if owner is None:
        raise InvalidInput("owner", None, "a follow-up needs an owner (the owner column, or "
                           "the customer's owner: a profile row or 'customer set --owner')")
    contact_id = f.get("contact_id")
    if contact_id is not None and contact_id not in customer.contact_ids:
        raise _no_contact(contact_id)
    customer.schedule_follow_up(f["follow_up_id"], f["due_at"], owner, at=f["at"],
                                purpose=f.get("purpose"), contact_id=contact_id,
                                source=f.get("source"))
    return True


def _settled(status: str) -> Any:
    def apply(customer: Customer, f: dict[str, Any]) -> bool:
        follow_up = _follow_up(customer, f["follow_up_id"])
        if follow_up.status == status:
            return False
        try:
            if status == "completed":
                contact_id = f.get("contact_id")
                if contact_id is not None and contact_id not in customer.contact_ids:
                    raise _no_contact(contact_id)
                customer.complete_follow_up(f["follow_up_id"], f["at"], contact_id=contact_id,
                                            actor=f.get("actor"), source=f.get("source"))
            else:
                customer.cancel_follow_up(f["follow_up_id"], f["at"], f["reason"],
                                          actor=f.get("actor"), source=f.get("source"))
        except FollowUpError as e:
            raise InvalidInput("follow_up_id", f["follow_up_id"], str(e)) from None
        return True
    return apply


def _rescheduled(customer: Customer, f: dict[str, Any]) -> bool:
    follow_up = _follow_up(customer, f["follow_up_id"])
    if (f["at"], f["due_at"]) in follow_up.moves:
        return False
    try:
        customer.reschedule_follow_up(f["follow_up_id"], f["due_at"], at=f["at"],
                                      reason=f.get("reason"), actor=f.get("actor"),
                                      source=f.get("source"))
    except FollowUpError as e:
        field = "due_at" if follow_up.status == "open" else "follow_up_id"
        raise InvalidInput(field, f[field], str(e)) from None
    return True


def _profile(customer: Customer, f: dict[str, Any]) -> bool:
    # Only the values given: a blank cell leaves the profile's value as it is.
    return customer.update_profile(
        {k: v for k, v in f.items() if v is not None and k not in ("attributes", "source")},
        attributes=f.get("attributes"), source=f.get("source"))


def _stage_changed(customer: Customer, f: dict[str, Any]) -> bool:
    actor = f.get("actor") or IMPORT_ACTOR
    fact = StageFact(f["at"], f["to_stage"], None, f["reason"], actor, f.get("reason_category"))
    if fact in customer.stage_facts.changes:
        return False
    customer.change_stage(Stage.parse(f["to_stage"]), f["at"], f["reason"], actor,
                          reason_category=f.get("reason_category"), source=f.get("source"))
    return True


def _retraction(customer: Customer, f: dict[str, Any]) -> bool:
    try:
        customer.retract_contact(f["contact_id"], f["reason"], actor=f.get("actor"),
                                 source=f.get("source"))
    except ContactAlreadyRetracted:
        return False
    except ContactNotFound:
        raise _no_contact(f["contact_id"]) from None
    return True


def _follow_up(customer: Customer, follow_up_id: str) -> Any:
    follow_up = customer.follow_ups.get(follow_up_id)
    if follow_up is None:
        raise InvalidInput("follow_up_id", follow_up_id, "no follow-up with this id for this "
                           "customer by then (a follow_up_scheduled row at or before this "
                           "row's time, or 'followup schedule', schedules it)")
    return follow_up


def _no_contact(contact_id: str) -> InvalidInput:
    return InvalidInput("contact_id", contact_id, "no contact with this id for this customer")


_APPLY = {
    "follow_up_scheduled": _scheduled,
    "follow_up_completed": _settled("completed"),
    "follow_up_cancelled": _settled("cancelled"),
    "follow_up_rescheduled": _rescheduled,
    "profile": _profile,
    "stage_changed": _stage_changed,
    "retraction": _retraction,
}
