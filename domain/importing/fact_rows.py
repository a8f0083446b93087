"""The reading of rows of every kind (docs/import.md "Kinds of rows"): a ``kind`` column,
or one kind for the whole file, says what each row records.

A file with neither is read by ``RowParser`` (csv_rows.py) alone, as it always was.
Otherwise ``KindParser`` reads each row's kind and gives a contact row to ``RowParser`` and
any other to the ``FactReader`` of its kind, which checks the kind's columns (required,
their form, vocabularies, times in the import's time zone) and gives a ``ParsedFact``.
What only the stored state can check (a completion of an unknown follow-up) is checked
when the fact is recorded (domain/facts.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from touchlog.domain import values as v
from touchlog.domain.attributes import attribute_values
from touchlog.domain.customer import SCHEDULED_IN_FUTURE, not_in_future
from touchlog.domain.errors import InvalidInput
from touchlog.domain.facts import CONTACT, FACT_KINDS, KINDS
from touchlog.domain.identity import customer_reference, derived_follow_up_id
from touchlog.domain.importing.csv_rows import (
    ATTRIBUTE_PREFIX,
    COLUMNS,
    ParsedRow,
    RowParser,
    attribute_columns,
    check_header,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from touchlog.domain.settings import Settings

# Each kind's columns: required, then optional. Every kind names its ``customer``.
FACT_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "follow_up_scheduled": (("customer", "at", "due_at"),
                            ("follow_up_id", "owner", "purpose", "contact_id")),
    "follow_up_completed": (("customer", "follow_up_id", "at"), ("actor", "contact_id")),
    "follow_up_cancelled": (("customer", "follow_up_id", "at", "reason"), ("actor",)),
    "follow_up_rescheduled": (("customer", "follow_up_id", "at", "due_at"),
                              ("reason", "actor")),
    # Profile values, and the customer attributes (attr.NAME, declared in touchlog.toml).
    "profile": (("customer",), ("owner", "name", "email", "phone")),
    "stage_changed": (("customer", "to_stage", "at", "reason"), ("reason_category", "actor")),
    "retraction": (("customer", "contact_id", "reason"), ("actor",)),
}
assert tuple(FACT_COLUMNS) == FACT_KINDS
# Every column a file of kinds may have: the contact's, the other kinds', and ``kind``.
KIND_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(
    [*COLUMNS, *(c for required, optional in FACT_COLUMNS.values()
                 for c in (*required, *optional)), "kind"]))
# Where a kind's rows go among a customer's rows at the same time: contacts first (a
# completion may name one), then schedulings and stage changes, then what follows them.
_RANK = {"follow_up_scheduled": "\x01", "stage_changed": "\x01", "follow_up_completed": "\x02",
         "follow_up_cancelled": "\x02", "follow_up_rescheduled": "\x02"}
FIRST, LAST = "", "\uffff"  # a profile update before a customer's timed rows, a retraction after


def check_kinds_header(header: list[str], delimiter: str, kind: str | None) -> None:
    """Refuses a header as ``check_header`` does, for a file of kinds: with a ``kind``
    column, any kind's columns; of one ``kind`` (``--kind``), that kind's columns only,
    its required ones present."""
    if kind is None:
        check_header(header, delimiter, KIND_COLUMNS, ("customer",))
    elif "kind" in header:
        raise InvalidInput("header", "kind", f"the file has a kind column: --kind {kind} is "
                           "for a file of one kind without one")
    elif kind == CONTACT:
        check_header(header, delimiter, kind=f" for kind {kind}")
    else:
        required, optional = FACT_COLUMNS[kind]
        check_header(header, delimiter, (*required, *optional), required, f" for kind {kind}",
                     attributes=kind == "profile")


class ParsedFact(NamedTuple):
    """A row of a kind other than contact, as the import reads it: the customer, the kind,
    its place among the customer's rows (``key``: its time, see ``_RANK``), and its values."""

    reference: str
    kind: str
    key: str
    values: dict[str, Any]


class KindParser:
    """A row's kind (its ``kind`` column, blank meaning ``default``), then the row read
    as that kind: a ``ParsedRow`` for a contact, a ``ParsedFact`` for any other."""

    def __init__(self, positions: dict[str, int], width: int, settings: Settings,
                 zone: ZoneInfo | None) -> None:
        self.kind_at = positions["kind"]
        contact, profile = _attribute_positions(positions, settings)
        self.contact = RowParser.at(contact, width, settings, zone)
        self.facts = {kind: FactReader(kind, profile if kind == "profile" else positions,
                                       settings, zone) for kind in FACT_KINDS}

    def __call__(self, values: list[str]) -> ParsedRow | ParsedFact:
        row: list[Any] = values if len(values) == self.contact.width \
            else self.contact._padded(values)
        kind = (row[self.kind_at] or "").strip() or CONTACT
        if kind == CONTACT:
            return self.contact(values)
        reader = self.facts.get(kind)
        if reader is None:
            raise InvalidInput("kind", kind, f"unknown kind; known: {', '.join(KINDS)}")
        return reader(row)


