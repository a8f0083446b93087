"""Tamper evidence: recompute every customer's hash chain from the stored bytes.

Each event's link is ``chain_link`` (domain/chain.py, docs/audit.md) of the link before it
and the event's stored content. A changed event no longer produces its link; a deleted one
leaves a version gap; swapped events fail because the link covers the version. A truncated
tail leaves a valid chain, so it is caught only against a checkpoint of earlier heads
(``compare_heads``).

A forger may also add rows beside the chains rather than change them, so every row is
accounted for: a customer id stored in any other spelling than touchlog's is a break, and so
are a topic that is not one of touchlog's events, a registration anywhere but at version 1 or
naming a reference whose id is not its chain's (a second chain posing as that customer), a
state that is not what touchlog writes for its event (``state_problem``), and a customer's
events out of version order in the log.

``scan_log`` checks the whole log in log order and names the customers whose chain does
not check out; ``check_chains`` checks rows in customer and version order and names each
break precisely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from touchlog.domain.chain import chain_link
from touchlog.domain.customer import EVENT_CLASSES
from touchlog.domain.storage.checks import (
    CREATIONS,
    canonical_uuid,
    registration_problem,
    state_problem,
    unknown_topic,
)
from touchlog.domain.storage.database import Row
from touchlog.domain.storage.events import stored_uuid

# A stored event and its position in the log: (customer id, version, topic, state, position).
PlacedRow = tuple[Any, Any, Any, Any, Any]

# What a stored state that is not a chained event raises on the way to its link.
_UNREADABLE = (orjson.JSONDecodeError, orjson.JSONEncodeError, KeyError, TypeError,
               AttributeError)


@dataclass(frozen=True)
class Break:
    """One place where the record is not what was written."""

    customer: str  # the reference from the Registered event, else the customer id
    customer_id: str
    version: int
    # content_changed | missing_events | unreadable | out_of_order | non_canonical_id |
    # duplicate_version | foreign_registration | invalid_state | truncated | rewritten |
    # changed_while_verified (docs/audit.md)
    problem: str
    detail: str

    def as_row(self) -> dict[str, Any]:
        return {"customer": self.customer, "customer_id": self.customer_id,
                "version": self.version, "problem": self.problem, "detail": self.detail}


@dataclass(frozen=True)
class Head:
    """The last event of a customer's chain."""

    version: int
    link: str
    reference: str | None = None


@dataclass
class ChainReport:
    customers: int = 0
    events: int = 0
    breaks: list[Break] = field(default_factory=list)
    heads: dict[str, Head] = field(default_factory=dict)  # customer id (hex) -> head
    # Links stored at the versions a checkpoint names, to see a rewritten history.
    links_at: dict[str, str] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return not self.breaks


@dataclass
class _Chain:
    """How far one customer's chain has been read."""

    uid: UUID
    version: int = 0
    link: str = ""  # the stored link of ``version`` ("" before the first)
    reference: str | None = None  # from the registration, once it checked out
    kind: str = "customer"  # or "import": what its registration created
    customer_id: str = field(init=False)  # the id as the chain hashes it: hyphenated text
    key: str = field(init=False)  # the id as reports and checkpoints name it: hex

    def __post_init__(self) -> None:
        self.customer_id, self.key = str(self.uid), self.uid.hex

    def broken(self, version: int, problem: str, detail: str) -> Break:
        return Break(self.reference or self.key, self.key, version, problem, detail)


def scan_log(rows: Iterable[Row], watch: dict[str, int] | None = None
             ) -> tuple[ChainReport, set[Any]]:
    """Checks rows in log order; returns the heads of intact chains and the suspect ids.

    Every row is accounted for: a row whose customer id is not stored the one way touchlog
    stores ids belongs to no chain and is a break of its own (``non_canonical_id``).
    """
    report, suspects = ChainReport(), set()
    chains: dict[Any, _Chain] = {}
    for raw_id, version, topic, state in rows:
        report.events += 1
        chain = chains.get(raw_id)
        if chain is None:
            uid = canonical_uuid(raw_id)
            if uid is None:
                report.breaks.append(_stray(raw_id, version))
                continue
            chain = chains[raw_id] = _Chain(uid)
        elif raw_id in suspects:
            continue
        try:
            data = orjson.loads(state)
            link = data.pop("link")
            cls = EVENT_CLASSES.get(topic)
            intact = version == chain.version + 1 and cls is not None and chain_link(
                chain.link, chain.customer_id, version, topic, data) == link and (
                version != 1 and topic not in CREATIONS
                or registration_problem(chain.uid, version, topic, data) is None
            ) and state_problem(cls, data) is None
        except _UNREADABLE:
            intact = False
        if not intact:
            suspects.add(raw_id)
            continue
        if version == 1:
            _registered(chain, topic, data)
        chain.version, chain.link = version, link
        if watch and watch.get(chain.key) == version:
            report.links_at[chain.key] = link
    report.customers = sum(1 for chain in chains.values() if chain.kind == "customer")
    for raw_id, chain in chains.items():
        if raw_id not in suspects:
            report.heads[chain.key] = Head(chain.version, chain.link, chain.reference)
    return report, suspects


