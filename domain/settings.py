"""Deployment settings: the database, the vocabularies of channels and of reasons why
relationships end, the stay-in-touch cadences, and the attributes contacts and customers
carry.

Read from ``touchlog.toml`` in the working directory (or the file ``TOUCHLOG_CONFIG``
names) and from ``TOUCHLOG_DB``; an explicit ``--db`` wins over both. Adding a channel or a
reason category, or changing a cadence, is a settings change, never a code change (README
"Configuration").
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from touchlog.domain.attributes import AttributeSpec, declarations
from touchlog.domain.errors import InvalidInput
from touchlog.domain.values import (
    DEFAULT_CHANNELS,
    DEFAULT_REASON_CATEGORIES,
    ChannelInfo,
    ReasonCategory,
    Stage,
    time_zone,
    vocabulary_name,
)

DEFAULT_DB = "touchlog.db"
DEFAULT_CADENCE_DAYS: dict[Stage, int | None] = {
    Stage.DISCOVERY: 14,
    Stage.EXPLORATION: 7,
    Stage.EXPANSION: 7,
    Stage.COMMITMENT: 30,
    Stage.DISSOLUTION: None,
}


@dataclass(frozen=True)
class Settings:
    """Everything a deployment may change without touching code.

    A plain dataclass checked by hand: every command loads settings, and pydantic would
    add a tenth of a second to each start.
    """

    db: str = DEFAULT_DB
    channels: dict[str, ChannelInfo] = field(
        default_factory=lambda: {c.name: c for c in DEFAULT_CHANNELS})
    cadence_days: dict[Stage, int | None] = field(
        default_factory=lambda: dict(DEFAULT_CADENCE_DAYS))
    reason_categories: dict[str, ReasonCategory] = field(
        default_factory=lambda: {c.name: c for c in DEFAULT_REASON_CATEGORIES})
    # The time zone of times without an offset in imported files ([import] timezone).
    import_timezone: str | None = None
    # The attributes contacts and customers may carry ([contact_attributes],
    # [customer_attributes]; domain/attributes.py), by name.
    contact_attributes: dict[str, AttributeSpec] = field(default_factory=dict)
    customer_attributes: dict[str, AttributeSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.db, str) or not self.db.strip():
            raise InvalidInput("db", self.db, "the database path or URL must not be empty")
        object.__setattr__(self, "db", self.db.strip())

    def channel(self, name: str, *, listing: bool = True) -> ChannelInfo:
        """The configured channel ``name``; an unknown one is refused, naming the known
        ones unless ``listing`` is false (the import names them once, not per row)."""
        return _known(self.channels, name, "channel", listing=listing)

    def reason_category(self, name: str) -> ReasonCategory:
        return _known(self.reason_categories, name, "reason category")

    @classmethod
    def load(cls, db: str | None = None, config: str | os.PathLike[str] | None = None) -> Settings:
        """Settings from the config file and environment; ``db`` overrides both."""
        path = Path(config or os.environ.get("TOUCHLOG_CONFIG") or "touchlog.toml")
        data = _read_toml(path) if path.exists() or config else {}
        channels = _vocabulary(
            data.pop("channels", None), DEFAULT_CHANNELS, f"{path}: channels",
            ("wechat", "{deliberate = true, hard = false}"),
            lambda key, table, where: ChannelInfo(key, **_flags(table, where)))
        categories = _vocabulary(
            data.pop("reason_categories", None), DEFAULT_REASON_CATEGORIES,
            f"{path}: reason_categories", ("price", '{description = "too expensive"}'),
            lambda key, table, where: ReasonCategory(key, _description(table, where)))
        cadence: dict[Stage, int | None] = dict(DEFAULT_CADENCE_DAYS)
        for stage, days in (data.pop("cadence_days", None) or {}).items():
            cadence[Stage.parse(stage, f"{path}: cadence_days")] = _days(days, path, stage)
        zone = _import_timezone(data.pop("import", None), path)
        contact_attributes = declarations(data.pop("contact_attributes", None),
                                          f"{path}: contact_attributes")
        customer_attributes = declarations(data.pop("customer_attributes", None),
                                           f"{path}: customer_attributes")
        chosen_db = db or os.environ.get("TOUCHLOG_DB") or data.pop("db", None) or DEFAULT_DB
        data.pop("db", None)
        if data:
            raise InvalidInput(str(path), sorted(data), "unknown settings")
        return cls(db=chosen_db, channels=channels, cadence_days=cadence,
                   reason_categories=categories, import_timezone=zone,
                   contact_attributes=contact_attributes,
                   customer_attributes=customer_attributes)


N = TypeVar("N", ChannelInfo, ReasonCategory)


def _known(vocabulary: dict[str, N], name: str, what: str, *, listing: bool = True) -> N:
    """A name's entry in a vocabulary, or a refusal naming every known name (unless not
    ``listing``)."""
    entry = vocabulary.get(name)
    if entry is None:
        known = f"; known: {', '.join(sorted(vocabulary))}" if listing else ""
        raise InvalidInput(what.replace(" ", "_"), name, f"unknown {what}{known}")
    return entry


def _vocabulary(tables: object, defaults: tuple[N, ...], where: str, example: tuple[str, str],
                make: Callable[[str, dict[str, Any], str], N]) -> dict[str, N]:
    """A vocabulary: the defaults, then the settings file's entries (``name = {...}``, a
    table of the entry's settings; ``example`` shows one) added to them or replacing one of
    the same name."""
    vocabulary = {entry.name: entry for entry in defaults}
    if not isinstance(tables, dict | None):
        raise InvalidInput(where, tables, "expected a table of names")
    for name, table in (tables or {}).items():
        key = vocabulary_name(name, where, example[0])
        if not isinstance(table, dict):
            raise InvalidInput(f"{where}.{name}", table,
                               f"expected a table like {example[0]} = {example[1]}")
        vocabulary[key] = make(key, table, f"{where}.{name}")
    return vocabulary


def _flags(flags: dict[str, Any], where: str) -> dict[str, bool]:
    """A channel's classification flags: only ``deliberate`` and ``hard``, each true/false."""
    unknown = sorted(set(flags) - {"deliberate", "hard"})
    if unknown:
        raise InvalidInput(where, unknown, "unknown flag(s); known: deliberate, hard")
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidInput(f"{where}.{name}", value, "expected true or false")
    return flags


def _import_timezone(table: object, path: Path) -> str | None:
    """``[import] timezone``: the zone of imported times without an offset (checked now)."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise InvalidInput(f"{path}: import", table, "expected a table like [import]")
    unknown = sorted(set(table) - {"timezone"})
    if unknown:
        raise InvalidInput(f"{path}: import", unknown, "unknown setting(s); known: timezone")
    zone = table.get("timezone")
    if zone is None:
        return None
    return time_zone(zone, f"{path}: import.timezone").key


def _description(table: dict[str, Any], where: str) -> str | None:
    """A reason category's settings: only an optional ``description`` text."""
    unknown = sorted(set(table) - {"description"})
    if unknown:
        raise InvalidInput(where, unknown, "unknown setting(s); known: description")
    description = table.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidInput(f"{where}.description", description, "expected text")
    return description


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InvalidInput("config", str(path), f"cannot read settings: {e}") from None


def _days(value: object, path: Path, stage: str) -> int | None:
    if value in (None, 0, "none"):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise InvalidInput(f"{path}: cadence_days.{stage}", value, "expected whole days > 0 or 0")


def available_cores() -> int:
    """The processors this process may run on: whether a second process can pay."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
