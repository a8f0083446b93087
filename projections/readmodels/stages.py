"""Relationship stages: where each relationship stands, and every stay in a stage.

Registration enters discovery (cycle 1). Each stage change closes the current stay
(``left_at``, ``duration_seconds``) and opens the next. History rows are numbered in log
order (``seq``); a backdated stage signal can make a stay's duration negative, which is
kept as recorded rather than hidden.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import STAGE_CURRENT, STAGE_HISTORY
from touchlog.projections.readmodels.changes import Batch, known_references

HISTORY_COLUMNS = STAGE_HISTORY.column_names
CURRENT_COLUMNS = STAGE_CURRENT.column_names


class StagesProjection:
    """Projection ``stages``: tables stage_current and stage_history."""

    name = "stages"

    def read(self, db: ReportingDB, batch: Batch) -> tuple[dict[str, str], dict[str, Any]]:
        """The batch's customers' references, and their stage_current rows."""
        refs = known_references(db, "stage_current", batch)
        return refs, {r["customer"]: r for r in
                      db.by_keys("stage_current", "customer", list(set(refs.values())))}

    def prepare(self, batch: Batch, known: tuple[dict[str, str], dict[str, Any]]) -> _Writes:
        refs = known[0]
        current = {customer: dict(row) for customer, row in known[1].items()}
        opened: dict[tuple[str, int], dict[str, Any]] = {}
        closed: dict[tuple[str, int], list[Any]] = {}
        changed: set[str] = set()
        for c in batch:
            e = c.state
            if c.kind == "Registered":
                ref = refs[c.customer_id]
                current[ref] = {"customer": ref, "customer_id": c.customer_id,
                                "stage": "discovery", "since": e["at"], "cycle": 1, "changes": 0}
                _enter(current[ref], opened, c.position, None, "registered", None, None)
                changed.add(ref)
            elif c.kind == "StageChanged":
                ref = refs[c.customer_id]
                _leave(current[ref], opened, closed, e["at"], c.position)
                current[ref].update(stage=e["to_stage"], since=e["at"], cycle=e["cycle"])
                _enter(current[ref], opened, c.position, e["from_stage"], e["reason"],
                       e["actor"], e["contact_id"])
                changed.add(ref)
        return _Writes(current, changed, opened, closed)


def _enter(cur: dict[str, Any], opened: dict[tuple[str, int], dict[str, Any]], position: int,
           from_stage: str | None, reason: str, actor: str | None,
           contact_id: str | None) -> None:
    cur["changes"] += 1
    cur["position"] = position
    opened[(cur["customer"], cur["changes"])] = {
        "customer": cur["customer"], "seq": cur["changes"], "cycle": cur["cycle"],
        "from_stage": from_stage, "to_stage": cur["stage"], "entered_at": cur["since"],
        "left_at": None, "duration_seconds": None, "reason": reason, "actor": actor,
        "contact_id": contact_id, "position": position,
    }


def _leave(cur: dict[str, Any], opened: dict[tuple[str, int], dict[str, Any]],
           closed: dict[tuple[str, int], list[Any]], at: str, position: int) -> None:
    key = (cur["customer"], cur["changes"])
    seconds = int((datetime.fromisoformat(at) - datetime.fromisoformat(cur["since"]))
                  .total_seconds())
    if key in opened:  # the stay began in this batch: not in the table yet
        opened[key].update(left_at=at, duration_seconds=seconds, position=position)
    else:
        closed[key] = [at, seconds, position, *key]


class _Writes(NamedTuple):
    current: dict[str, dict[str, Any]]
    changed: set[str]
    opened: dict[tuple[str, int], dict[str, Any]]
    closed: dict[tuple[str, int], list[Any]]

    def write(self, db: ReportingDB) -> None:
        _write(db, *self)


def _write(db: ReportingDB, current: dict[str, dict[str, Any]], changed: set[str],
           opened: dict[tuple[str, int], dict[str, Any]],
           closed: dict[tuple[str, int], list[Any]]) -> None:
    db.executemany(
        "UPDATE stage_history SET left_at = ?, duration_seconds = ?, position = ? "
        "WHERE customer = ? AND seq = ?", list(closed.values()))
    db.executemany(
        f"INSERT INTO stage_history ({', '.join(HISTORY_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(HISTORY_COLUMNS))}) ON CONFLICT DO NOTHING",
        [[row[c] for c in HISTORY_COLUMNS] for row in opened.values()])
    updates = [c for c in CURRENT_COLUMNS if c != "customer"]
    db.executemany(
        f"INSERT INTO stage_current ({', '.join(CURRENT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(CURRENT_COLUMNS))}) ON CONFLICT (customer) DO UPDATE "
        f"SET {', '.join(f'{c} = excluded.{c}' for c in updates)}",
        [[current[ref][c] for c in CURRENT_COLUMNS] for ref in changed])
