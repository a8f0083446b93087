"""Undoing an import (``touchlog imports undo``, docs/import.md "Undoing an import").

Everything an import wrote names it (the ``source`` of its events), so one pass over the
log finds its customers and what it wrote on each. Undoing records new facts only: every
contact it added that is still live is retracted, every follow-up it scheduled that is
still open is cancelled, each naming the undo (``source`` {"undo": id}); what cannot be
undone that way is said, not guessed at (a customer it registered stays registered, an
amendment it recorded stays, a follow-up completed since stays completed). Customers are
changed ``batch_size`` at a time, one transaction each, so a killed undo leaves whole
batches; run again, it does the rest, and once all is done it records ``ImportUndone``
on the import. Run again after that, it finds nothing to do and records nothing.

A contact of the import amended since means someone corrected it after the import: the
undo is refused, listing them, unless forced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from touchlog.domain.errors import TouchlogError
from touchlog.domain.storage.events import stored_rows, stored_uuid
from touchlog.domain.values import iso

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.customer import Customer

CUSTOMERS_PER_TRANSACTION = 500


class AmendedSince(TouchlogError):
    """Contacts of the import were amended after it: undoing it needs ``--force``."""

    def __init__(self, import_id: str, amended: list[tuple[str, str]]) -> None:
        self.amended = amended
        shown = ", ".join(f"{contact} ({customer})" for customer, contact in amended[:20])
        more = f" and {len(amended) - 20} more" if len(amended) > 20 else ""
        super().__init__(
            f"{len(amended)} contact(s) of import {import_id} were amended since: {shown}"
            f"{more}; undoing the import would retract them with their corrections. Run "
            "'touchlog imports undo' with --force to undo it all the same")


@dataclass
class Undo:
    """What undoing an import did, and what it could not do."""

    import_id: str
    retracted: int = 0
    cancelled: int = 0
    already_retracted: int = 0  # by an earlier (perhaps killed) run, or by hand
    amended_since: list[tuple[str, str]] = field(default_factory=list)  # (customer, contact)
    not_undone: list[str] = field(default_factory=list)
    already_undone: bool = False  # recorded as undone before this run

    def report(self) -> dict[str, Any]:
        return {"import": self.import_id, "retracted": self.retracted,
                "cancelled": self.cancelled, "already_retracted": self.already_retracted,
                "amended_since": [c for _, c in self.amended_since],
                "not_undone": self.not_undone, "already_undone": self.already_undone}


@dataclass
class _Written:
    """What the import wrote, from the log: by customer id."""

    customers: set[UUID] = field(default_factory=set)
    amendments: int = 0  # ContactAmended it recorded (on --on-change amend)
    retractions: int = 0  # ContactRetracted it recorded (contact retract --from FILE)
    registered: set[UUID] = field(default_factory=set)  # its contact was their first event


def undo_import(log: TouchpointLog, import_id: str, reason: str, actor: str, *,
                force: bool = False, batch_size: int = CUSTOMERS_PER_TRANSACTION) -> Undo:
    """Retracts the contacts and cancels the follow-ups of import ``import_id`` still live
    (see the module's docstring); refuses, recording nothing, when contacts of it were
    amended since, unless ``force``."""
    if not reason or not reason.strip():
        from touchlog.domain.errors import InvalidInput

        raise InvalidInput("reason", reason, "undoing an import needs a reason")
    record = log.import_record(import_id)
    undo = Undo(import_id, already_undone=record.undone is not None)
    written = _written(log, import_id)
    references = _references(log, written.customers)
    for customer in _customers(log, references):
        undo.amended_since += [(customer.reference, cid) for cid in _live(customer, import_id)
                               if cid in customer.amendments]
    if undo.amended_since and not force:
        raise AmendedSince(import_id, undo.amended_since)
    source = {"undo": import_id}
    for start in range(0, len(references), batch_size):
        counts = log.change_customers(
            references[start:start + batch_size],
            lambda cs: _undo_batch(cs.values(), import_id, reason, actor, source))
        undo.retracted += counts[0]
        undo.cancelled += counts[1]
        undo.already_retracted += counts[2]
        undo.not_undone += counts[3]
    undo.not_undone = _cannot(written, undo.not_undone)
    if record.undone is None:
        record.undo(_now(), reason, actor, {"retracted": undo.retracted,
                                            "cancelled": undo.cancelled})
        log.save_imports([record])
    return undo


def _undo_batch(customers: Any, import_id: str, reason: str, actor: str,
                source: dict[str, Any]) -> tuple[int, int, int, list[str]]:
    """Retracts and cancels on the batch's customers; (retracted, cancelled, already
    retracted, what could not be undone)."""
    retracted = cancelled = already = 0
    not_undone: list[str] = []
    at = _now()
    for customer in customers:
        for contact_id, event in customer.logged.items():
            if _of(event.source, import_id):
                if contact_id in customer.retracted:
                    already += 1
                else:
                    customer.retract_contact(contact_id, reason, actor=actor, source=source)
                    retracted += 1
        for follow_up_id, follow_up in customer.follow_ups.items():
            if not _of(follow_up.source, import_id):
                continue
            if follow_up.status == "open":
                customer.cancel_follow_up(follow_up_id, at, reason, actor=actor, source=source)
                cancelled += 1
            elif follow_up.status == "completed":
                not_undone.append(f"follow-up {follow_up_id} of {customer.reference} was "
                                  "completed since: it stays completed")
    return retracted, cancelled, already, not_undone


def _cannot(written: _Written, found: list[str]) -> list[str]:
    said = list(found)
    if written.registered:
        said.append(f"{len(written.registered)} customer(s) it registered stay registered "
                    "(with no live contact of it)")
    if written.amendments:
        said.append(f"{written.amendments} amendment(s) it recorded of contacts stored "
                    "before it stay (amend those contacts again to change them back)")
    if written.retractions:
        said.append(f"{written.retractions} retraction(s) it recorded stay (a retraction is "
                    "final)")
    return said


def _live(customer: Customer, import_id: str) -> Iterator[str]:
    """The contacts the import added to the customer that are not retracted."""
    for contact_id, event in customer.logged.items():
        if _of(event.source, import_id) and contact_id not in customer.retracted:
            yield contact_id


def _of(source: dict[str, Any] | None, import_id: str) -> bool:
    return source is not None and source.get("import") == import_id


def _written(log: TouchpointLog, import_id: str) -> _Written:
    """One pass over the log: the customers the import wrote on, what it amended, and the
    customers whose first contact it wrote."""
    needle = b'"import":' + orjson.dumps(import_id)
    written = _Written()
    with stored_rows(log) as rows:
        for raw_id, version, topic, state in rows:
            data = bytes(state)
            if needle not in data:
                continue
            source = orjson.loads(data).get("source")
            if not _of(source if isinstance(source, dict) else None, import_id):
                continue
            uid = stored_uuid(raw_id)
            written.customers.add(uid)
            if topic.endswith(":Customer.ContactAmended"):
                written.amendments += 1
            elif topic.endswith(":Customer.ContactRetracted"):
                written.retractions += 1
            elif version == 2 and topic.endswith(":Customer.ContactLogged"):
                written.registered.add(uid)
    return written


def _references(log: TouchpointLog, ids: set[UUID]) -> list[str]:
    """The references of the customers ``ids``, in a stable order."""
    return sorted(customer.reference for customer in _replayed(log, sorted(ids)))


def _customers(log: TouchpointLog, references: list[str]) -> Iterator[Customer]:
    from touchlog.domain.identity import customer_id

    yield from _replayed(log, [customer_id(r) for r in references])


def _replayed(log: TouchpointLog, ids: list[UUID]) -> Iterator[Customer]:
    for start in range(0, len(ids), CUSTOMERS_PER_TRANSACTION):
        yield from log.customers(ids[start:start + CUSTOMERS_PER_TRANSACTION])


def _now() -> str:
    return iso(datetime.now(UTC))
