"""The input commands that carry a contact card and a follow-up plan (validated at the boundary)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from touchlog.domain import values as v
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import derived_contact_id
from touchlog.domain.values import ChannelInfo, InitiatedBy, Outcome, Stage

E = TypeVar("E", InitiatedBy, Outcome)

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

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _instant(cls, value: object) -> datetime:
        return v.parse_instant(value, "occurred_at")

    @field_validator("channel", mode="before")
    @classmethod
    def _channel(cls, value: object) -> str:
        return v.channel_name(value)

    @field_validator("purpose", "place", "actor", mode="before")
    @classmethod
    def _short_text(cls, value: object, info: Any) -> str | None:
        return v.text(value, info.field_name)

    @field_validator("summary", mode="before")
    @classmethod
    def _long_text(cls, value: object) -> str | None:
        return v.text(value, "summary", v.MAX_LONG_TEXT)

    @field_validator("initiated_by", mode="before")
    @classmethod
    def _initiated_by(cls, value: object) -> InitiatedBy:
        return _choice(InitiatedBy, value, "initiated_by") or InitiatedBy.COMPANY

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: object) -> Outcome | None:
        return _choice(Outcome, value, "outcome")

    @field_validator("rating", mode="before")
    @classmethod
    def _rating(cls, value: object) -> int | None:
        return None if _blank(value) else v.parse_rating(value)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: object) -> Decimal | None:
        return None if _blank(value) else v.parse_amount(value)

    def plain(self) -> dict[str, Any]:
        """The fields that were given, as the plain values events store."""
        return {name: _plain(getattr(self, name)) for name in sorted(self.model_fields_set)}


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
        return None if _blank(value) else Stage.parse(value, "stage_signal")

    def derived_id(self, reference: str, occurrence: int = 0) -> str:
        """The id ``derived_contact_id`` gives this card (see there)."""
        return derived_contact_id(reference, self._content(), occurrence)

    def card(self, reference: str, channel: ChannelInfo, occurrence: int = 0) -> dict[str, Any]:
        """The plain values a ContactLogged event stores, with the id and the flags settled.

        The flags not given default from the channel (deliberate, hard) and from who
        initiated the contact (active when the company did).
        """
        card = self._content()
        card["contact_id"] = self.contact_id or derived_contact_id(reference, card, occurrence)
        card["deliberate"] = channel.deliberate if self.deliberate is None else self.deliberate
        card["hard"] = channel.hard if self.hard is None else self.hard
        card["active"] = (self.initiated_by is InitiatedBy.COMPANY if self.active is None
                          else self.active)
        return card

    def _content(self) -> dict[str, Any]:
        return {
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


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _choice(kind: type[E], value: object, field: str) -> E | None:
    if _blank(value):
        return None
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise InvalidInput(field, value, f"expected one of: {known}") from None


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return v.iso(value)
    if isinstance(value, Decimal):
        return v.amount_text(value)
    if isinstance(value, (InitiatedBy, Outcome, Stage)):
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
