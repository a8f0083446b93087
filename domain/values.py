"""Small values of the touchpoint domain: stages, parties, outcomes, channels, instants.

Everything here is plain data with validation; nothing touches storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

from touchlog.domain.errors import InvalidInput

# Documented limits (README "Input limits"): longer text is refused, never truncated.
MAX_SHORT_TEXT = 200
MAX_LONG_TEXT = 10_000
MAX_AMOUNT = Decimal("1000000000000")  # one trillion per contact
# Beyond this an amount stops being money: "1e-999999" would be stored as a million digits,
# and PostgreSQL's numeric refuses more than 16,383 of them (a projection could not apply it).
MAX_AMOUNT_DECIMALS = 12


class Stage(StrEnum):
    """The five relationship stages (Dwyer, Schurr and Oh); dissolution ends a cycle."""

    DISCOVERY = "discovery"
    EXPLORATION = "exploration"
    EXPANSION = "expansion"
    COMMITMENT = "commitment"
    DISSOLUTION = "dissolution"

    @property
    def rank(self) -> int:
        return _STAGE_RANK[self]

    def is_ahead_of(self, other: Stage) -> bool:
        return self.rank > other.rank

    @classmethod
    def parse(cls, value: object, field: str = "stage") -> Stage:
        if isinstance(value, Stage):
            return value
        stage = _STAGE_BY_NAME.get(str(value).strip().lower())
        if stage is None:
            known = ", ".join(s.value for s in cls)
            raise InvalidInput(field, value, f"unknown stage; known: {known}")
        return stage


_STAGE_RANK = {stage: rank for rank, stage in enumerate(Stage)}
_STAGE_BY_NAME = {stage.value: stage for stage in Stage}  # a lookup: Stage(text) is slow


class InitiatedBy(StrEnum):
    """Who started the contact: the company (first party), the customer, anyone else."""

    COMPANY = "company"
    CUSTOMER = "customer"
    THIRD_PARTY = "third_party"


class Outcome(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


@dataclass(frozen=True)
class ChannelInfo:
    """A contact means and the classification its contacts get unless told otherwise."""

    name: str
    deliberate: bool = True
    hard: bool = False


# The design documents' vocabulary (DOMAIN.md); deployments add their own in touchlog.toml.
DEFAULT_CHANNELS: tuple[ChannelInfo, ...] = (
    ChannelInfo("advertising", hard=True),
    ChannelInfo("public_relations"),
    ChannelInfo("personal"),
    ChannelInfo("meeting"),
    ChannelInfo("delegated"),
    ChannelInfo("media", hard=True),
    ChannelInfo("alliance"),
    ChannelInfo("random", deliberate=False),
    ChannelInfo("phone"),
    ChannelInfo("email", hard=True),
    ChannelInfo("sms", hard=True),
    ChannelInfo("letter", hard=True),
    ChannelInfo("fax", hard=True),
    ChannelInfo("call_center"),
    ChannelInfo("web", hard=True),
    ChannelInfo("chat"),
    ChannelInfo("social", deliberate=False),
    ChannelInfo("store"),
    ChannelInfo("club"),
    ChannelInfo("word_of_mouth", deliberate=False),
    ChannelInfo("after_sales"),
)



@dataclass(frozen=True)
class ReasonCategory:
    """A category of why relationships end, for reporting dissolutions."""

    name: str
    description: str | None = None


# Why customers leave, by the design documents' shares (DOMAIN.md "Relationship quality"),
# and `other`; deployments add their own in touchlog.toml.
DEFAULT_REASON_CATEGORIES: tuple[ReasonCategory, ...] = (
    ReasonCategory("staff_attitude", "the attitude of company staff (68%)"),
    ReasonCategory("product_dissatisfaction", "dissatisfied with the product (14%)"),
    ReasonCategory("competition", "won over by a competitor (9%)"),
    ReasonCategory("another_supplier", "moved to another supplier (5%)"),
    ReasonCategory("moved_away", "moved away (3%)"),
    ReasonCategory("died", "died (1%)"),
    ReasonCategory("other", "none of the above"),
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def vocabulary_name(value: object, field: str, example: str) -> str:
    """Validates the form of a name of a configurable vocabulary (a lower-case identifier,
    like a channel's or a reason category's)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _NAME.match(text):
        raise InvalidInput(field, value, f"expected a lower-case name like {example!r}")
    return text


def channel_name(value: object) -> str:
    """Validates the form of a channel name."""
    return vocabulary_name(value, "channel", "phone")


def reason_category_name(value: object) -> str | None:
    """Validates the form of a reason category's name; blank means none."""
    return None if blank(value) else vocabulary_name(value, "reason_category", "moved_away")


