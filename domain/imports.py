"""The Import aggregate: each import of a file as a fact of its own, in the same event store.

An import is recorded when it starts to record (``ImportStarted``: its id, the file's name
and sha256, the mapping's sha256, who ran it and when), and again when it ends
(``ImportFinished``: its counts); an import killed in between has no end. Undoing it is a
third fact (``ImportUndone``). Every event an import writes on a customer names it and its
source line (the ``source`` field, docs/events.md), so the records of an import are found
from the log alone.

It lives in the customers' event store, on a hash chain of its own, so that ``verify``
covers it as it covers every customer: an import's record is as tamper-evident as the
contacts it wrote, and one backup holds both (docs/import.md "Provenance").
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from touchlog.domain.chained import Chained, ChainedEvent
from touchlog.domain.identity import NAMESPACE

# Import ids never share an aggregate id with a customer reference.
IMPORT_NAMESPACE = uuid.uuid5(NAMESPACE, "touchlog imports")


def import_uuid(import_id: str) -> UUID:
    """The aggregate id of the import ``import_id``."""
    return uuid.uuid5(IMPORT_NAMESPACE, import_id)


def new_import_id() -> str:
    """A fresh import id: ``i-`` and 10 hex digits."""
    return f"i-{uuid.uuid4().hex[:10]}"


class Import(Chained, Aggregate):
    """One import of a file: when and by whom it ran, from what, what it recorded, and
    whether it was undone."""

    class Event(ChainedEvent, Aggregate.Event):
        link: str
        personal_fields: ClassVar[tuple[str, ...]] = ()

    class ImportStarted(Event, Aggregate.Created):
        import_id: str
        file_name: str
        file_sha256: str | None  # None when the file was a stream that cannot be read twice
        mapping_sha256: str | None
        actor: str
        at: str
        replaces: str | None  # the import it corrects (``import --replaces``)

    class ImportFinished(Event):
        at: str
        counts: dict[str, int]

        def apply(self, record: Import) -> None:
            record.counts = dict(self.counts)
            record.finished_at = self.at

    class ImportUndone(Event):
        at: str
        reason: str
        actor: str
        counts: dict[str, int]
        personal_fields = ("reason",)

        def apply(self, record: Import) -> None:
            record.undone = {"at": self.at, "reason": self.reason, "actor": self.actor,
                             **self.counts}

    identity_fields = ("import_id",)

    @staticmethod
    def create_id(import_id: str) -> UUID:
        return import_uuid(import_id)

    @event(ImportStarted)
    def __init__(self, import_id: str, file_name: str, file_sha256: str | None,
                 mapping_sha256: str | None, actor: str, at: str,
                 replaces: str | None) -> None:
        self.import_id = import_id
        self.file_name = file_name
        self.file_sha256 = file_sha256
        self.mapping_sha256 = mapping_sha256
        self.actor = actor
        self.at = at
        self.replaces = replaces
        self.counts: dict[str, int] | None = None
        self.finished_at: str | None = None
        self.undone: dict[str, Any] | None = None

    def finish(self, at: str, counts: dict[str, int]) -> None:
        self.trigger_event(self.ImportFinished, at=at, counts=counts)

    def undo(self, at: str, reason: str, actor: str, counts: dict[str, int]) -> None:
        self.trigger_event(self.ImportUndone, at=at, reason=reason, actor=actor,
                           counts=counts)

    def shown(self) -> dict[str, Any]:
        """The import as ``imports list`` and ``imports show`` give it."""
        status = "undone" if self.undone else "finished" if self.counts is not None \
            else "interrupted"
        return {"import": self.import_id, "at": self.at, "actor": self.actor,
                "file": self.file_name, "file_sha256": self.file_sha256,
                "mapping_sha256": self.mapping_sha256, "replaces": self.replaces,
                "status": status, **(self.counts or {}),
                **({"undone": self.undone} if self.undone else {})}


IMPORT_TOPIC = get_topic(Import)
IMPORT_STARTED_TOPIC = get_topic(Import.ImportStarted)
IMPORT_EVENT_CLASSES: dict[str, type[Import.Event]] = {
    get_topic(cls): cls for cls in (Import.ImportStarted, Import.ImportFinished,
                                    Import.ImportUndone)}
