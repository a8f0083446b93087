"""The reading of a source row into contacts by a mapping (mapping.py), compiled once.

``RowReader(columns, mapping, settings, zone).read(values)`` gives the row's contacts: for
each record whose ``when`` holds, the record number and the ``ParsedRow`` that
``RowParser`` (csv_rows.py) reads. A field read from one column as it is goes to
``RowParser`` by position; any other field (a template, a pattern, a map, a type) is
computed and appended to the row first. So the plain contract, the identity mapping, is
``RowParser`` alone, at the speed it always had, and every mapping is checked by the same
rules. A row any record refuses is refused whole (``RowRefused``, naming the record).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.csv_rows import ParsedRow, RowParser
from touchlog.domain.importing.mapping import CustomerRule, FieldRule, Mapping, Template
from touchlog.domain.importing.sources import Malformed

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from touchlog.domain.settings import Settings

Reader = Callable[[list[str]], str]  # a field's text from a row
Step = Callable[[str, list[str]], str]  # a transformation of a field's text
MEMO = 4096  # parsed dates remembered per field (dates without times repeat)


class RowRefused(InvalidInput):
    """A row refused by one of a mapping's records: the field, value and reason, and the
    ``rule`` (the record, and where the field came from)."""

    def __init__(self, error: InvalidInput, rule: str) -> None:
        super().__init__(error.field, error.value, error.reason)
        self.rule = rule


class Unlisted(InvalidInput):
    """A value that a value map without a default does not list: the mapping has to say
    what it becomes, so the file is refused (pipeline.py counts them), never the row."""

    def __init__(self, place: str, value: str) -> None:
        super().__init__(place, value, "not in the map, which has no default")
        self.place = place


class RowReader:
    """A mapping compiled for a file's columns; ``read(values)`` gives a row's contacts."""

    def __init__(self, columns: list[str], mapping: Mapping, settings: Settings,
                 zone: ZoneInfo | None = None) -> None:
        self.width = len(columns)
        index = {name: columns.index(name) for name in columns}
        self.rules = [_compiled(number, record, index, self.width, mapping.customer,
                                settings, zone)
                      for number, record in enumerate(mapping.records)]
        only = self.rules[0] if len(self.rules) == 1 else None
        direct = (only is not None and only.applies is None and not only.computed
                  and mapping.source.format != "jsonl")
        self.parser = only.parser if only is not None else None
        self.read: Callable[[list[str]], list[tuple[int, ParsedRow]]] = (
            self._direct if direct else self._general)

    def _direct(self, values: list[str]) -> list[tuple[int, ParsedRow]]:
        assert self.parser is not None
        return [(0, self.parser(values))]

    def _general(self, values: list[str]) -> list[tuple[int, ParsedRow]]:
        if len(values) != self.width:
            values = self._fitted(values)
        found = []
        for rule in self.rules:
            if rule.applies is not None and not rule.applies(values):
                continue
            try:
                row = [*values, *[read(values) for read in rule.computed]] if rule.computed \
                    else values
                found.append((rule.number, rule.parser(row)))
            except Unlisted:
                raise
            except InvalidInput as e:
                raise RowRefused(e, rule.describe(e.field)) from None
        return found

    def _fitted(self, values: list[str]) -> list[str]:
        if isinstance(values, Malformed):
            raise InvalidInput("row", values.shown, values.reason)
        if len(values) > self.width:
            extra = ",".join(values[self.width:])
            shown = extra if len(extra) <= 60 else f"{extra[:60]}…"
            raise InvalidInput("row", shown, "more values than the header has columns")
        return [*values, *[""] * (self.width - len(values))]


class _Rule:
    """One record compiled: its filter, the fields it computes, its parser."""

    def __init__(self, number: int, name: str, applies: Callable[[list[str]], bool] | None,
                 computed: list[Reader], parser: RowParser, sources: dict[str, str]) -> None:
        self.number, self.name, self.applies = number, name, applies
        self.computed, self.parser, self.sources = computed, parser, sources

    def describe(self, field: str) -> str:
        source = self.sources.get(field)
        return f"record {self.name!r}" + (f", {field} from {source}" if source else "")


def _compiled(number: int, record: Any, index: dict[str, int], width: int,
              customer: CustomerRule, settings: Settings, zone: ZoneInfo | None) -> _Rule:
    positions: dict[str, int] = {}
    computed: list[Reader] = []
    rules: dict[str, FieldRule] = dict(record.fields)
    if record.id is not None:
        rules["contact_id"] = FieldRule(f"{record.place}.id", record.id)
    normalised = customer.zero_pad is not None or customer.case is not None
    due = _field("follow_up_due", rules["follow_up_due"], index, None) \
        if "follow_up_due" in rules and not record.owner_needs_due else None
    for name, rule in rules.items():
        column = rule.column
        planned = due is not None and name in ("follow_up_owner", "follow_up_purpose")
        if column is not None and not (name == "customer" and normalised) and not planned:
            positions[name] = index[column]
            continue
        positions[name] = width + len(computed)
        read = _field(name, rule, index, customer if name == "customer" else None)
        computed.append(_when_due(read, due) if planned and due is not None else read)
    parser = RowParser.at(positions, width + len(computed), settings, zone)
    sources = {name: rule.source.text for name, rule in rules.items()
               if rule.source.text != "{" + name + "}"}
    return _Rule(number, record.name, _when(record.when, index), computed, parser, sources)


def _when_due(read: Reader, due: Reader) -> Reader:
    """A follow-up's owner or purpose, only on a row that has its due time: a mapping
    states them for every row, and a row without a due time plans no follow-up."""
    def planned(row: list[str]) -> str:
        return read(row) if due(row).strip() else ""
    return planned


def _when(conditions: Any, index: dict[str, int]) -> Callable[[list[str]], bool] | None:
    tests = [_test(condition.kind, index[condition.column], condition.values)
             for condition in conditions]
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda row: all(test(row) for test in tests)


def _test(kind: str, position: int, listed: frozenset[str]) -> Callable[[list[str]], bool]:
    def test(row: list[str]) -> bool:
        value = row[position].strip()
        if kind == "in":
            return value in listed
        if kind == "not_in":
            return value not in listed
        return bool(value) == (kind == "present")
    return test


def _field(name: str, rule: FieldRule, index: dict[str, int],
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
