"""Which stored values of an event are personal data, given the deployment's settings.

Each event class declares its fixed personal fields (``personal_fields``: ``purpose``,
``person.name``, ``changes.email``, …). Attributes are personal when touchlog.toml declares
them so (``referrer_email = {type = "text", personal = true}``), so their paths depend on
the settings: ``attributes.<name>`` in ContactLogged and ProfileUpdated,
``changes.attributes.<name>`` in ContactAmended. ``personal_paths`` gives both, for erasure
to find every personal value of an event without guessing (docs/events.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from touchlog.domain.customer import EVENT_CLASSES, Customer

if TYPE_CHECKING:
    from touchlog.domain.settings import Settings

# The customer's event classes (an import's record holds no personal data of customers).
_BY_NAME: dict[str, type[Customer.Event]] = {
    cls.__name__: cls for cls in EVENT_CLASSES.values() if issubclass(cls, Customer.Event)}
# Where each event keeps attributes, and whose declarations say which are personal.
_ATTRIBUTES = {"ContactLogged": ("attributes", "contact"),
               "ContactAmended": ("changes.attributes", "contact"),
               "ProfileUpdated": ("attributes", "customer")}


def personal_paths(kind: str, state: Mapping[str, Any], settings: Settings | None
                   ) -> list[str]:
    """The dotted paths of ``state`` (a stored event of class ``kind``, upcast) that hold
    personal data: the class's ``personal_fields``, then each attribute the event holds that
    the settings declare personal. Paths whose values are absent from the state are left
    out (an amendment's changes hold only what changed). Without settings, the class's
    fields alone."""
    return [path for path, _, _ in personal_places(kind, state, settings)]


def personal_places(kind: str, state: Mapping[str, Any], settings: Settings | None
                    ) -> list[tuple[str, dict[str, Any], str]]:
    """``personal_paths``, each with the dict of ``state`` holding its value and the
    value's name there: what sealing and erasure read and set (once per event)."""
    places = []
    for path, parents, name in _fixed_paths(kind):
        holder: Any = state
        for part in parents:
            holder = holder.get(part)
            if holder.__class__ is not dict:
                break
        else:
            if name in holder:
                places.append((path, holder, name))
    where = _ATTRIBUTES.get(kind)
    if where is not None and settings is not None:
        path, scope = where
        declared = (settings.contact_attributes if scope == "contact"
                    else settings.customer_attributes)
        held = value_at(state, path) if declared else None
        if held and held.__class__ is dict:
            places += [(f"{path}.{name}", held, name) for name in sorted(held)
                       if name in declared and declared[name].personal]
    return places


@cache
def _fixed_paths(kind: str) -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """The class's ``personal_fields``: each path, its parents' names and its own name."""
    cls: type[Customer.Event] | None = _BY_NAME.get(kind)
    if cls is None:
        return ()
    return tuple((path, tuple(parents), name)
                 for path in cls.personal_fields for *parents, name in [path.split(".")])


def holder_of(state: Mapping[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    """The dict of ``state`` holding the last part of the dotted ``path``, and that part
    (None: there is no such dict)."""
    *parents, name = path.split(".")
    holder: Any = state
    for part in parents:
        holder = holder.get(part) if isinstance(holder, dict) else None
    return (holder if isinstance(holder, dict) else None), name


def value_at(state: Mapping[str, Any], path: str) -> Any:
    """The value at the dotted ``path`` of ``state``; None when there is none."""
    holder, name = holder_of(state, path)
    return None if holder is None else holder.get(name)
