"""The checking of a mapping file's TOML into a ``Mapping`` (mapping.py).

Every problem is collected with its place in the file, then all are raised at once as a
MappingError, so a user fixes a mapping in one round: unknown keys (typos), bad templates,
regular expressions, value maps, types and strftime formats, and constants that are not
among touchlog's values (a channel that is not configured, a stage that does not exist).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from touchlog.domain import values as v
from touchlog.domain.attributes import declared_attribute
from touchlog.domain.errors import InvalidInput, MappingError
from touchlog.domain.importing.csv_rows import ATTRIBUTE_PREFIX
from touchlog.domain.importing.fact_rows import FACT_COLUMNS
from touchlog.domain.importing.mapping import (
    CASES,
    FIELDS,
    RECORD_KINDS,
    REQUIRED_FIELDS,
    TYPES,
    Condition,
    CustomerRule,
    FieldRule,
    Mapping,
    RecordRule,
    Template,
    column_template,
    parse_template,
)
from touchlog.domain.importing.sources import FORMATS, Source

_SOURCE_KEYS = ("format", "delimiter", "quote", "encoding", "header", "columns", "skip_rows",
                "timezone", "sheet")
_FIELD_KEYS = ("column", "template", "pattern", "group", "map", "default", "type", "formats",
               "decimal", "thousands")
_RECORD_KEYS = ("name", "kind", "when", "id", "fields")
_DELIMITERS = {"tab": "\t", "\\t": "\t"}


class Checker:
    """Turns a mapping's TOML data into a Mapping, or raises every problem found."""

    def __init__(self, path: str, settings: Any) -> None:
        self.path, self.settings = path, settings
        self.problems: list[tuple[str, str]] = []

    def problem(self, place: str, text: str) -> None:
        self.problems.append((place, text))

    def mapping(self, data: dict[str, Any]) -> Mapping:
        self.keys(data, "", ("source", "customer", "records"))
        source = self.source(self.table(data.get("source", {}), "source"))
        customer = self.customer(self.table(data.get("customer", {}), "customer"))
        records = self.records(data.get("records"))
        if self.problems:
            raise MappingError(self.path, self.problems)
        return Mapping(self.path, source, tuple(records), customer)

    # -- helpers ---------------------------------------------------------------------

    def table(self, value: object, place: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.problem(place, f"expected a table, got {value!r}")
        return {}

    def keys(self, table: dict[str, Any], place: str, known: tuple[str, ...]) -> None:
        for key in table:
            if key not in known:
                where = f"{place}.{key}" if place else key
                self.problem(where, f"unknown key; known: {', '.join(known)}")

    def text(self, table: dict[str, Any], key: str, place: str) -> str | None:
        value = table.get(key)
        if value is None or isinstance(value, str):
            return value
        self.problem(f"{place}.{key}", f"expected text, got {value!r}")
        return None

    def template(self, value: object, place: str) -> Template | None:
        if not isinstance(value, str):
            self.problem(place, f"expected text (a constant or a {{column}} template), "
                         f"got {value!r}")
            return None
        try:
            return parse_template(value)
        except ValueError as e:
            self.problem(place, f"not a template: {e}")
            return None

    # -- [source] and [customer] -----------------------------------------------------

    def source(self, table: dict[str, Any]) -> Source:
        self.keys(table, "source", _SOURCE_KEYS)
        kind = self.text(table, "format", "source") or "csv"
        if kind not in FORMATS:
            self.problem("source.format", f"unknown format {kind!r}; known: "
                         f"{', '.join(FORMATS)}")
        given = self.text(table, "delimiter", "source") or ","
        delimiter = delimiter_of(given)
        if delimiter is None:
            self.problem("source.delimiter", f"expected one character (or 'tab'), got "
                         f"{given!r}")
            delimiter = given
        quote = table.get("quote", '"')
        if not isinstance(quote, str) or len(quote) > 1:
            self.problem("source.quote", f"expected one character, or \"\" for none, got "
                         f"{quote!r}")
        encoding = self.text(table, "encoding", "source") or "utf-8"
        problem = encoding_problem(encoding)
        if problem:
            self.problem("source.encoding", problem)
        header = table.get("header", True)
        if not isinstance(header, bool):
            self.problem("source.header", f"expected true or false, got {header!r}")
        columns = self.columns(table.get("columns"))
        if header is False and not columns and kind != "jsonl":
            self.problem("source.columns", "a source without a header row needs the column "
                         "names: columns = [\"…\", …]")
        skip = table.get("skip_rows", 0)
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            self.problem("source.skip_rows", f"expected a whole number ≥ 0, got {skip!r}")
        zone = self.text(table, "timezone", "source")
        if zone is not None:
            try:
                zone = v.time_zone(zone, "source.timezone").key
            except InvalidInput as e:
                self.problem("source.timezone", f"{e.reason} (got {zone!r})")
        if kind == "xlsx":
            self.xlsx_available()
        quote_char = (quote or None) if isinstance(quote, str) else '"'
        skip_rows = skip if isinstance(skip, int) else 0
        return Source(kind, delimiter, quote_char, encoding, header is not False, columns,
                      skip_rows, zone, self.text(table, "sheet", "source"))

    def columns(self, value: object) -> tuple[str, ...] | None:
        if value is None:
            return None
        if (not isinstance(value, list) or not value
                or not all(isinstance(c, str) and c.strip() for c in value)):
            self.problem("source.columns", f"expected a list of column names, got {value!r}")
            return None
        twice = sorted({c for c in value if value.count(c) > 1})
        if twice:
            self.problem("source.columns", f"named twice: {', '.join(twice)}")
        return tuple(c.strip() for c in value)

    def xlsx_available(self) -> None:
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            self.problem("source.format", "reading .xlsx needs the optional openpyxl "
                         "package: pip install 'touchlog[xlsx]'")

    def customer(self, table: dict[str, Any]) -> CustomerRule:
        self.keys(table, "customer", ("strip", "zero_pad", "case"))
        if table.get("strip", True) is not True:
            self.problem("customer.strip", "references are always stripped of surrounding "
                         "white space; leave strip out or set it to true")
        pad = table.get("zero_pad")
        if pad is not None and (not isinstance(pad, int) or isinstance(pad, bool)
                                or not 1 <= pad <= 64):
            self.problem("customer.zero_pad", f"expected a width from 1 to 64, got {pad!r}")
            pad = None
        case = table.get("case")
        if case is not None and case not in CASES:
            self.problem("customer.case", f"expected one of: {', '.join(CASES)}; got {case!r}")
            case = None
        return CustomerRule(pad, case)

    # -- [[records]] -------------------------------------------------------------------

    def records(self, value: object) -> list[RecordRule]:
        if not isinstance(value, list) or not value:
            self.problem("records", "a mapping needs at least one [[records]] table")
            return []
        records, names = [], set()
        for number, data in enumerate(value, 1):
            data = self.table(data, f"records[{number}]")
            name = data.get("name", f"record{number}" if len(value) > 1 else "contact")
            place = f"records.{name}" if isinstance(name, str) else f"records[{number}]"
            if not isinstance(name, str) or not re.fullmatch(r"[\w-]{1,64}", name):
                self.problem(f"records[{number}].name", f"expected a name of letters, digits, "
                             f"'_' or '-', got {name!r}")
            elif name in names:
                self.problem(f"{place}.name", "two records have this name")
            names.add(name)
            records.append(self.record(data, str(name), place))
        return records

    def record(self, data: dict[str, Any], name: str, place: str) -> RecordRule:
        self.keys(data, place, _RECORD_KEYS)
        kind = data.get("kind", "contact")
        kind_rule = None
        if isinstance(kind, dict):  # from a column (a field rule: column, map, …)
            kind_rule = self.field(kind, "kind", f"{place}.kind")
        elif kind not in RECORD_KINDS:
            self.problem(f"{place}.kind", f"unknown record kind {kind!r}; known: "
                         f"{', '.join(RECORD_KINDS)}")
        elif kind != "contact":
            kind_rule = FieldRule(f"{place}.kind", parse_template(kind))
        when = self.conditions(data.get("when", []), f"{place}.when")
        record_id = None
        if "id" in data:
            record_id = self.template(data["id"], f"{place}.id")
            if record_id is not None and not record_id.columns:
                self.problem(f"{place}.id", "an id must name a column, or every row would "
                             "be the same contact")
        fields = self.attribute_fields(self.table(data.get("fields", {}), f"{place}.fields"))
        rules = {}
        for key, spec in fields.items():
            where = f"{place}.fields.{key}"
            if key.startswith(ATTRIBUTE_PREFIX):
                self.attribute(key, where, kind)
                rule = self.field(spec, key, where)
                if rule is not None:
                    rules[key] = rule
            elif key == "contact_id":
                self.problem(where, "the contact's id (also the contact a retraction or a "
                             "follow-up names) is the record's id = \"…\"")
            elif key == "kind":
                self.problem(where, "the kind is the record's kind = …")
            elif key not in FIELDS:
                self.problem(where, f"unknown field; known: {', '.join(FIELDS)}")
            else:
                rule = self.field(spec, key, where)
                if rule is not None:
                    rules[key] = rule
        required = REQUIRED_FIELDS if kind == "contact" else (
            FACT_COLUMNS[kind][0] if isinstance(kind, str) and kind in FACT_COLUMNS
            else ("customer",))  # from a column: each row is checked as its kind
        missing = [f for f in required if f not in fields and f != "contact_id"]
        if "contact_id" in required and record_id is None:
            missing.append("contact_id (the record's id = \"…\")")
        if missing:
            self.problem(f"{place}.fields", f"missing required field(s): {', '.join(missing)}")
        if kind_rule is not None:
            rules["kind"] = kind_rule
        return RecordRule(name, place, tuple(when), record_id, rules)

    @staticmethod
    def attribute_fields(fields: dict[str, Any]) -> dict[str, Any]:
        """The fields with a table ``attr`` (TOML's reading of ``attr.NAME = …``: each
        key a contact attribute) spread into ``attr.NAME`` fields."""
        attributes = fields.get("attr")
        if not isinstance(attributes, dict):
            return fields
        spread = {k: spec for k, spec in fields.items() if k != "attr"}
        spread.update({f"{ATTRIBUTE_PREFIX}{name}": spec for name, spec in attributes.items()})
        return spread

    def attribute(self, key: str, place: str, kind: object) -> None:
        """Refuses a field ``attr.NAME`` whose attribute touchlog.toml does not declare: a
        contact attribute on a contact, a customer attribute on a profile, either on a
        record whose kind comes from a column."""
        name = key[len(ATTRIBUTE_PREFIX):]
        settings = self.settings
        if not isinstance(kind, str) and name in settings.customer_attributes:
            return
        try:
            if kind == "profile":
                declared_attribute(settings.customer_attributes, name, "customer")
            else:
                declared_attribute(settings.contact_attributes, name)
        except InvalidInput as e:
            self.problem(place, e.reason)

    def conditions(self, value: object, place: str) -> list[Condition]:
        items = value if isinstance(value, list) else [value]
        found = []
        for number, item in enumerate(items, 1):
            where = place if len(items) == 1 else f"{place}[{number}]"
            item = self.table(item, where)
            kinds = [k for k in ("in", "not_in", "present", "empty") if k in item]
            self.keys(item, where, ("column", "in", "not_in", "present", "empty"))
            if len(kinds) != 1:
                self.problem(where, "expected one of {column = \"…\", in = […]}, {column = "
                             "\"…\", not_in = […]}, {present = \"…\"}, {empty = \"…\"}")
                continue
            kind = kinds[0]
            if kind in ("present", "empty"):
                column = item[kind]
                if not isinstance(column, str) or "column" in item:
                    self.problem(where, f"expected {kind} = \"column name\"")
                    continue
                found.append(Condition(where, column, kind))
                continue
            column, listed = item.get("column"), item[kind]
            if not isinstance(column, str):
                self.problem(where, f"{kind} needs column = \"…\"")
            elif not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
                self.problem(f"{where}.{kind}", f"expected a list of texts, got {listed!r}")
            else:
                found.append(Condition(where, column, kind,
                                       frozenset(x.strip() for x in listed)))
        return found

    def field(self, spec: object, name: str, place: str) -> FieldRule | None:
        if isinstance(spec, str):
            constant = self.template(spec, place)
            if constant is not None:
                self.constant(name, constant, place)
            return FieldRule(place, constant) if constant is not None else None
        table = self.table(spec, place)
        self.keys(table, place, _FIELD_KEYS)
        if ("column" in table) == ("template" in table):
            self.problem(place, "expected column = \"…\" or template = \"…\" (one of them)")
            return None
        if "column" in table:
            column = table["column"]
            if not isinstance(column, str) or not column.strip():
                self.problem(f"{place}.column", f"expected a column name, got {column!r}")
                return None
            source: Template | None = column_template(column)
        else:
            source = self.template(table["template"], f"{place}.template")
        pattern, group = self.pattern(table, place)
        value_map, default = self.value_map(table, name, place)
        kind, formats, decimal, thousands = self.kind(table, place)
        if source is None:
            return None
        return FieldRule(place, source, pattern, group, value_map, default, kind, formats,
                         decimal, thousands)

    def pattern(self, table: dict[str, Any], place: str) -> tuple[re.Pattern[str] | None,
                                                                  int | str]:
        if "pattern" not in table:
            if "group" in table:
                self.problem(f"{place}.group", "a group needs a pattern")
            return None, 0
        try:
            pattern = re.compile(table["pattern"])
        except (re.error, TypeError) as e:
            self.problem(f"{place}.pattern", f"not a regular expression: {e}")
            return None, 0
        group = table.get("group", 1 if pattern.groups else 0)
        if isinstance(group, bool) or not (
                (isinstance(group, int) and 0 <= group <= pattern.groups)
                or (isinstance(group, str) and group in pattern.groupindex)):
            self.problem(f"{place}.group", f"the pattern has no group {group!r}")
            return pattern, 0
        return pattern, group

    def value_map(self, table: dict[str, Any], name: str, place: str
                  ) -> tuple[dict[str, Template] | None, Template | None]:
        default = None
        if "default" in table:
            default = self.template(table["default"], f"{place}.default")
            if "map" not in table:
                self.problem(f"{place}.default", "a default is for the values a map does "
                             "not list: it needs a map")
            elif default is not None:
                self.constant(name, default, f"{place}.default")
        if "map" not in table:
            return None, default
        found: dict[str, Template] = {}
        for key, target in self.table(table["map"], f"{place}.map").items():
            template = self.template(target, f"{place}.map.{key}")
            if template is not None:
                self.constant(name, template, f"{place}.map.{key}")
                found[key.strip()] = template
        return found, default

    def kind(self, table: dict[str, Any], place: str) -> tuple[str, tuple[str, ...], str, str]:
        formats = table.get("formats", [])
        kind = table.get("type", "datetime" if formats else "text")
        if kind not in TYPES:
            self.problem(f"{place}.type", f"unknown type {kind!r}; known: {', '.join(TYPES)}")
            kind = "text"
        if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
            self.problem(f"{place}.formats", f"expected a list of strftime formats, got "
                         f"{formats!r}")
            formats = []
        if formats and kind not in ("date", "datetime"):
            self.problem(f"{place}.formats", f"formats are for type date or datetime, not "
                         f"{kind}")
        for number, text in enumerate(formats, 1):
            problem = format_problem(text)
            if problem:
                self.problem(f"{place}.formats[{number}]", problem)
        decimal, thousands = table.get("decimal", "."), table.get("thousands", "")
        for key, value in (("decimal", decimal), ("thousands", thousands)):
            if key in table and kind != "decimal":
                self.problem(f"{place}.{key}", "only for type = \"decimal\"")
            if not isinstance(value, str) or len(value) > 1 or (key == "decimal" and not value):
                self.problem(f"{place}.{key}", f"expected one character, got {value!r}")
        if decimal == thousands:
            self.problem(f"{place}.thousands", "the same character as the decimal point")
        return kind, tuple(formats), str(decimal), str(thousands)

    def constant(self, name: str, template: Template, place: str) -> None:
        """Refuses a constant that cannot be the field's value (an unknown channel)."""
        if template.columns or not template.text.strip():
            return
        check = _VOCABULARY.get(name)
        if check is None:
            return
        try:
            check(self.settings, template.text)
        except InvalidInput as e:
            self.problem(place, f"{e.reason} (got {template.text!r})")


def _channel(settings: Any, value: str) -> None:
    settings.channel(v.channel_name(value))


_VOCABULARY: dict[str, Callable[[Any, str], object]] = {
    "channel": _channel,
    "stage": lambda _, value: v.Stage.parse(value),
    "outcome": lambda _, value: v.outcome_of(value),
    "initiated_by": lambda _, value: v.initiator(value),
    "rating": lambda _, value: v.parse_rating(value),
    "amount": lambda _, value: v.parse_amount(value),
    "kind": lambda _, value: _kind(value),
    "to_stage": lambda _, value: v.Stage.parse(value, "to_stage"),
}


def _kind(value: str) -> None:
    if value.strip() not in RECORD_KINDS:
        raise InvalidInput("kind", value, f"unknown kind; known: {', '.join(RECORD_KINDS)}")


def format_problem(text: str) -> str | None:
    """What is wrong with a strptime format, or None."""
    if "%" not in text:
        return f"{text!r} has no % directive (e.g. %Y-%m-%d %H:%M)"
    try:
        datetime.strptime("", text)
    except ValueError as e:
        if "does not match format" not in str(e):
            return str(e)
    return None


def delimiter_of(text: str) -> str | None:
    """The delimiter ``text`` names: ``tab`` (or ``\\t``) for a tab, else one character that
    is no line end or double quote; None when it names none."""
    delimiter = _DELIMITERS.get(text, text)
    return delimiter if len(delimiter) == 1 and delimiter not in "\r\n\"" else None


def encoding_problem(encoding: str) -> str | None:
    """What is wrong with an encoding's name, or None (any text encoding Python knows)."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        return f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1, gb18030)"
    if not getattr(info, "_is_text_encoding", True):
        return f"{encoding!r} is not a text encoding"
    return None
