"""Relationship stages: where each relationship stands, and every stay in a stage.

The history is derived from the facts by ``stage_history`` (domain/stages.py), the same
function the aggregate and the audit use, so it is the same whatever order the facts were
recorded in. The facts are kept in ``stage_facts``: a batch loads its customers' facts,
adds its events one by one and derives the history after each, so a stay's ``position`` is
the last event that changed it however the log was cut into batches (rebuild equals
incremental). A stay that no longer exists (a retraction can remove one) is deleted.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from touchlog.domain.stages import DISSOLUTION, History, StageFact, StageFacts
from touchlog.projections.engine.dialect import plain
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import STAGE_CURRENT, STAGE_FACTS, STAGE_HISTORY
from touchlog.projections.readmodels import summaries
from touchlog.projections.readmodels.changes import (
    CONTACTS_AND_PROFILES,
    MERGED,
    Batch,
    Change,
    known_references,
)

HISTORY_COLUMNS = STAGE_HISTORY.column_names
CURRENT_COLUMNS = STAGE_CURRENT.column_names
FACT_COLUMNS = STAGE_FACTS.column_names
RELEVANT = frozenset({"Registered", "ContactLogged", "ContactAmended", "ContactRetracted",
                      "StageChanged", MERGED})
REGISTERED, BY_CONTACT = "registered", "registered-by-contact"


class Known(NamedTuple):
    """What the tables hold about a batch's customers seen before."""

    refs: dict[str, str]  # customer id -> reference
    facts: list[dict[str, Any]]
    stays: list[dict[str, Any]]  # customer, seq, position
    current: list[dict[str, Any]]  # customer, customer_id, position


class StagesProjection:
    """Projection ``stages``: tables stage_current, stage_history and stage_facts."""

    name = "stages"
    kept_sealed = CONTACTS_AND_PROFILES

    def read(self, db: ReportingDB, batch: Batch) -> Known:
        refs = known_references(db, "stage_current", batch)
        new = {c.customer_id for c in batch if c.kind == "Registered"}
        seen = list({refs[c.customer_id] for c in batch
                     if c.kind in RELEVANT and c.customer_id not in new}
                    | {c.state["into"] for c in batch if c.kind == MERGED})
        return Known(refs, db.by_keys("stage_facts", "customer", seen),
                     db.by_keys("stage_history", "customer", seen, "customer, seq, position"),
                     db.by_keys("stage_current", "customer", seen,
                                "customer, customer_id, position"))

    def prepare(self, batch: Batch, known: Known) -> _Writes:
        lines = _restored(known)
        merged, absorbed = [], []
        for c in batch:
            if c.kind not in RELEVANT:
                continue
            ref = known.refs[c.customer_id]
            if c.kind == MERGED:  # the batch's last change (``ending_at_merges``)
                duplicate = lines.pop(ref)
                lines[c.state["into"]].absorb(duplicate, c.position)
                merged.append((ref, c.state["into"]))
                absorbed.append(duplicate)
                continue
            if c.kind == "Registered":
                lines[ref] = _Line(ref, c.customer_id, StageFacts(c.state["at"]), c.position,
                                   {}, {})
            lines[ref].apply(c)
        return _Writes([line for line in lines.values() if line.touched], merged, absorbed)


def _restored(known: Known) -> dict[str, _Line]:
    """The lines of customers seen before, with their facts and rows' positions."""
    facts: dict[str, list[dict[str, Any]]] = {}
    for row in known.facts:
        facts.setdefault(row["customer"], []).append(row)
    stays: dict[str, dict[int, int]] = {}
    for row in known.stays:
        stays.setdefault(row["customer"], {})[row["seq"]] = row["position"]
    lines = {}
    for cur in known.current:
        ref = cur["customer"]
        rows = facts.get(ref, [])
        registration = next(r for r in rows if r["kind"] in (REGISTERED, BY_CONTACT))
        restored = StageFacts.restored(
            plain(registration["at"]), registration["kind"] == BY_CONTACT,
            [(r["fact_id"], plain(r["at"]), r["stage"], r["actor"], r["reason_category"],
              bool(r["retracted"])) for r in rows if r["kind"] == "contact"],
            [StageFact(plain(r["at"]), r["stage"], None, r["reason"], r["actor"],
                       r["reason_category"]) for r in rows if r["kind"] == "change"])
        ratings = {r["fact_id"]: r["rating"] for r in rows if r["kind"] == "contact"}
        lines[ref] = _Line(ref, cur["customer_id"], restored, cur["position"],
                           stays.get(ref, {}), ratings)
    return lines