def reason_category_of(value: object, stage: str | None) -> str | None:
    """The reason category of a move to ``stage``: only a dissolution has one."""
    category = reason_category_name(value)
    if category is not None and stage != Stage.DISSOLUTION:
        raise InvalidInput("reason_category", value,
                           "a reason category says why a relationship ended: it goes with "
                           "the stage dissolution")
    return category


_INSTANT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_instant(value: object, field: str, zone: ZoneInfo | None = None) -> datetime:
    """An aware UTC datetime from a datetime, a date, or ISO 8601 text.

    Text without an offset is a time in ``zone`` (``local_instant``), UTC when there is
    none (the documented default for text input); an hour without its leading zero is
    accepted. A naive ``datetime`` object has no documented default and is refused.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(field, value, "a datetime needs a time zone")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise InvalidInput(field, value, "expected an ISO 8601 date or datetime")
    match = _INSTANT.match(value.strip())
    if not match:
        raise InvalidInput(field, value, "expected an ISO 8601 date or datetime")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0),
            int(second or 0), int((fraction or "0").ljust(6, "0")), tzinfo=UTC,
        )
    except ValueError as e:
        raise InvalidInput(field, value, f"not a real date or time ({e})") from None
    if zone is not None and not offset:
        return local_instant(moment.replace(tzinfo=None), zone, field, value)
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        shift = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        if abs(shift) > 18 * 60:
            raise InvalidInput(field, value, "offset beyond ±18:00")
        moment = _shift_minutes(moment, -shift)
    return moment


def instant_text(value: object, field: str, zone: ZoneInfo | None = None) -> str:
    """``iso(parse_instant(value, field, zone))``: the stored form of an instant given as
    input.

    The import's common form, ``2018-01-24T03:12:16`` (or with a space for the ``T``), is
    checked by the C parser alone in UTC; anything else goes the full way.
    """
    text = value if isinstance(value, str) and len(value) == 19 else ""
    plain = bool(text) and _PLAIN_NAIVE.match(text) is not None
    if zone is not None:
        if plain:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                return iso(local_instant(moment, zone, field, value))
        return iso(parse_instant(value, field, zone))
    if plain:
        naive = text if text[10] == "T" else f"{text[:10]}T{text[11:]}"
        try:
            datetime.fromisoformat(naive)  # only a real date and time passes
        except ValueError:
            pass
        else:
            return naive + "+00:00"
    return iso(parse_instant(value, field))


# A form fromisoformat and parse_instant read alike: ASCII digits only (_INSTANT's \d takes
# any), and hours up to 23 (a Python may read 24:00 as the next midnight).
_PLAIN_NAIVE = re.compile(r"\d{4}-\d\d-\d\d[T ](?:[01]\d|2[0-3]):\d\d:\d\d", re.ASCII)


def local_instant(naive: datetime, zone: ZoneInfo, field: str, value: object) -> datetime:
    """The UTC instant of a wall-clock time in ``zone``, DST included.

    A time the clocks skipped (put forward) does not exist there and is refused; a time the
    clocks went through twice (put back) is the first of the two (``fold=0``).
    """
    try:
        moment = naive.replace(tzinfo=zone).astimezone(UTC)
        back = moment.astimezone(zone).replace(tzinfo=None)
    except (OverflowError, ValueError):
        raise InvalidInput(field, value, "out of the supported date range") from None
    if back != naive:
        raise InvalidInput(field, value, f"that time does not exist in {zone.key} (the "
                           "clocks were put forward)")
    return moment


def time_zone(name: object, field: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``, ``UTC``), or an InvalidInput."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(field, name, "expected an IANA time zone name like 'Europe/Berlin'")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, name, "unknown time zone; expected an IANA name like "
                           "'Europe/Berlin' or 'UTC'") from None


def upper_bound(value: object, field: str) -> datetime:
    """An inclusive upper bound: a whole day (``2017-02-08``, or a ``date``) includes that
    day to its last microsecond; any other value is the instant ``parse_instant`` reads."""
    moment = parse_instant(value, field)
    whole_day = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and _DAY.match(value.strip()) is not None)
    return moment + _LAST_MICROSECOND if whole_day else moment


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LAST_MICROSECOND = timedelta(days=1, microseconds=-1)


def _shift_minutes(moment: datetime, minutes: int) -> datetime:
    try:
        return moment + timedelta(minutes=minutes)
    except OverflowError:
        raise InvalidInput("occurred_at", moment, "out of the supported date range") from None


def iso(moment: datetime) -> str:
    """The stored and printed form of an instant: ISO 8601 in UTC with offset."""
    return moment.astimezone(UTC).isoformat()


def parse_amount(value: object, field: str = "amount") -> Decimal:
    """An exact, non-negative amount; refuses floats' rounding by accepting text or Decimal."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(field, value, "not a decimal number") from None
    if not amount.is_finite():
        raise InvalidInput(field, value, "not a finite number")
    if amount < 0:
        raise InvalidInput(field, value, "must not be negative")
    if amount > MAX_AMOUNT:
        raise InvalidInput(field, value, f"larger than the limit {MAX_AMOUNT}")
    if -amount.as_tuple().exponent > MAX_AMOUNT_DECIMALS:  # type: ignore[operator]
        raise InvalidInput(field, value,
                           f"more than {MAX_AMOUNT_DECIMALS} digits after the decimal point")
    return amount.copy_abs()  # "-0.00" is zero: stored and summed without a sign


