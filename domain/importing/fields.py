"""The computing of one contact field's text from a row, as a mapping's field rule says
(mapping.py ``FieldRule``): its source (a column or a template), then a pattern, a value
map, a type and its formats, and for the customer the mapping's normalisation.

``field_reader(name, rule, index, customer)`` gives the reader records.py appends to a row;
a value the field cannot take raises an InvalidInput naming the field, a value a map
without a default does not list raises ``Unlisted``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from operator import itemgetter

from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.mapping import CustomerRule, FieldRule, Template

Reader = Callable[[list[str]], str]  # a field's text from a row
Step = Callable[[str, list[str]], str]  # a transformation of a field's text
MEMO = 4096  # parsed dates remembered per field (dates without times repeat)


class Unlisted(InvalidInput):
    """A value that a value map without a default does not list: the mapping has to say
    what it becomes, so the file is refused (pipeline.py counts them), never the row."""

    def __init__(self, place: str, value: str) -> None:
        super().__init__(place, value, "not in the map, which has no default")
        self.place = place


def field_reader(name: str, rule: FieldRule, index: dict[str, int],
           customer: CustomerRule | None) -> Reader:
    source = template_reader(rule.source, index)
    steps: list[Step] = []
    if rule.pattern is not None:
        steps.append(_pattern(name, rule))
    on_empty: Reader | None = None  # a map's "" entry: what an empty value becomes
    mapped = len(steps)  # the steps before the map's (included) see an empty value
    if rule.map is not None:
        steps.append(_map(rule, index))
        if "" in rule.map:
            on_empty = template_reader(rule.map[""], index)
    if rule.type != "text":
        steps.append(_typed(name, rule))
    if customer is not None:
        steps.append(_reference(customer))
    if not steps:
        return source

    def read(row: list[str]) -> str:
        value = source(row)
        for number, step in enumerate(steps):
            if not value or value.isspace():
                return on_empty(row) if on_empty is not None and number <= mapped else ""
            value = step(value, row)
        return value
    return read


def template_reader(template: Template, index: dict[str, int]) -> Reader:
    """A template's text for a row; empty when every column it names is empty."""
    if template.column is not None:
        return itemgetter(index[template.column])
    if not template.columns:
        constant = template.text.replace("{{", "{").replace("}}", "}")
        return lambda row: constant
    parts = [(literal, None if name is None else index[name]) for literal, name in template.parts]
    picks = [i for _, i in parts if i is not None]

    def read(row: list[str]) -> str:
        if not any(row[i].strip() for i in picks):
            return ""
        return "".join(literal + (row[i] if i is not None else "") for literal, i in parts)
    return read


def _pattern(name: str, rule: FieldRule) -> Step:
    assert rule.pattern is not None
    search, group, shown = rule.pattern.search, rule.group, rule.pattern.pattern

    def step(value: str, row: list[str]) -> str:
        found = search(value)
        if found is None:
            raise InvalidInput(name, value, f"does not match the pattern {shown!r}")
        return found.group(group) or ""
    return step


def _map(rule: FieldRule, index: dict[str, int]) -> Step:
    assert rule.map is not None
    targets = {key: template_reader(t, index) for key, t in rule.map.items()}
    default = template_reader(rule.default, index) if rule.default is not None else None
    place = f"{rule.place}.map"

    def step(value: str, row: list[str]) -> str:
        target = targets.get(value.strip())
        if target is not None:
            return target(row)
        if default is None:
            raise Unlisted(place, value.strip())
        return default(row)
    return step


