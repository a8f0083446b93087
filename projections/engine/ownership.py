"""Whether a reporting database's tables were made from this log, up to a point it holds.

Each tracking row records, besides its position, the log it applied (``log_id``: the log's
identity, the hash-chain link of its first event; domain/storage/events.py ``landmarks``)
and the event at that position (``event_id``: that event's link). Before a projector
applies anything it compares them with the log: tables made from another log, tables
ahead of the log, and tables whose position now holds another event (the log was restored
from an older backup, then written again) are refused, with the command that rebuilds them.

A row that names no log (tables made before the tracking rows did) is adopted when its
position is one the log holds: the log's identity and that event's link are recorded, and
from then on it is checked like any other. Tables of another log whose positions happen to
fit are not recognised that way; ``verify --projections`` shows their rows differing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from touchlog.domain.errors import StoreError
from touchlog.domain.storage.events import Landmarks, landmarks
from touchlog.projections.engine.reporting_db import tracked_position
from touchlog.projections.engine.schema import TRACKING

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog
    from touchlog.projections.engine.reporting_db import ReportingDB

REBUILD = "touchlog projections rebuild"
SHOWN_LINK = 12  # hex digits of a link shown in messages


class Tracked(NamedTuple):
    """One projection's tracking row."""

    name: str
    position: int
    log_id: str | None
    event_id: str | None


class Mismatch(NamedTuple):
    """Why one projection's tables do not fit the log."""

    name: str  # the projection
    kind: str  # made_from_another_log | ahead_of_log | event_differs
    column: str  # the tracking column concerned
    recorded: Any  # what the tracking row holds
    log: Any  # what the log holds instead
    detail: str  # one sentence naming both

    @property
    def restored(self) -> bool:
        """Whether the likely cause is the log restored from an older backup."""
        return self.kind != "made_from_another_log"


class Fit(NamedTuple):
    """The tracking rows, the log's landmarks at their positions, and what does not fit."""

    rows: dict[str, Tracked]
    marks: Landmarks
    mismatches: list[Mismatch]


def examine(log: TouchpointLog, db: ReportingDB) -> Fit:
    """Every projection's tracking row compared with the log (one query on each database)."""
    rows = {r["name"]: Tracked(r["name"], tracked_position(r["name"], r["position"]),
                               r["log_id"], r["event_id"])
            for r in db.query(f"SELECT name, position, log_id, event_id FROM {TRACKING.name}")}
    marks = landmarks(log, sorted({r.position for r in rows.values() if r.position > 0}))
    return Fit(rows, marks, [m for r in rows.values() if (m := mismatch(r, marks))])


def mismatch(row: Tracked, marks: Landmarks) -> Mismatch | None:
    """Why the row does not fit the log, or None when it does (or applied nothing yet)."""
    name, position = row.name, row.position
    if position == 0:
        return None
    if row.log_id is not None and marks.identity is not None and row.log_id != marks.identity:
        return Mismatch(name, "made_from_another_log", "log_id", row.log_id, marks.identity,
                        f"{name} was made from another log (whose first event's link is "
                        f"{_short(row.log_id)}; this log's is {_short(marks.identity)})")
    if position > marks.head:
        return Mismatch(name, "ahead_of_log", "position", position, marks.head,
                        f"{name} is ahead of the log: it applied events up to position "
                        f"{position}, the log ends at position {marks.head}")
    if position not in marks.links:
        return Mismatch(name, "event_differs", "event_id", row.event_id, None,
                        f"the event {name} applied at position {position} is not the log's "
                        "event there: the log holds none at that position")
    if row.event_id is not None and row.event_id != marks.links[position]:
        return Mismatch(name, "event_differs", "event_id", row.event_id,
                        marks.links[position],
                        f"the event {name} applied at position {position} is not the log's "
                        f"event at that position")
    return None


def adopt(db: ReportingDB, fit: Fit) -> None:
    """Records the log and the event at its position in each fitting row that names no log."""
    db.executemany(
        f"UPDATE {TRACKING.name} SET log_id = ?, event_id = ? "
        "WHERE name = ? AND position = ? AND log_id IS NULL",
        [(fit.marks.identity, fit.marks.links[r.position], r.name, r.position)
         for r in fit.rows.values() if r.log_id is None and r.position > 0
         and not any(m.name == r.name for m in fit.mismatches)])


def refusal(fit: Fit, names: Iterable[str], db: ReportingDB, log: TouchpointLog
            ) -> StoreError | None:
    """The error refusing to apply ``names`` to tables that do not fit the log, naming the
    rebuild of every projection that does not fit; None when those named fit."""
    chosen = set(names)
    if not any(m.name in chosen for m in fit.mismatches):
        return None
    details = "; ".join(m.detail for m in fit.mismatches)
    cause = (" (was the log restored from an older backup?)"
             if any(m.restored for m in fit.mismatches) else "")
    wrong = sorted({m.name for m in fit.mismatches})
    command = f"{REBUILD} {wrong[0]}" if len(wrong) == 1 else REBUILD
    return StoreError(f"the reporting database {db.redacted} does not fit the log "
                      f"{log.location.redacted}: {details}{cause}. Rebuild "
                      f"{'it' if len(wrong) == 1 else 'them'} from this log: {command}")


def _short(link: str | None) -> str:
    return f"{link[:SHOWN_LINK]}…" if link else "none"