class _Line:
    """One customer's facts and derived history while a batch is applied."""

    def __init__(self, ref: str, customer_id: str, facts: StageFacts, position: int,
                 positions: dict[int, int], ratings: dict[str, int | None]) -> None:
        """A customer seen before (``positions`` its stays', ``ratings`` its contacts'), or
        a new one (none)."""
        self.ref = ref
        self.customer_id = customer_id
        self.facts = facts
        self.ratings = ratings  # contact id -> its rating (as amended)
        self.history: History = facts.history() if positions else ()
        self.stored = self.history  # the stays the table holds before the batch
        self.stored_contacts = self.rated_contacts(self.stored)  # and the contacts then
        self.positions = dict(positions)  # seq -> last event that changed the stay
        self.position = position  # of the stage_current row
        self.fact_rows: dict[str, list[Any]] = {}
        self.changed: set[int] = set()
        self.most = len(self.positions)  # stays the table may hold beyond the history's
        self.touched = False

    def apply(self, c: Change) -> None:
        e, facts = c.state, self.facts
        if c.kind == "Registered":
            self._fact(REGISTERED, REGISTERED, e["at"], None, None, None, None, c.position)
        elif c.kind == "ContactLogged":  # most events: written out
            by_contact, contact_id = facts.by_contact, e["contact_id"]
            facts.contact_logged(contact_id, e["occurred_at"], e["stage_signal"], e["actor"],
                                 e["reason_category"])
            if facts.by_contact != by_contact:
                self._fact(REGISTERED, BY_CONTACT, facts.registered_at, None, None, None, None,
                           c.position)
            self.ratings[contact_id] = e["rating"]
            self.fact_rows[contact_id] = [self.ref, contact_id, "contact", e["occurred_at"],
                                          e["stage_signal"], None, e["reason_category"],
                                          e["actor"], False, e["rating"], c.position]
            self.touched = True
        elif c.kind == "ContactAmended":
            if e["contact_id"] not in facts.contacts:
                return
            facts.contact_amended(e["contact_id"], e["changes"])
            if "rating" in e["changes"]:
                self.ratings[e["contact_id"]] = e["changes"]["rating"]
            self._contact(e["contact_id"], c.position)
        elif c.kind == "ContactRetracted":
            if e["contact_id"] not in facts.contacts:
                return
            facts.contact_retracted(e["contact_id"])
            self._contact(e["contact_id"], c.position)
        elif e["contact_id"] is None:  # StageChanged: an explicit change
            facts.stage_changed(e["to_stage"], e["at"], e["reason"], e["actor"], None,
                                e["reason_category"])
            self._fact(f"change-{c.position}", "change", e["at"], e["to_stage"], e["reason"],
                       e["reason_category"], e["actor"], c.position)
        self._derive(c.position)

    def absorb(self, other: _Line, position: int) -> None:
        """Takes in the facts of a customer merged into this one (``StageFacts.absorb``):
        its contact and change rows become this customer's, the registration is the
        union's, and the history is derived from the union."""
        for fact_id, row in other.fact_rows.items():
            if row[2] not in (REGISTERED, BY_CONTACT):
                self.fact_rows[fact_id] = [self.ref, *row[1:]]
        self.facts.absorb(other.facts)
        self.ratings.update(other.ratings)
        facts = self.facts
        self._fact(REGISTERED, BY_CONTACT if facts.by_contact else REGISTERED,
                   facts.registered_at, None, None, None, None, position)
        self._derive(position)

    def _contact(self, contact_id: str, position: int) -> None:
        k = self.facts.contacts[contact_id]
        self._fact(contact_id, "contact", k.occurred_at, k.signal, None, k.category, k.actor,
                   position, k.retracted, self.ratings.get(contact_id))

    def _fact(self, fact_id: str, kind: str, at: str, stage: str | None, reason: str | None,
              category: str | None, actor: str | None, position: int,
              retracted: bool = False, rating: int | None = None) -> None:
        self.fact_rows[fact_id] = [self.ref, fact_id, kind, at, stage, reason, category,
                                   actor, retracted, rating, position]
        self.touched = True

    def rated_contacts(self, history: History) -> list[tuple[str, str, int | None]] | None:
        """The live contacts as (occurred_at, contact id, rating), in that order, where
        ``history`` has a dissolution (the rating before each is counted); else None."""
        if all(stay.to_stage != DISSOLUTION for stay in history):
            return None
        return sorted((k.occurred_at, contact_id, self.ratings.get(contact_id))
                      for contact_id, k in self.facts.contacts.items() if not k.retracted)

    def _derive(self, position: int) -> None:
        before, after = self.history, self.facts.history()
        if after is before:
            return
        for stay in after:
            n = stay.seq
            if n > len(before) or before[n - 1] != stay:
                self.positions[n] = position
                self.changed.add(n)
        for n in range(len(after) + 1, len(before) + 1):
            self.positions.pop(n, None)
        self.most = max(self.most, len(after))
        if not before or before[-1] != after[-1] or len(before) != len(after):
            self.position = position
        self.history = after

    def current_row(self) -> list[Any]:
        last = self.history[-1]
        row = {"customer": self.ref, "customer_id": self.customer_id, "stage": last.to_stage,
               "since": last.entered_at, "cycle": last.cycle, "changes": len(self.history),
               "position": self.position}
        return [row[c] for c in CURRENT_COLUMNS]

    def stay_rows(self) -> list[list[Any]]:
        rows = []
        for n in sorted(self.changed):
            if n <= len(self.history):
                row = {"customer": self.ref, **self.history[n - 1].row(),
                       "position": self.positions[n]}
                rows.append([row[c] for c in HISTORY_COLUMNS])
        return rows