def _typed(name: str, rule: FieldRule) -> Step:
    kind, formats = rule.type, rule.formats
    if kind == "decimal":
        decimal, thousands = rule.decimal, rule.thousands

        def number(value: str, row: list[str]) -> str:
            text = value.strip()
            if thousands:
                text = text.replace(thousands, "")
            if decimal != ".":
                text = text.replace(".", "\0").replace(decimal, ".")  # "." is not the point
            try:
                Decimal(text)
            except InvalidOperation:
                raise InvalidInput(name, value, "not a decimal number") from None
            return text
        return number
    if kind == "int":
        def whole(value: str, row: list[str]) -> str:
            try:
                return str(int(value.strip()))
            except ValueError:
                raise InvalidInput(name, value, "not a whole number") from None
        return whole
    return _moment(name, kind, formats)


def _moment(name: str, kind: str, formats: tuple[str, ...]) -> Step:
    memo: dict[str, str] = {}
    parsers = [numeric_format(form) or partial(_strptime, form=form) for form in formats]

    def parse(text: str) -> str:
        if not formats:
            try:
                moment: date = (date.fromisoformat(text) if kind == "date"
                                else datetime.fromisoformat(text))
            except ValueError:
                raise InvalidInput(name, text, f"not an ISO 8601 {kind}") from None
            return moment.isoformat()
        for parser in parsers:
            parsed = parser(text)
            if parsed is not None:
                return parsed.date().isoformat() if kind == "date" else parsed.isoformat()
        raise InvalidInput(name, text, f"matches none of the formats {', '.join(formats)}")

    def step(value: str, row: list[str]) -> str:
        text = value.strip()
        found = memo.get(text)
        if found is None:
            found = parse(text)
            if len(memo) < MEMO:
                memo[text] = found
        return found
    return step


def _strptime(text: str, form: str) -> datetime | None:
    try:
        return datetime.strptime(text, form)
    except ValueError:
        return None


# The directives numeric_format reads, as strptime's regular expressions read them.
_NUMERIC = {"Y": r"(?P<Y>\d\d\d\d)", "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
            "d": r"(?P<d>3[01]|[12]\d|0[1-9]|[1-9]| [1-9])",
            "H": r"(?P<H>2[0-3]|[0-1]\d|\d)", "M": r"(?P<M>[0-5]\d|\d)",
            "S": r"(?P<S>6[0-1]|[0-5]\d|\d)"}


def numeric_format(form: str) -> Callable[[str], datetime | None] | None:
    """A reader of ``form`` as ``datetime.strptime`` reads it, when the format has only the
    numeric directives %Y %m %d %H %M %S (each once) and literal text; else None.

    strptime builds and matches a regular expression, then checks the date, in about 9 µs;
    this reads the same forms in about 2. tests/unit/test_mapping.py proves the two equal.
    """
    parts, seen, at = [], set(), 0
    while at < len(form):
        char = form[at]
        if char == "%":
            directive = form[at + 1:at + 2]
            if directive not in _NUMERIC or directive in seen:
                return None
            seen.add(directive)
            parts.append(_NUMERIC[directive])
            at += 2
        elif char.isspace():
            while at < len(form) and form[at].isspace():
                at += 1
            parts.append(r"\s+")
        else:
            parts.append(re.escape(char))
            at += 1
    match = re.compile("".join(parts), re.IGNORECASE).match  # as strptime compiles it

    def read(text: str) -> datetime | None:
        found = match(text)
        if found is None or found.end() != len(text):  # strptime: "unconverted data"
            return None
        fields = found.groupdict()
        try:
            return datetime(int(fields.get("Y", 1900)), int(fields.get("m", 1)),
                            int(fields.get("d", 1)), int(fields.get("H", 0)),
                            int(fields.get("M", 0)), int(fields.get("S", 0)))
        except ValueError:  # 31 February: strptime refuses it too
            return None
    return read


def _reference(customer: CustomerRule) -> Step:
    pad, case = customer.zero_pad, customer.case

    def step(value: str, row: list[str]) -> str:
        text = value.strip()
        if pad and text.isascii() and text.isdigit():
            text = text.zfill(pad)
        if case == "upper":
            return text.upper()
        return text.lower() if case == "lower" else text
    return step
