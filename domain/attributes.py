"""Attributes: named, typed values on contacts and customers, declared in touchlog.toml.

``[contact_attributes]`` and ``[customer_attributes]`` declare each name with its type
(``text``, ``int``, ``decimal``, ``date``) and whether it is personal data
(``referrer_email = {type = "text", personal = true}``). An undeclared name is refused,
naming it and the closest declared names, so a typo never makes a new attribute.

Values are stored in the events as plain JSON: text as text, an int as a JSON integer, a
decimal as exact decimal text (like amounts), a date as ISO 8601 date text. The one rule
that reads a value is ``attribute_values``: the CLI, the import, the mapping files and the
profile rows all call it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from touchlog.domain import values as v
from touchlog.domain.errors import InvalidInput

TYPES = ("text", "int", "decimal", "date")
# Reporting tables keep an int in a bigint: larger ones are refused when they are read.
MAX_INT = 2**63 - 1
MAX_DECIMAL_DIGITS = 30  # before the point; MAX_AMOUNT_DECIMALS after it


@dataclass(frozen=True)
class AttributeSpec:
    """A declared attribute: its name, its type and whether it is personal data."""

    name: str
    type: str = "text"
    personal: bool = False

    def value(self, given: object, field: str | None = None) -> str | int | None:
        """The stored form of ``given`` (text, or a value of the type); blank is None.
        A value that is not one of the type is refused naming the attribute and the value."""
        where = field or self.name
        if v.blank(given):
            return None
        if self.type == "text":
            return v.text(given, where)
        if self.type == "int":
            return _whole(given, where)
        if self.type == "decimal":
            return _decimal(given, where)
        return _date(given, where)


Declared = Mapping[str, AttributeSpec]


def attribute_values(declared: Declared, given: Mapping[str, object], scope: str = "contact",
                     *, clearing: bool = False, field: str = "attribute {}") -> dict[str, Any]:
    """The stored values of the attributes ``given`` (name -> value), by name, in sorted
    order. An undeclared name is refused, naming it and the closest declared names; a value
    not of its type is refused naming ``field`` (the attribute's name put in it) and the
    value; blank values are left out, or kept as None (clearing the attribute) when
    ``clearing``."""
    values: dict[str, Any] = {}
    for name in sorted(given):
        spec = declared_attribute(declared, name, scope)
        value = spec.value(given[name], field.format(spec.name))
        if value is not None or clearing:
            values[spec.name] = value
    return values


def declared_attribute(declared: Declared, name: object, scope: str = "contact") -> AttributeSpec:
    """The declaration of the attribute ``name``; an undeclared one is refused."""
    key = name.strip() if isinstance(name, str) else name
    spec = declared.get(key) if isinstance(key, str) else None
    if spec is None:
        close = difflib.get_close_matches(str(key), list(declared), n=3, cutoff=0.6)
        hint = (f"; did you mean {', '.join(close)}?" if close else
                f"; declared: {', '.join(sorted(declared))}" if declared else
                f"; none is declared (declare it in touchlog.toml [{scope}_attributes])")
        raise InvalidInput(f"{scope} attribute", name, f"not declared{hint}")
    return spec


def attribute_pairs(texts: Iterable[str], option: str = "--attr") -> dict[str, str]:
    """``KEY=VALUE`` texts (``--attr``) as a mapping; a KEY given twice is refused."""
    pairs: dict[str, str] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(option, text, "expected KEY=VALUE")
        if key.strip() in pairs:
            raise InvalidInput(option, text, f"the attribute {key.strip()} is given twice")
        pairs[key.strip()] = value
    return pairs


def declarations(table: object, where: str) -> dict[str, AttributeSpec]:
    """The attributes a settings table declares: ``name = "type"`` or
    ``name = {type = "type", personal = true}``."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise InvalidInput(where, table, 'expected a table like utm_campaign = "text"')
    declared = {}
    for raw, entry in table.items():
        name = v.vocabulary_name(raw, f"{where}.{raw}", "utm_campaign")
        kind, personal = entry, False
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"type", "personal"})
            if unknown:
                raise InvalidInput(f"{where}.{raw}", unknown,
                                   "unknown setting(s); known: type, personal")
            kind, personal = entry.get("type", "text"), entry.get("personal", False)
            if not isinstance(personal, bool):
                raise InvalidInput(f"{where}.{raw}.personal", personal, "expected true or false")
        if kind not in TYPES:
            raise InvalidInput(f"{where}.{raw}", kind, f"expected a type: {', '.join(TYPES)}")
        declared[name] = AttributeSpec(name, kind, personal)
    return declared


def _whole(given: object, field: str) -> int:
    if isinstance(given, bool):
        raise InvalidInput(field, given, "expected a whole number")
    try:
        number = given if isinstance(given, int) else int(str(given).strip())
    except ValueError:
        raise InvalidInput(field, given, "expected a whole number") from None
    if abs(number) > MAX_INT:
        raise InvalidInput(field, given, f"beyond ±{MAX_INT}")
    return number


def _decimal(given: object, field: str) -> str:
    if isinstance(given, float | bool):
        raise InvalidInput(field, given, "expected exact decimal text, like 12.50")
    try:
        number = Decimal(str(given).strip())
    except InvalidOperation:
        raise InvalidInput(field, given, "expected a decimal number, like 12.50") from None
    exponent = number.as_tuple().exponent
    if not number.is_finite() or not isinstance(exponent, int):
        raise InvalidInput(field, given, "not a finite number")
    if -exponent > v.MAX_AMOUNT_DECIMALS:
        raise InvalidInput(field, given,
                           f"more than {v.MAX_AMOUNT_DECIMALS} digits after the decimal point")
    if number.adjusted() >= MAX_DECIMAL_DIGITS:
        raise InvalidInput(field, given, f"more than {MAX_DECIMAL_DIGITS} digits")
    return v.amount_text(number if number else number.copy_abs())


def _date(given: object, field: str) -> str:
    if isinstance(given, datetime):
        raise InvalidInput(field, given, "expected a date (YYYY-MM-DD), not a time")
    if isinstance(given, date):
        return given.isoformat()
    text = given.strip() if isinstance(given, str) else ""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidInput(field, given, "expected a date (YYYY-MM-DD)") from None
