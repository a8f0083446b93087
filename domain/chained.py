"""What every aggregate touchlog stores shares: its events form a hash chain
(domain/chain.py). ``Chained`` is mixed into an aggregate (``Customer``, ``Import``) and
``ChainedEvent`` into its event base; each event class still declares its own ``link``."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar

from eventsourcing.utils import get_topic

from touchlog.domain.chain import chain_link

# The attribute of an event holding its stored state when that differs from its fields
# (a customer's personal fields sealed): what the mapper stores (domain/storage/transcoder.py).
STORED_STATE = "_stored_state"


class ChainedEvent:
    """Applying an event moves its aggregate's chain head to the event's link."""

    link: str

    def mutate(self, aggregate: Any) -> Any:
        result = super().mutate(aggregate)  # type: ignore[misc]
        assert result is not None
        result.chain_head = self.link
        return result


class Chained:
    """Creation and ``trigger_event`` that link each new event into the chain.

    ``identity_fields`` name the creation arguments ``create_id`` makes the id from.
    Events are triggered explicitly rather than through the library's ``@event`` method
    decorator, which inspects signatures and copies arguments on every call.
    """

    identity_fields: ClassVar[tuple[str, ...]]
    chain_head: str
    id: Any
    version: int
    modified_on: datetime
    _pending_events: list[Any]

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:  # noqa: A002
        originator_id = id or cls.create_id(*(kwargs[f] for f in cls.identity_fields))  # type: ignore[attr-defined]
        kwargs["timestamp"] = kwargs.get("timestamp") or event_class.create_timestamp()
        state = {**kwargs, "originator_topic": get_topic(cls)}
        kwargs["link"] = chain_link("", originator_id, 1, get_topic(event_class), state)
        return super()._create(event_class, id=originator_id, **kwargs)  # type: ignore[misc]

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """The library's ``trigger_event`` minus what a version it counts itself cannot
        fail (the id and next-version checks of ``mutate``): the event is made, applied
        and kept pending. Its link covers the state as stored (``stored_state``), with the
        ``class_version`` the mapper adds to it."""
        version = self.version + 1
        timestamp = kwargs["timestamp"] = kwargs.get("timestamp") or datetime.now(UTC)
        class_version = getattr(event_class, "class_version", 1)
        plain = kwargs if class_version == 1 else {**kwargs, "class_version": class_version}
        stored = self.stored_state(event_class, plain, version)
        link = kwargs["link"] = chain_link(
            self.chain_head, self.id, version, get_topic(event_class), stored
        )
        # Made as the library's mapper makes an event it reads (its fields as the instance's
        # dict), not through the frozen dataclass's __init__, which sets each field on its
        # own (6.3 of the 13.8 µs that making, chaining and applying a contact's event
        # took, sealing aside). The fields given are checked as __init__ would.
        if kwargs.keys() != _fields(event_class):
            raise TypeError(f"{event_class.__name__} takes {sorted(_fields(event_class))}, "
                            f"not {sorted(kwargs)}")
        new_event = object.__new__(event_class)
        object.__setattr__(new_event, "__dict__", {
            "originator_id": self.id, "originator_version": version, **kwargs})
        if stored is not plain:
            object.__setattr__(new_event, STORED_STATE, stored)
        new_event.apply(self)
        self.version = version
        self.modified_on = timestamp
        self.chain_head = link
        self._pending_events.append(new_event)

    def stored_state(self, event_class: Any, plain: dict[str, Any], version: int
                     ) -> dict[str, Any]:
        """The state a new event is stored with: its fields as they are (a customer seals
        its personal ones)."""
        return plain


@cache
def _fields(event_class: type) -> frozenset[str]:
    """The fields an event of the class is made with, besides its originator's id and
    version."""
    return frozenset(f.name for f in dataclass_fields(event_class)) - {
        "originator_id", "originator_version"}