class _Writes(NamedTuple):
    lines: list[_Line]
    merged: list[tuple[str, str]]  # (duplicate, kept): the duplicate's rows move or go
    absorbed: list[_Line]  # the duplicates' lines

    def write(self, db: ReportingDB) -> None:
        # The summaries (summaries.STAGE_SUMMARIES) move by what the customers' stays (and
        # contacts' ratings) are after the writes less what they were before; both are in
        # memory.
        before = summaries.stay_contributions(
            (line.stored, line.stored_contacts) for line in (*self.lines, *self.absorbed))
        after = summaries.stay_contributions(
            (line.history, line.rated_contacts(line.history)) for line in self.lines)
        self._write(db)
        summaries.apply_difference(db, before, after)

    def _write(self, db: ReportingDB) -> None:
        for duplicate, kept in self.merged:
            db.execute("UPDATE stage_facts SET customer = ? WHERE customer = ? AND kind IN "
                       "('contact', 'change')", [kept, duplicate])
            for table in ("stage_facts", "stage_history", "stage_current"):
                db.execute(f"DELETE FROM {table} WHERE customer = ?", [duplicate])
        db.executemany(
            "DELETE FROM stage_history WHERE customer = ? AND seq > ?",
            [[line.ref, len(line.history)] for line in self.lines
             if line.most > len(line.history)])
        db.insert("stage_facts", FACT_COLUMNS,
                  [row for line in self.lines for row in line.fact_rows.values()],
                  replace_on=STAGE_FACTS.key)
        db.insert("stage_history", HISTORY_COLUMNS,
                  [row for line in self.lines for row in line.stay_rows()],
                  replace_on=STAGE_HISTORY.key)
        db.insert("stage_current", CURRENT_COLUMNS, [line.current_row() for line in self.lines],
                  replace_on=STAGE_CURRENT.key)
