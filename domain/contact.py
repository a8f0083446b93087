"""The input models of a contact card and a follow-up plan (validated at the boundary), and
the import's reading of the same from text without the models (``CardReader``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from touchlog.domain import values as v
from touchlog.domain.attributes import Declared, attribute_values
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import derived_contact_id
from touchlog.domain.values import ChannelInfo, InitiatedBy, Outcome, Stage

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo


class ContactChanges(BaseModel):
    """The fields of a contact card that an amendment may change (all optional).

    Fields given as blank text clear the value; fields not given stay as they were.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    occurred_at: datetime | None = None
    channel: str | None = None
    initiated_by: InitiatedBy | None = None
    purpose: str | None = None
    summary: str | None = None
    place: str | None = None
    actor: str | None = None
    outcome: Outcome | None = None
    rating: int | None = None
    amount: Decimal | None = None
    deliberate: bool | None = None
    hard: bool | None = None
    active: bool | None = None
    reason_category: str | None = None
    # The person at the customer: a name and/or an e-mail address.
    person: str | None = None
    person_email: str | None = None
    purchase: bool | None = None
    # Attributes as given (name -> value); typed against the declared ones when recorded
    # (``attribute_values``), since only the settings know their types.
    attributes: dict[str, Any] | None = None

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _instant(cls, value: object) -> datetime:
        return v.parse_instant(value, "occurred_at")

    @field_validator("channel", mode="before")
    @classmethod
    def _channel(cls, value: object) -> str:
        return v.channel_name(value)

    @field_validator("purpose", "place", "actor", "person", mode="before")
    @classmethod
    def _short_text(cls, value: object, info: Any) -> str | None:
        return v.text(value, info.field_name)

    @field_validator("person_email", mode="before")
    @classmethod
    def _email(cls, value: object) -> str | None:
        return v.email_of(value, "person_email")

    @field_validator("purchase", mode="before")
    @classmethod
    def _purchase(cls, value: object) -> bool:
        return v.flag_of(value, "purchase")

    @field_validator("summary", mode="before")
    @classmethod
    def _long_text(cls, value: object) -> str | None:
        return v.text(value, "summary", v.MAX_LONG_TEXT)

    @field_validator("initiated_by", mode="before")
    @classmethod
    def _initiated_by(cls, value: object) -> InitiatedBy:
        return v.initiator(value)

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: object) -> Outcome | None:
        return v.outcome_of(value)

    @field_validator("rating", mode="before")
    @classmethod
    def _rating(cls, value: object) -> int | None:
        return v.rating_of(value)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: object) -> Decimal | None:
        return v.amount_of(value)

    @field_validator("reason_category", mode="before")
    @classmethod
    def _reason_category(cls, value: object) -> str | None:
        return v.reason_category_name(value)

    def plain(self, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        """The fields that were given, as the plain values events store: the person's
        name and e-mail as ``person`` ({"name"} and/or {"email"}, merged into the card's),
        and ``attributes`` typed (by the caller; None clears one) in place of those given."""
        given = sorted(self.model_fields_set - {"person", "person_email", "attributes"})
        values = {name: _plain(getattr(self, name)) for name in given}
        person = {key: getattr(self, field) for key, field in
                  (("name", "person"), ("email", "person_email"))
                  if field in self.model_fields_set}
        if person:
            values["person"] = person
        if attributes:
            values["attributes"] = attributes
        return dict(sorted(values.items()))


class Contact(ContactChanges):
    """A contact card: who, when, how, why, what and how it went (DOMAIN.md).

    The classification flags default from the channel (deliberate, hard) and from who
    initiated it (active when the company did) when not given.
    """

    occurred_at: datetime
    channel: str
    contact_id: str | None = None
    initiated_by: InitiatedBy = InitiatedBy.COMPANY
    stage_signal: Stage | None = None

    @field_validator("contact_id", mode="before")
    @classmethod
    def _contact_id(cls, value: object) -> str | None:
        return v.text(value, "contact_id")

    @field_validator("stage_signal", mode="before")
    @classmethod
    def _stage(cls, value: object) -> Stage | None:
        return v.stage_signal_of(value)

    @model_validator(mode="after")
    def _ended(self) -> Contact:
        """A reason category says why a relationship ended: only with a dissolution."""
        v.reason_category_of(self.reason_category, self.stage_signal)
        return self

    def derived_id(self, reference: str, occurrence: int = 0, *,
                   attributes: dict[str, Any] | None = None) -> str:
        """The id ``derived_contact_id`` gives this card (see there), with its
        ``attributes`` typed (``attribute_values``)."""
        content = self._content()
        content["person"], content["attributes"], content["purchase"] = self._extras(attributes)
        return derived_contact_id(reference, content, occurrence)

    def card(self, reference: str, channel: ChannelInfo, occurrence: int = 0, *,
             attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        """The plain values a ContactLogged event stores, with the id and the flags settled.

        The flags not given default from the channel (deliberate, hard) and from who
        initiated the contact (active when the company did). ``attributes`` are the card's
        attributes typed (``attribute_values``).
        """
        return settled(self._content(), reference, channel, self.contact_id, occurrence,
                       (self.deliberate, self.hard, self.active), self._extras(attributes))

    def _extras(self, attributes: dict[str, Any] | None) -> Extras:
        return (v.person_of(self.person, self.person_email), attributes or {},
                bool(self.purchase))

    def _content(self) -> dict[str, Any]:
        return {
            "contact_id": None,
            "occurred_at": v.iso(self.occurred_at),
            "channel": self.channel,
            "initiated_by": self.initiated_by.value,
            "purpose": self.purpose,
            "summary": self.summary,
            "place": self.place,
            "actor": self.actor,
            "outcome": self.outcome.value if self.outcome else None,
            "rating": self.rating,
            "amount": v.amount_text(self.amount) if self.amount is not None else None,
            "stage_signal": self.stage_signal.value if self.stage_signal else None,
            "reason_category": self.reason_category,
        }


class FollowUpPlan(BaseModel):
    """A follow-up to schedule: due time, owner and purpose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    due_at: datetime
    owner: str | None = None
    purpose: str | None = None
    follow_up_id: str | None = None

    @field_validator("due_at", mode="before")
    @classmethod
    def _instant(cls, value: object) -> datetime:
        return v.parse_instant(value, "follow_up_due")

    @field_validator("owner", "purpose", "follow_up_id", mode="before")
    @classmethod
    def _short_text(cls, value: object, info: Any) -> str | None:
        return v.text(value, info.field_name)

    @classmethod
    def from_stored(cls, plan: PlanValues) -> FollowUpPlan:
        """A plan from the values ``plan_values`` gave (kept in the import's spool): they
        were checked then, so they are not validated again."""
        return cls.model_construct(due_at=datetime.fromisoformat(plan.due_at), owner=plan.owner,
                                   purpose=plan.purpose)


# -- the same cards without the models: the import's path ------------------------------


class CardInput(NamedTuple):
    """A contact card's fields as given in text, None when absent.

    The order is the one ``Contact`` checks them in (its field order), so that of several
    bad values both paths report the same one first; then the reason category must go with
    a dissolution signal (its model validator).
    """

    occurred_at: str | None
    channel: str | None
    initiated_by: str | None
    purpose: str | None
    summary: str | None
    place: str | None
    actor: str | None
    outcome: str | None
    rating: str | None
    amount: str | None
    reason_category: str | None
    person: str | None
    person_email: str | None
    purchase: str | None
    contact_id: str | None
    stage_signal: str | None


CARD_INPUT_FIELDS = CardInput._fields


class PlanValues(NamedTuple):
    """A follow-up plan's stored values: the due time as ISO text, the owner, the purpose."""

    due_at: str
    owner: str | None
    purpose: str | None


class CardReader:
    """Contact cards read from text input without building models: the import's path.

    ``card(reference, given)`` gives ``Contact(**given._asdict()).card(reference,
    channel_info(channel))`` and whether the id was derived (no contact_id given). Each
    field goes through the rule the model's validator calls, in the model's order, so a bad
    value is refused with the same field and reason; the channel is looked up after every
    field and the model's rule, then the reason category (``reason_category_info``). The
    stored value of each value seen is remembered for the fields with few
    distinct values (channels, parties, outcomes, ratings, ...), up to ``remember`` values
    per field. Times without an offset are in ``zone`` (UTC when None).
    """

    def __init__(self, channel_info: Callable[[str], ChannelInfo],
                 reason_category_info: Callable[[str], object], remember: int = 4096,
                 zone: ZoneInfo | None = None, declared: Declared | None = None) -> None:
        def memo(rule: Callable[[Any], Any]) -> _Memo:
            return _Memo(rule, remember)

        self.channel_info = channel_info
        self.zone = zone
        self.reason_category_info = reason_category_info
        self.channel = memo(v.channel_name)
        self.initiated_by = memo(lambda value: v.initiator(value)._value_)
        self.purpose = memo(lambda value: v.text(value, "purpose"))
        self.place = memo(lambda value: v.text(value, "place"))
        self.actor = memo(lambda value: v.text(value, "actor"))
        self.outcome = memo(lambda value: _value(v.outcome_of(value)))
        self.rating = memo(v.rating_of)
        self.amount = memo(lambda value: _amount_text(v.amount_of(value)))
        self.stage_signal = memo(lambda value: _value(v.stage_signal_of(value)))
        self.purchase = memo(lambda value: v.flag_of(value, "purchase"))
        self.declared = declared or {}

    def card(self, reference: str, given: CardInput,
             attributes: Mapping[str, str] | None = None) -> tuple[dict[str, Any], bool]:
        """The card and whether its id was derived, or an InvalidInput naming the field.
        ``attributes`` (name -> text) are typed last, against the declared ones."""
        content: dict[str, Any] = {
            "contact_id": None,
            "occurred_at": v.instant_text(given.occurred_at, "occurred_at", self.zone),
            "channel": self.channel[given.channel],
            "initiated_by": self.initiated_by[given.initiated_by],
            "purpose": self.purpose[given.purpose],
            "summary": v.text(given.summary, "summary", v.MAX_LONG_TEXT),
            "place": self.place[given.place],
            "actor": self.actor[given.actor],
            "outcome": self.outcome[given.outcome],
            "rating": self.rating[given.rating],
            "amount": self.amount[given.amount],
        }
        category = None if not given.reason_category else v.reason_category_name(
            given.reason_category)
        person = (None if given.person is None and given.person_email is None
                  else v.person_of(given.person, given.person_email))
        purchase = False if given.purchase is None else self.purchase[given.purchase]
        given_id = v.text(given.contact_id, "contact_id")
        signal = content["stage_signal"] = self.stage_signal[given.stage_signal]
        content["reason_category"] = category
        if category is not None:
            v.reason_category_of(category, signal)
        channel_flags = self.channel_info(content["channel"])
        if category is not None:
            self.reason_category_info(category)
        typed = (attribute_values(self.declared, attributes, field=ATTRIBUTE_COLUMN)
                 if attributes else {})
        return (settled(content, reference, channel_flags, given_id, 0, (None, None, None),
                        (person, typed, purchase)), given_id is None)


ATTRIBUTE_COLUMN = "attr.{}"  # how the import names an attribute's value: by its column


class _Memo(dict[Any, Any]):
    """A rule's results by input value, computed on first sight; refusals are not kept."""

    def __init__(self, rule: Callable[[Any], Any], limit: int) -> None:
        super().__init__()
        self.rule, self.limit = rule, limit

    def __missing__(self, value: Any) -> Any:
        result = self.rule(value)
        if len(self) < self.limit:  # memory stays flat whatever the input
            self[value] = result
        return result


def _value(member: StrEnum | None) -> str | None:
    return None if member is None else member._value_  # quicker than the .value property


def _amount_text(amount: Decimal | None) -> str | None:
    return None if amount is None else v.amount_text(amount)


def plan_values(due_at: object, owner: object, purpose: object,
                zone: ZoneInfo | None = None) -> PlanValues:
    """A follow-up plan's stored values without building a FollowUpPlan: checked by its
    validators' rules, in its order, refusals naming its fields (``FollowUpPlan.from_stored``
    makes the plan). A due time without an offset is in ``zone`` (UTC when None)."""
    return PlanValues(v.instant_text(due_at, "follow_up_due", zone), v.text(owner, "owner"),
                      v.text(purpose, "purpose"))


def settled(content: dict[str, Any], reference: str, channel: ChannelInfo,
            contact_id: str | None, occurrence: int = 0,
            flags: tuple[bool | None, bool | None, bool | None] = (None, None, None),
            extras: Extras | None = None) -> dict[str, Any]:
    """A card's content with its id and its (deliberate, hard, active) flags settled.

    The id is the given one, else derived from the content; flags not given default from
    the channel (deliberate, hard) and from who initiated the contact (active when the
    company did). ``content`` starts with a ``contact_id`` of None, so that a card's fields
    come in ``ContactLogged``'s order, the order the import's spool reads cards back in.
    ``extras`` are the person, the attributes and the purchase flag (ContactLogged's
    version 3 fields), part of a derived id only when given.
    """
    deliberate, hard, active = flags
    person, attributes, purchase = extras or (None, {}, False)
    if not contact_id:
        given = ({**content, "person": person, "attributes": attributes, "purchase": purchase}
                 if person or attributes or purchase else content)
        contact_id = derived_contact_id(reference, given, occurrence)
    content["contact_id"] = contact_id
    content["deliberate"] = channel.deliberate if deliberate is None else deliberate
    content["hard"] = channel.hard if hard is None else hard
    content["active"] = (content["initiated_by"] == InitiatedBy.COMPANY if active is None
                         else active)
    content["person"], content["attributes"], content["purchase"] = person, attributes, purchase
    return content


# A card's person, typed attributes and purchase flag.
Extras = tuple[dict[str, Any] | None, dict[str, Any], bool]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return v.iso(value)
    if isinstance(value, Decimal):
        return v.amount_text(value)
    if isinstance(value, InitiatedBy | Outcome | Stage):
        return value.value
    return value


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """``model`` built from ``data``; any refusal is an InvalidInput naming field and value."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or model.__name__
        if first["type"] == "extra_forbidden":
            raise InvalidInput(field, first.get("input"), "unknown field") from None
        raise InvalidInput(field, first.get("input"), str(first["msg"]).lower()) from None