def amount_text(amount: Decimal) -> str:
    """The stored form of an amount: plain decimal notation, scale kept ("1054.00")."""
    return format(amount, "f")


def parse_rating(value: object, field: str = "rating") -> int:
    if isinstance(value, bool):
        raise InvalidInput(field, value, "expected a whole number from 1 to 5")
    try:
        rating = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise InvalidInput(field, value, "expected a whole number from 1 to 5") from None
    if not 1 <= rating <= 5:
        raise InvalidInput(field, value, "expected a whole number from 1 to 5")
    return rating


def text(value: object, field: str, limit: int = MAX_SHORT_TEXT) -> str | None:
    """Optional free text: blank means absent; longer than the limit is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, value, "expected text")
    if not value:  # the usual blank CSV cell
        return None
    if "\x00" in value:
        raise InvalidInput(field, value[:40], "NUL characters are not allowed in text")
    if not value.isascii():  # only other text can hold a lone surrogate
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(field, value[:40], "not valid UTF-8 text") from None
    if not value.strip():
        return None
    if len(value) > limit:
        raise InvalidInput(field, f"{value[:20]}…", f"longer than {limit} characters")
    return value


E = TypeVar("E", InitiatedBy, Outcome)


def blank(value: object) -> bool:
    """Absent: None, or text of white space only."""
    return value is None or (isinstance(value, str) and not value.strip())


def initiator(value: object) -> InitiatedBy:
    """Who started a contact; blank means the company."""
    return choice(InitiatedBy, value, "initiated_by") or InitiatedBy.COMPANY


def outcome_of(value: object) -> Outcome | None:
    return choice(Outcome, value, "outcome")


def rating_of(value: object) -> int | None:
    return None if blank(value) else parse_rating(value)


def amount_of(value: object) -> Decimal | None:
    return None if blank(value) else parse_amount(value)


def stage_signal_of(value: object, field: str = "stage_signal") -> Stage | None:
    return None if blank(value) else Stage.parse(value, field)


def choice(kind: type[E], value: object, field: str) -> E | None:
    """One of an enumeration's values, any case, or None when blank."""
    if blank(value):
        return None
    member = _MEMBERS[kind].get(str(value).strip().lower())
    if member is None:
        known = ", ".join(member.value for member in kind)
        raise InvalidInput(field, value, f"expected one of: {known}")
    return member  # type: ignore[return-value]


# Lookups by value: calling an enumeration, Outcome("neutral"), is slow.
_MEMBERS: dict[type[StrEnum], dict[str, StrEnum]] = {
    kind: {member.value: member for member in kind} for kind in (InitiatedBy, Outcome)}


def required_text(value: object, field: str, limit: int = MAX_SHORT_TEXT) -> str:
    result = text(value, field, limit)
    if result is None:
        raise InvalidInput(field, value, "must not be empty")
    return result


# Something@somewhere.tld, without spaces: enough to catch a name or phone number typed in
# the wrong place; deliverability is not judged.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")


def email_of(value: object, field: str = "email") -> str | None:
    """Optional e-mail address: blank means absent; one that does not look like an address
    (local part, @, a domain with a dot) is refused."""
    address = text(value, field)
    if address is None:
        return None
    address = address.strip()
    if not _EMAIL.match(address):
        raise InvalidInput(field, value, "does not look like an e-mail address "
                           "(name@example.com)")
    return address


def person_of(name: object, email: object) -> dict[str, str | None] | None:
    """The person at the customer a contact was with, as ContactLogged stores it: a name
    and/or an e-mail address, or None when neither is given."""
    person_name = text(name, "person")
    person_email = email_of(email, "person_email")
    if person_name is None and person_email is None:
        return None
    return {"name": person_name, "email": person_email}


def flag_of(value: object, field: str) -> bool:
    """A yes/no value: a bool, or text true/false, yes/no, 1/0, y/n (any case); blank is
    false."""
    if isinstance(value, bool):
        return value
    if blank(value):
        return False
    word = str(value).strip().lower()
    if word in ("true", "yes", "1", "y"):
        return True
    if word in ("false", "no", "0", "n"):
        return False
    raise InvalidInput(field, value, "expected true or false (yes/no, 1/0)")
