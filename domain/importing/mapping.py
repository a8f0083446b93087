"""Mapping files: how the rows of someone else's file become touchlog's contacts.

A mapping is data, never code (TOML read with tomllib), so it is safe to share. It states
the source (format, encoding, header, time zone), how customer references are normalised,
and one or more records per row, each with a ``when`` filter, an ``id`` template and a
rule per contact field (docs/import.md "Mapping files" is the reference).

``load_mapping(path, settings)`` reads and checks a mapping whole before any row is read:
every problem is reported at once, each named by its place in the file
(``records.closed.fields.channel.map``). ``Mapping.check_columns`` then checks the
columns it names against the file's. ``identity(header)`` is the plain contract as a
mapping: each column of docs/import.md read as it is.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from touchlog.domain.errors import MappingError
from touchlog.domain.facts import CONTACT, KINDS
from touchlog.domain.importing.csv_rows import ATTRIBUTE_PREFIX, delimiter_hint
from touchlog.domain.importing.fact_rows import KIND_COLUMNS
from touchlog.domain.importing.sources import Source

FIELDS = tuple(column for column in KIND_COLUMNS if column != "contact_id")  # the id is `id`
REQUIRED_FIELDS = ("customer", "occurred_at", "channel")
TYPES = ("text", "decimal", "int", "date", "datetime")
RECORD_KINDS = KINDS
CASES = ("upper", "lower")


@dataclass(frozen=True)
class Template:
    """Text with ``{column}`` references: literal and column name pairs (None: no column)."""

    text: str
    parts: tuple[tuple[str, str | None], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.parts if name is not None)

    @property
    def column(self) -> str | None:
        """The column, when the template is exactly one column and nothing else."""
        if len(self.parts) == 1 and not self.parts[0][0]:
            return self.parts[0][1]
        return None


@dataclass(frozen=True)
class FieldRule:
    """How one contact field is read from a row: its source text, then in this order a
    pattern (and group), a value map (and default), a type (and formats)."""

    place: str
    source: Template
    pattern: re.Pattern[str] | None = None
    group: int | str = 0
    map: dict[str, Template] | None = None
    default: Template | None = None
    type: str = "text"
    formats: tuple[str, ...] = ()
    decimal: str = "."
    thousands: str = ""

    @property
    def column(self) -> str | None:
        """The column read as it is, when there is nothing else to do."""
        plain = (self.pattern is None and self.map is None and self.type == "text")
        return self.source.column if plain else None

    @property
    def templates(self) -> list[Template]:
        return [self.source, *(self.map or {}).values(),
                *([self.default] if self.default else [])]


@dataclass(frozen=True)
class Condition:
    """A ``when`` filter: the column's value in (or not in) a list, present, or empty."""

    place: str
    column: str
    kind: str  # "in" | "not_in" | "present" | "empty"
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecordRule:
    """One contact per row whose ``when`` conditions all hold."""

    name: str
    place: str
    when: tuple[Condition, ...]
    id: Template | None
    fields: dict[str, FieldRule]
    # A follow-up's owner and purpose count only on a row with a due time (a mapping states
    # them for every row); the plain contract refuses them without one.
    owner_needs_due: bool = False


@dataclass(frozen=True)
class CustomerRule:
    """How customer references are normalised before touchlog's own rule (white space
    stripped, Unicode NFC): digits zero-padded to ``zero_pad`` characters, ``case``."""

    zero_pad: int | None = None
    case: str | None = None


@dataclass(frozen=True)
class Mapping:
    path: str
    source: Source
    records: tuple[RecordRule, ...]
    customer: CustomerRule = field(default_factory=CustomerRule)

    def columns(self) -> tuple[str, ...]:
        """Every column the mapping reads, in the order it names them."""
        names: dict[str, None] = {}
        for record in self.records:
            for condition in record.when:
                names[condition.column] = None
            for template in _record_templates(record):
                names.update(dict.fromkeys(template.columns))
        return tuple(names)

    def check_columns(self, columns: list[str]) -> None:
        """Refuses (MappingError) a mapping naming a column the file does not have, or one
        the file has twice."""
        have = set(columns)
        twice = {name for name in have if columns.count(name) > 1}
        problems: list[tuple[str, str]] = []
        for record in self.records:
            used = [(c.place, c.column) for c in record.when]
            if record.id is not None:
                used += [(f"{record.place}.id", name) for name in record.id.columns]
            for rule in record.fields.values():
                used += [(rule.place, name) for t in rule.templates for name in t.columns]
            for place, name in used:
                if name not in have:
                    problems.append((place, f"no column {name!r} in the file"
                                     f"{_near(name, columns)}"))
                elif name in twice:
                    problems.append((place, f"the file has two columns named {name!r}"))
        if problems:
            shown = ", ".join(repr(c) for c in columns[:20])
            more = f" … {len(columns) - 20} more" if len(columns) > 20 else ""
            hint = delimiter_hint(columns, self.source.delimiter) \
                if self.source.format == "csv" else ""
            problems.append(("source", f"the file's columns are {shown}{more}{hint}"))
            raise MappingError(self.path, list(dict.fromkeys(problems)))


def _record_templates(record: RecordRule) -> list[Template]:
    found = [record.id] if record.id is not None else []
    for rule in record.fields.values():
        found += rule.templates
    return found


def _near(name: str, columns: list[str]) -> str:
    folded = {c.casefold().strip(): c for c in columns}
    match = folded.get(name.casefold().strip())
    return f" (there is {match!r})" if match is not None else ""


def identity(header: list[str], kind: str | None = None) -> Mapping:
    """The plain contract (docs/import.md) as a mapping: one record, each column of the
    contract the file has read as it is; ``kind`` the kind of every row (``--kind``)."""
    fields = {name: FieldRule(name, column_template(name)) for name in header
              if name in FIELDS or name.startswith(ATTRIBUTE_PREFIX)}
    if kind is not None and kind != CONTACT:
        fields["kind"] = FieldRule("kind", parse_template(kind))
    record_id = column_template("contact_id") if "contact_id" in header else None
    return Mapping("", Source(), (RecordRule("contact", "records.contact", (), record_id,
                                             fields, owner_needs_due=True),))


def column_template(name: str) -> Template:
    """The template that is one column's value as it is."""
    return Template("{" + name + "}", (("", name),))


def load_mapping(path: str | Path, settings: Any) -> Mapping:
    """The mapping in the TOML file ``path``, checked whole; MappingError lists every
    problem with its place. ``settings`` give the channels a constant may name."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise MappingError(str(path), [("file", f"cannot read: {e.strerror or e}")]) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MappingError(str(path), [("file", f"not a TOML file: {e}")]) from None
    from touchlog.domain.importing.mapping_check import Checker

    return Checker(str(path), settings).mapping(data)


def parse_template(text: str) -> Template:
    """``text`` as a Template; ValueError says what is wrong with it."""
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None and (spec or conversion):
            raise ValueError(f"{{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}}: a template takes column names "
                             "only (use column = \"…\" for a name with ':' or '!')")
        if name is not None and not name.strip():
            raise ValueError("{} names no column")
        parts.append((literal, name))
    return Template(text, tuple(parts))
