"""The reading of a source row into contacts by a mapping (mapping.py), compiled once.

``RowReader(columns, mapping, settings, zone).read(values)`` gives the row's contacts: for
each record whose ``when`` holds, the record number and the ``ParsedRow`` that
``RowParser`` (csv_rows.py) reads; a record with a ``kind`` field reads each row as its
kind says (``KindParser``, fact_rows.py: a ``ParsedFact`` for a kind other than contact).
A field read from one column as it is goes to ``RowParser`` by position; any other field
(a template, a pattern, a map, a type) is computed and appended to the row first. So the
plain contract, the identity mapping, is ``RowParser`` alone, at the speed it always had,
and every mapping is checked by the same rules. A row any record refuses is refused whole
(``RowRefused``, naming the record). How each computed field is read is fields.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.csv_rows import ParsedRow, RowParser
from touchlog.domain.importing.fact_rows import KindParser, ParsedFact
from touchlog.domain.importing.fields import Reader, Unlisted, field_reader
from touchlog.domain.importing.mapping import CustomerRule, FieldRule, Mapping
from touchlog.domain.importing.sources import Malformed

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from touchlog.domain.settings import Settings

__all__ = ["RowReader", "RowRefused", "Unlisted"]


class RowRefused(InvalidInput):
    """A row refused by one of a mapping's records: the field, value and reason, and the
    ``rule`` (the record, and where the field came from)."""

    def __init__(self, error: InvalidInput, rule: str) -> None:
        super().__init__(error.field, error.value, error.reason)
        self.rule = rule


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
        self.read: Callable[[list[str]], list[tuple[int, ParsedRow | ParsedFact]]] = (
            self._direct if direct else self._general)

    def _direct(self, values: list[str]) -> list[tuple[int, ParsedRow | ParsedFact]]:
        assert self.parser is not None
        return [(0, self.parser(values))]

    def _general(self, values: list[str]) -> list[tuple[int, ParsedRow | ParsedFact]]:
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
                 computed: list[Reader], parser: Callable[[list[str]], Any],
                 sources: dict[str, str]) -> None:
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
    due = field_reader("follow_up_due", rules["follow_up_due"], index, None) \
        if "follow_up_due" in rules and not record.owner_needs_due else None
    for name, rule in rules.items():
        column = rule.column
        planned = due is not None and name in ("follow_up_owner", "follow_up_purpose")
        if column is not None and not (name == "customer" and normalised) and not planned:
            positions[name] = index[column]
            continue
        positions[name] = width + len(computed)
        read = field_reader(name, rule, index, customer if name == "customer" else None)
        computed.append(_when_due(read, due) if planned and due is not None else read)
    parser: Callable[[list[str]], Any] = (
        KindParser(positions, width + len(computed), settings, zone) if "kind" in rules
        else RowParser.at(positions, width + len(computed), settings, zone))
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


