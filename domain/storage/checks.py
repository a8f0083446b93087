"""The checks a stored event must pass to be one touchlog wrote.

A database received for an audit is hostile until verified, so rows are judged before
anything is made of them: a customer id only as touchlog stores it (``canonical_uuid``),
only touchlog's own event topics (``EVENT_CLASSES`` in domain/customer.py; no module a
stored topic names is ever imported), each chain registered once by its own customer or
import (``registration_problem``, ``CREATIONS``), and each state what its event class
writes (``state_problem``).
``touchlog verify`` reports a row failing one as a break; the readers refuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache, lru_cache
from itertools import product
from operator import itemgetter
from types import UnionType
from typing import Any, ClassVar, NamedTuple, Union, get_args, get_origin, get_type_hints
from uuid import UUID

from eventsourcing.domain import Aggregate

from touchlog.domain.customer import CUSTOMER_TOPIC, REGISTERED_TOPIC
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import customer_id
from touchlog.domain.imports import IMPORT_STARTED_TOPIC, IMPORT_TOPIC, import_uuid
from touchlog.domain.values import Stage, parse_amount, parse_rating


class Creation(NamedTuple):
    """What the first event of a chain is: the field naming it, the id that name makes, and
    the aggregate it creates."""

    name: str
    id_of: Callable[[str], UUID]
    aggregate_topic: str
    kind: str  # what a chain so created is: "customer" or "import"


# The events that begin a chain, by topic: a customer's registration and an import's start.
CREATIONS: dict[str, Creation] = {
    REGISTERED_TOPIC: Creation("reference", customer_id, CUSTOMER_TOPIC, "customer"),
    IMPORT_STARTED_TOPIC: Creation("import_id", import_uuid, IMPORT_TOPIC, "import"),
}


def canonical_uuid(raw: Any) -> UUID | None:
    """The customer id of a stored id written the one way touchlog writes it (a UUID on
    PostgreSQL, its 32 lower-case hex digits on SQLite); None for any other spelling (upper
    case, hyphens, braces, bytes) or any other value."""
    if isinstance(raw, UUID):
        return raw
    if not isinstance(raw, str) or len(raw) != 32:
        return None
    try:
        uid = UUID(hex=raw)
    except ValueError:
        return None
    return uid if uid.hex == raw else None


def unknown_topic(topic: Any) -> str:
    """Why an event whose topic is not in EVENT_CLASSES is unreadable."""
    return f"its topic {topic!r} is not one of touchlog's events (it is never imported)"


def registration_problem(uid: UUID, version: Any, topic: Any, state: dict[str, Any]
                         ) -> str | None:
    """Why an event breaks the rule that each chain is registered once, at version 1, by
    the customer whose reference makes its id, or the import whose id makes it (a second
    chain naming an existing customer's reference would be counted as that customer);
    None when it keeps it."""
    creation = CREATIONS.get(topic) if isinstance(topic, str) else None
    if creation is None:
        return "version 1 is not a registration" if version == 1 else None
    if version != 1:
        return f"a registration at version {version}: a chain is registered once, at version 1"
    name = state.get(creation.name)
    if not isinstance(name, str):
        return f"the registration names no {creation.name} (got {name!r})"
    if creation.id_of(name) != uid:
        return (f"it registers {name!r}, whose {creation.kind} id is {creation.id_of(name)}, "
                f"under the id {uid}: a second chain posing as that {creation.kind}")
    if state.get("originator_topic") != creation.aggregate_topic:
        return f"it creates {state.get('originator_topic')!r}, not a touchlog {creation.kind}"
    return None


def state_problem(cls: type, state: dict[str, Any]) -> str | None:
    """Why a stored state (with or without its link) is not what ``cls`` writes; None when
    it is.

    The state holds exactly the class's fields and the recorded ``timestamp`` (a
    registration also its ``originator_topic``), each of its declared JSON type; instants
    are ISO 8601 with an offset; amounts, ratings and stages keep the rules their input
    keeps (domain/values.py). A state of an older class version is left to its upcast.
    """
    shape = _shape(cls)
    if state.keys() != shape.fields and state.keys() != shape.linked:
        if getattr(cls, "class_version", 1) > state.get("class_version", 1):
            return None  # an older version of the event: its upcast makes it current
        extra = sorted(state.keys() - shape.linked)
        missing = sorted(shape.fields - state.keys())
        return f"its fields are not a {cls.__name__}'s (extra {extra}, missing {missing})"
    values = shape.values(state)
    if tuple(map(type, values)) not in shape.typings:
        name, value = next((n, v) for n, v, allowed in zip(shape.names, values, shape.types,
                                                              strict=True)
                           if type(v) not in allowed)
        return f"its {name} is {value!r}, which a {cls.__name__} never holds"
    for name, rule in shape.rules:
        value = state[name]
        if value is not None:
            try:
                rule(value, name)
            except (InvalidInput, ValueError, TypeError) as e:
                return f"its {name} is {value!r}, which a {cls.__name__} never holds ({e})"
    return None


class _Shape(NamedTuple):
    """What a stored state of one event class holds (``state_problem``)."""

    fields: frozenset[str]
    linked: frozenset[str]  # the fields and the link
    names: tuple[str, ...]
    values: Callable[[dict[str, Any]], tuple[Any, ...]]  # the fields' values, in order
    types: tuple[tuple[type, ...], ...]  # each field's JSON types
    typings: frozenset[tuple[type, ...]]  # every allowed combination of them
    rules: tuple[tuple[str, Callable[[Any, str], object]], ...]


def _instant(value: Any, field: str) -> None:
    if datetime.fromisoformat(value).tzinfo is None:
        raise ValueError("an instant without its offset")


@lru_cache(maxsize=4096)  # a log holds few distinct amounts; checking one costs a Decimal
def _amount(value: Any, field: str) -> None:
    parse_amount(value, field)


_RULES: dict[str, Callable[[Any, str], object]] = {
    "timestamp": _instant, "at": _instant, "occurred_at": _instant, "due_at": _instant,
    "amount": _amount, "rating": parse_rating, "stage_signal": Stage.parse,
    "from_stage": Stage.parse, "to_stage": Stage.parse,
}
_JSON_TYPES: dict[Any, tuple[type, ...]] = {
    str: (str,), int: (int,), bool: (bool,), type(None): (type(None),), dict: (dict,),
}


@cache
def _shape(cls: type) -> _Shape:
    hints = get_type_hints(cls)
    own = [name for name in cls.__annotations__ if get_origin(hints[name]) is not ClassVar]
    # The mapper stores a class_version above 1 with the state (eventsourcing's Mapper).
    versioned = ("class_version",) if getattr(cls, "class_version", 1) > 1 else ()
    created = issubclass(cls, Aggregate.Created)
    names = (*own, "timestamp", *(("originator_topic",) if created else ()), *versioned)
    types = tuple(_json_types(hints[n]) if n in own else (int,) if n in versioned else (str,)
                  for n in names)
    return _Shape(frozenset(names), frozenset((*names, "link")), names, itemgetter(*names),
                  types, frozenset(product(*types)),
                  tuple((n, _RULES[n]) for n in names if n in _RULES))


def _json_types(hint: Any) -> tuple[type, ...]:
    origin = get_origin(hint)
    if origin is UnionType or origin is Union:
        return tuple(t for arg in get_args(hint) for t in _json_types(arg))
    return _JSON_TYPES[origin or hint]