def check_chains(rows: Iterable[Row | PlacedRow], watch: dict[str, int] | None = None
                 ) -> ChainReport:
    """Checks rows ordered by customer and version, naming every break; rows that end with
    their log position are also checked to stand in the log in version order.

    ``watch`` names, per customer id (hex), a version whose stored link to remember.
    """
    report = ChainReport()
    watch = watch or {}
    chain = _Chain(UUID(int=0))
    current: Any = None
    placed: tuple[int, Any] | None = None  # the version before and its log position
    for raw_id, version, topic, state, *place in rows:
        position = place[0] if place else None
        if raw_id != current:
            if current is not None:
                report.heads[chain.key] = Head(chain.version, chain.link, chain.reference)
            if current is not None and chain.kind == "import":
                report.customers -= 1
            current, chain, placed = raw_id, _Chain(stored_uuid(raw_id)), None
            report.customers += 1
        report.events += 1
        found = _event_breaks(chain, version, topic, state)
        report.breaks += found
        if placed is not None and position is not None and _before(position, placed[1]):
            report.breaks.append(chain.broken(version, "out_of_order", (
                f"version {version} is at log position {position}, before version "
                f"{placed[0]} at position {placed[1]}: the log's order was changed")))
        placed = (version, position)
        if watch.get(chain.key) == version:
            report.links_at[chain.key] = chain.link
    if current is not None:
        report.heads[chain.key] = Head(chain.version, chain.link, chain.reference)
        report.customers -= chain.kind == "import"
    return report


def _registered(chain: _Chain, topic: str, data: dict[str, Any]) -> None:
    """Names the chain after its registration: a customer's reference, "import" and an
    import's id."""
    creation = CREATIONS[topic]
    chain.kind = creation.kind
    name = data[creation.name]
    chain.reference = name if creation.kind == "customer" else f"import {name}"


def _event_breaks(chain: _Chain, version: Any, topic: Any, state: Any) -> list[Break]:
    """What is wrong with one event of ``chain`` (read in version order); moves the chain
    on to it, continuing from its stored link so that one changed event is reported once."""
    if type(version) is not int:
        return [chain.broken(chain.version + 1, "unreadable",
                             f"the version is stored as {version!r}, not a whole number")]
    try:
        data = orjson.loads(state)
        link = data.pop("link")
        if not isinstance(link, str):
            raise TypeError(f"its link is {link!r}, not text")
        computed = chain_link(chain.link, chain.customer_id, version, topic, data)
    except _UNREADABLE as e:
        chain.version, chain.link = version, ""
        return [chain.broken(version, "unreadable",
                             f"the stored state is not a chained event ({e})")]
    breaks = []
    registration = None
    if version == 1 or topic in CREATIONS:
        registration = registration_problem(chain.uid, version, topic, data)
        if version == 1 and registration is None:
            _registered(chain, topic, data)
    if version <= chain.version:  # only a table rebuilt without its primary key holds one
        breaks.append(chain.broken(version, "duplicate_version", (
            f"version {version} is stored more than once: a second chain under this id")))
    elif version != chain.version + 1:
        breaks.append(chain.broken(chain.version + 1, "missing_events",
                                   _gap(chain.version + 1, version)))
    elif computed != link:
        breaks.append(chain.broken(version, "content_changed", (
            "the stored content does not produce the stored link: this event was "
            f"changed or replaced, or the link of version {version - 1} was"
            if version > 1 else "the stored content does not produce the stored link")))
    cls = EVENT_CLASSES.get(topic) if isinstance(topic, str) else None
    if cls is None:
        breaks.append(chain.broken(version, "unreadable", unknown_topic(topic)))
    elif registration is not None:
        breaks.append(chain.broken(version, "foreign_registration", registration))
    elif (invalid := state_problem(cls, data)) is not None:
        breaks.append(chain.broken(version, "invalid_state", invalid))
    chain.version, chain.link = version, link
    return breaks


def _before(position: Any, earlier: Any) -> bool:
    """Whether a log position comes before another one (positions of any stored type)."""
    try:
        return bool(position < earlier)
    except TypeError:
        return True


def _stray(raw_id: Any, version: Any) -> Break:
    """The break of a row whose customer id no touchlog run writes."""
    try:
        uid: UUID | None = UUID(hex=raw_id) if isinstance(raw_id, str) else UUID(bytes=raw_id)
    except (ValueError, TypeError, AttributeError):
        uid = None
    known = f" (touchlog stores this id only as {uid.hex!r})" if uid else ""
    name = raw_id if isinstance(raw_id, str) else ascii(raw_id)
    return Break(name, uid.hex if uid else name,
                 version if type(version) is int else 0, "non_canonical_id", (
                     f"the customer id is stored as {raw_id!r}{known}: the row belongs to "
                     "no chain, so no chain check covers it"))


def _gap(expected: int, found: int) -> str:
    missing = f"version {expected}" if found == expected + 1 else \
        f"versions {expected} to {found - 1}"
    return f"{missing} missing (the next stored event is version {found})"


def compare_heads(report: ChainReport, checkpoint: dict[str, Head]) -> list[Break]:
    """Breaks where the log no longer extends the checkpointed heads."""
    breaks = []
    for key, old in checkpoint.items():
        name = old.reference or key
        now = report.heads.get(key)
        if now is None or now.version < old.version:
            breaks.append(Break(name, key, (now.version + 1) if now else 1, "truncated", (
                f"the checkpoint's head is version {old.version}; the log now ends at "
                f"{now.version if now else 'nothing (all events gone)'}")))
        elif report.links_at.get(key) != old.link:
            breaks.append(Break(name, key, old.version, "rewritten", (
                f"version {old.version} has link {report.links_at.get(key)}, the "
                f"checkpoint recorded {old.link}: the history up to it was replaced")))
    return breaks