class FactReader:
    """The rows of one kind: each of its columns checked by the rule the command line's
    option of the same meaning uses, in the order of ``FACT_COLUMNS``."""

    def __init__(self, kind: str, positions: dict[str, int], settings: Settings,
                 zone: ZoneInfo | None) -> None:
        required, optional = FACT_COLUMNS[kind]
        self.kind, self.required = kind, required
        self.rank = _RANK.get(kind)
        self.columns = [(name, positions.get(name), _rule(name, settings, zone))
                        for name in (*required, *optional) if name != "customer"]
        self.customer_at = positions.get("customer")
        self.derives = kind == "follow_up_scheduled"
        self.declared = settings.customer_attributes
        self.attributes = (attribute_columns(positions, self.declared, "customer")
                           if kind == "profile" else [])

    def __call__(self, row: list[Any]) -> ParsedFact:
        customer = _cell(row, self.customer_at)
        if not customer.strip():
            raise InvalidInput("customer", customer, f"required for a {self.kind} row")
        reference = customer_reference(customer)
        values: dict[str, Any] = {}
        for name, at, rule in self.columns:
            text = _cell(row, at)
            if not text.strip():
                if name in self.required:
                    missing = "" if at is not None else " (the file has no such column)"
                    raise InvalidInput(name, text, f"required for a {self.kind} row{missing}")
                values[name] = None
                continue
            values[name] = rule(text)
        if self.attributes:
            values["attributes"] = attribute_values(
                self.declared, {name: text for name, at in self.attributes
                                if (text := _cell(row, at)).strip()},
                "customer", field=ATTRIBUTE_PREFIX + "{}")
        return ParsedFact(reference, self.kind, self._key(values), self._checked(reference,
                                                                                  values))

    def _checked(self, reference: str, values: dict[str, Any]) -> dict[str, Any]:
        kind = self.kind
        if kind.startswith("follow_up_"):
            reason = SCHEDULED_IN_FUTURE if kind == "follow_up_scheduled" else (
                f"a follow-up cannot be {kind.removeprefix('follow_up_')} in the future")
            not_in_future(values["at"], reason)
        if kind == "stage_changed":
            v.reason_category_of(values["reason_category"], values["to_stage"])
        if self.derives and values["follow_up_id"] is None:
            # The same row gives the same id: importing it again schedules nothing twice.
            values["follow_up_id"] = derived_follow_up_id(reference, [
                values[k] for k in ("at", "due_at", "owner", "purpose", "contact_id")])
        return values

    def _key(self, values: dict[str, Any]) -> str:
        if self.rank is not None:
            return str(values["at"]) + self.rank
        return FIRST if self.kind == "profile" else LAST


def _attribute_positions(positions: dict[str, int], settings: Settings,
                         ) -> tuple[dict[str, int], dict[str, int]]:
    """The positions a file of kinds gives its contact rows and its profile rows: an
    ``attr.NAME`` column is a contact attribute on contact rows and a customer attribute on
    profile rows, each where touchlog.toml declares it so; declared as neither, it refuses
    the file, naming the closest names."""
    contact, profile = dict(positions), dict(positions)
    for key in positions:
        if not key.startswith(ATTRIBUTE_PREFIX):
            continue
        name = key[len(ATTRIBUTE_PREFIX):]
        if name not in settings.contact_attributes:
            del contact[key]
        if name not in settings.customer_attributes:
            del profile[key]
        if key not in contact and key not in profile:
            attribute_columns({key: positions[key]}, settings.contact_attributes)  # refuses
    return contact, profile


def _cell(row: list[Any], at: int | None) -> str:
    return (row[at] or "") if at is not None and at < len(row) else ""


def _rule(name: str, settings: Settings, zone: ZoneInfo | None) -> Callable[[str], Any]:
    if name in ("at", "due_at"):
        return lambda text: v.instant_text(text, name, zone)
    if name == "to_stage":
        return lambda text: v.Stage.parse(text, "to_stage").value
    if name == "reason_category":
        def category(text: str) -> str | None:
            found = v.reason_category_name(text)
            if found is not None:
                settings.reason_category(found)
            return found
        return category
    if name == "reason":
        return lambda text: v.text(text, "reason", v.MAX_LONG_TEXT)
    if name == "email":
        return lambda text: v.email_of(text)
    return lambda text: v.text(text, name)
