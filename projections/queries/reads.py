"""What the CLI (and any caller) reads: plain dicts with the JSON contract's keys.

Every query first catches its projection up, so a user reads their own writes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

from touchlog.domain.application import TouchpointLog
from touchlog.domain.attributes import Declared
from touchlog.domain.errors import ContactNotFound, CustomerNotFound, InvalidInput
from touchlog.domain.identity import matches_search
from touchlog.domain.values import Stage, iso, parse_instant
from touchlog.projections.engine.dialect import Dialect
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector
from touchlog.projections.engine.schema import CADENCE_OWNER, purchase_of
from touchlog.projections.readmodels.attributes import value_texts
from touchlog.projections.reports.frame import Window

ARCHIVE_KEYS = ("customer", "stage", "contacts", "first_contact_at", "last_contact_at",
                "purchases", "total_amount", "last_purchase_at", "average_rating",
                "open_follow_ups")
CUSTOMER_KEYS = ("customer", "name", "email", "phone", "owner", "stage", "stage_since",
                 "contacts", "last_contact_at", "open_follow_ups")
STATUSES = ("overdue", "upcoming", "all")
QUEUE_KEYS = ("customer", "kind", "follow_up_id", "due_at", "owner", "purpose", "stage",
              "status")
# The stays that had begun by a moment; the latest of them (highest seq) was in force then.
STAY_AT = "entered_at <= ?"
_CUSTOMER = itemgetter("customer")
# Each customer's current stage, from the stages projection.
_STAGE_OF = "JOIN (SELECT customer, stage FROM stage_current) s ON s.customer = {}.customer"

_DUE = itemgetter("due_at")
_MIN = datetime.min.replace(tzinfo=UTC)


class Queries:
    """Read models of one log, caught up before every read."""

    def __init__(self, log: TouchpointLog, db: ReportingDB | None = None) -> None:
        self.log = log
        self.projector = Projector(log, db)
        self.db = self.projector.db

    def archive(self, reference: str | None = None, as_of: datetime | str | None = None,
                attributes: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One record per customer (or just ``reference``), ordered by reference, with its
        attributes; with ``as_of``, as it stood then (``_ArchiveAsOf``). ``attributes``
        (name -> stored value) keeps the customers whose attributes hold them all."""
        self.projector.catch_up(["archive", "stages"])
        if reference is not None:
            reference = self.log.resolved(reference)
        records = self._archive(reference, as_of)
        if attributes:
            having = _having(self.db, "archive_customer_attributes", attributes)
            records = [r for r in records if r["customer"] in having]
        held = _customer_attributes(self.db, reference, self.log.settings.customer_attributes)
        for record in records:
            record["attributes"] = held.get(record["customer"], {})
        return records

    def _archive(self, reference: str | None, as_of: datetime | str | None
                 ) -> list[dict[str, Any]]:
        if as_of is not None:
            return _ArchiveAsOf(self.db, parse_instant(as_of, "as_of")).records(reference)
        where, params = ("WHERE customer = ?", [reference]) if reference else ("", [])
        columns = ", ".join("s.stage AS stage" if k == "stage" else f"a.{k} AS {k}"
                            for k in ARCHIVE_KEYS)
        rows = self.db.query(
            f"SELECT {columns} FROM archive_customers a LEFT JOIN stage_current s "
            f"ON s.customer = a.customer {where.replace('customer', 'a.customer')} "
            "ORDER BY a.customer", params)
        if reference and not rows:
            raise CustomerNotFound(reference)
        channels: dict[str, dict[str, int]] = {}
        for c in self.db.query(f"SELECT customer, channel, contacts FROM archive_channels "
                               f"{where} ORDER BY customer, channel", params):
            channels.setdefault(c["customer"], {})[c["channel"]] = c["contacts"]
        return [_archive_record(row, channels.get(row["customer"], {})) for row in rows]

    def customers(self, *, stage: str | None = None, owner: str | None = None,
                  search: str | None = None, since: datetime | str | None = None
                  ) -> list[dict[str, Any]]:
        """One record per customer (``CUSTOMER_KEYS``), by reference: only those in
        ``stage``, owned by ``owner`` (the profile's owner), whose reference, name or email
        holds ``search`` (``matches_search``: case ignored), or with a live contact at or
        after ``since``."""
        self.projector.catch_up(["archive", "stages"])
        where, params = [], []
        if stage is not None:
            where.append("s.stage = ?")
            params.append(Stage.parse(stage).value)
        if owner is not None:
            where.append("a.owner = ?")
            params.append(owner)
        if since is not None:
            where.append("a.last_contact_at >= ?")
            params.append(self.db.dialect.instant(parse_instant(since, "since")))
        columns = ", ".join(f"s.{k[6:] if k == 'stage_since' else k} AS {k}"
                            if k.startswith("stage") else f"a.{k} AS {k}"
                            for k in CUSTOMER_KEYS)
        rows = self.db.query(
            f"SELECT {columns} FROM archive_customers a LEFT JOIN stage_current s "
            f"ON s.customer = a.customer {'WHERE ' if where else ''}{' AND '.join(where)} "
            "ORDER BY a.customer", params)
        if search is not None:
            rows = [r for r in rows if matches_search(search, r["customer"], r["name"],
                                                      r["email"])]
        return rows

    def followups(self, owner: str | None = None, as_of: datetime | str | None = None,
                  status: str = "all", within_days: int | None = None) -> list[dict[str, Any]]:
        """Open scheduled follow-ups and cadence items, soonest due first.

        ``within_days`` keeps upcoming items due no later than ``as_of`` plus that many
        days; overdue items are always kept (unless ``status`` says otherwise).
        """
        if status not in STATUSES:
            raise InvalidInput("status", status, f"expected one of {', '.join(STATUSES)}")
        if within_days is not None and within_days < 0:
            raise InvalidInput("within", within_days, "expected days >= 0")
        moment = parse_instant(as_of, "as_of") if as_of is not None else datetime.now(UTC)
        self.projector.catch_up(["followups", "stages", "archive"])
        cadence = {stage.value: days for stage, days in self.log.settings.cadence_days.items()
                   if days}
        plan = _QueuePlan(self.db.dialect, owner, moment, status, within_days)
        # Scheduled items first: the sort is stable, so a customer's scheduled items stay
        # ahead of its cadence item due at the same time.
        items = self._records(*plan.scheduled())
        cadence_items = plan.cadence(cadence)
        if cadence_items is not None:
            items += self._records(*cadence_items)
        # By due time, then customer: two stable sorts on plain text keys (UTC ISO text on
        # both databases, so text order is time order) cost less than one on tuples.
        items.sort(key=_CUSTOMER)
        items.sort(key=_DUE)
        return items

    def _records(self, select: str, params: list[Any]) -> list[dict[str, Any]]:
        """The rows of ``select`` (columns named as in QUEUE_KEYS) as records."""
        return self.db.dialect.select_records(self.db, select, params, QUEUE_KEYS)

    def stage(self, reference: str, as_of: datetime | str | None = None) -> dict[str, Any]:
        """Where the relationship stands (or stood at ``as_of``: the stay in force then,
        with stage, since and cycle null before the relationship started)."""
        self.projector.catch_up(["stages"])
        stored = self.log.resolved(reference)
        rows = self.db.query("SELECT customer, stage, since, cycle FROM stage_current "
                             "WHERE customer = ?", [stored])
        if not rows:
            raise CustomerNotFound(reference)
        if as_of is None:
            return rows[0]
        moment = parse_instant(as_of, "as_of")
        then = self.db.query(
            f"SELECT customer, to_stage AS stage, entered_at AS since, cycle FROM stage_history "
            f"WHERE customer = ? AND {STAY_AT} ORDER BY seq DESC LIMIT 1",
            [stored, self.db.dialect.instant(moment)])
        empty = {"customer": stored, "stage": None, "since": None, "cycle": None}
        return {**(then[0] if then else empty), "as_of": iso(moment)}

    def stage_history(self, reference: str) -> list[dict[str, Any]]:
        """Every stay in a stage, in the order the changes were recorded."""
        stored = self.stage(reference)["customer"]
        return self.db.query(
            "SELECT customer, seq, cycle, from_stage, to_stage, entered_at, left_at, "
            "duration_seconds, reason, reason_category, actor, contact_id FROM stage_history "
            "WHERE customer = ? ORDER BY seq", [stored])

    def contact_customer(self, contact_id: str) -> str:
        """The reference of the customer a contact id belongs to."""
        self.projector.catch_up(["archive"])
        rows = self.db.query("SELECT DISTINCT customer FROM archive_contacts "
                             "WHERE contact_id = ? ORDER BY customer", [contact_id])
        if not rows:
            raise ContactNotFound(contact_id)
        if len(rows) > 1:
            names = ", ".join(r["customer"] for r in rows)
            raise InvalidInput("contact_id", contact_id,
                               f"belongs to several customers ({names}); name one with --customer")
        return str(rows[0]["customer"])

    def report(self, name: str, window: Window | None = None) -> list[dict[str, Any]]:
        """A report's rows (projections/reports), its projections caught up first; the
        cadence items it counts follow the deployment's cadence settings."""
        from touchlog.projections.reports.catalogue import REPORTS, run

        report = REPORTS.get(name)
        if report is None:
            raise InvalidInput("report", name, f"expected one of {', '.join(REPORTS)}")
        self.projector.catch_up(list(report.projections))
        cadence = {stage.value: days for stage, days in self.log.settings.cadence_days.items()
                   if days}
        return run(self.db, report, replace(window or Window(), cadence=cadence))

    def lag(self) -> list[dict[str, Any]]:
        """How far behind the log's head each projection is (without catching up)."""
        return self.projector.status()

    def close(self) -> None:
        self.projector.close()


class _ArchiveAsOf:
    """The archive as it stood at a moment: the stage in force then, statistics of the live
    contacts (as known now) that had occurred by then, and their channels. Follow-ups
    carry no time they were scheduled at in the tables, so ``open_follow_ups`` is null.
    Customers whose relationship had not started are left out."""

    def __init__(self, db: ReportingDB, moment: datetime) -> None:
        self.db = db
        self.at = db.dialect.instant(moment)

    def records(self, reference: str | None) -> list[dict[str, Any]]:
        where, params = ("AND a.customer = ?", [reference]) if reference else ("", [])
        d, bought = self.db.dialect, purchase_of("k.")
        rows = self.db.query(
            "SELECT * FROM (SELECT a.customer AS customer, (SELECT h.to_stage FROM "
            f"stage_history h WHERE h.customer = a.customer AND h.{STAY_AT} "
            "ORDER BY h.seq DESC LIMIT 1) AS stage, count(k.contact_id) AS contacts, "
            "min(k.occurred_at) AS first_contact_at, max(k.occurred_at) AS last_contact_at, "
            f"count(CASE WHEN {bought} THEN 1 END) AS purchases, "
            f"coalesce({d.sum_amounts}, '0') AS total_amount, "
            f"max(CASE WHEN {bought} THEN k.occurred_at END) AS last_purchase_at, "
            f"{d.average_rating} AS average_rating, NULL AS open_follow_ups "
            "FROM archive_customers a LEFT JOIN archive_contacts k ON k.customer = a.customer "
            f"AND k.retracted = ? AND k.occurred_at <= ? WHERE 1 = 1 {where} "
            "GROUP BY a.customer) r WHERE stage IS NOT NULL ORDER BY customer",
            [self.at, False, self.at, *params])
        if reference and not rows and not self.db.query(
                "SELECT 1 FROM archive_customers WHERE customer = ?", [reference]):
            raise CustomerNotFound(reference)
        channels: dict[str, dict[str, int]] = {}
        for c in self.db.query(
                "SELECT customer, channel, count(*) AS contacts FROM archive_contacts "
                f"WHERE retracted = ? AND occurred_at <= ? {where.replace('a.', '')} "
                "GROUP BY customer, channel ORDER BY customer, channel",
                [False, self.at, *params]):
            channels.setdefault(c["customer"], {})[c["channel"]] = c["contacts"]
        return [_archive_record(row, channels.get(row["customer"], {})) for row in rows]


def _customer_attributes(db: ReportingDB, reference: str | None, declared: Declared
                         ) -> dict[str, dict[str, Any]]:
    """Each customer's attributes (or ``reference``'s): name -> value as events store it
    (an int attribute's value an int, by its declaration; text otherwise)."""
    where, params = ("WHERE customer = ?", [reference]) if reference else ("", [])
    held: dict[str, dict[str, Any]] = {}
    for row in db.query(f"SELECT customer, name, value FROM archive_customer_attributes "
                        f"{where} ORDER BY customer, name", params):
        spec, value = declared.get(row["name"]), row["value"]
        typed = int(value) if spec is not None and spec.type == "int" else value
        held.setdefault(row["customer"], {})[row["name"]] = typed
    return held


def _having(db: ReportingDB, table: str, attributes: dict[str, Any]) -> set[str]:
    """The customers with a row of ``table`` holding each attribute's stored value."""
    found: set[str] | None = None
    for name, value in attributes.items():
        rows = db.query(f"SELECT DISTINCT customer FROM {table} WHERE name = ? AND value = ?",
                        [name, value_texts(value)[0]])
        customers = {row["customer"] for row in rows}
        found = customers if found is None else found & customers
    return found or set()


def _archive_record(row: dict[str, Any], channels: dict[str, int]) -> dict[str, Any]:
    record = {k: row[k] for k in ARCHIVE_KEYS}
    record["channels"] = channels
    return {k: record[k] for k in (*ARCHIVE_KEYS[:5], "channels", *ARCHIVE_KEYS[5:])}


class _QueuePlan:
    """The follow-up queue's two SELECTs, scheduled items and cadence items.

    Every filter is in the WHERE clauses and each row comes out as the final record, so
    nothing is parsed or rebuilt in Python. A cadence item is due its stage's interval after
    the customer's last contact, so a bound on its due time is the same bound moved back by
    that interval on last_contact_at (due < T exactly when last contact < T - interval):
    each stage has its own bounds, picked with CASE, and each due time is computed once,
    for the output.
    """

    def __init__(self, dialect: Dialect, owner: str | None, moment: datetime, status: str,
                 within_days: int | None) -> None:
        self.dialect = dialect
        self.owner = owner
        self.moment = moment
        self.status = status
        # No bound when the horizon lies past the calendar's end: nothing is due after it.
        self.horizon = _plus(moment, within_days) if within_days is not None else None

    def scheduled(self) -> tuple[str, list[Any]]:
        """The open scheduled follow-ups: SQL and parameters."""
        params: list[Any] = [self.dialect.instant(self.moment)]
        where = ["i.status = 'open'"]
        if self.owner is not None:
            where.append("i.owner = ?")
            params.append(self.owner)
        if self.status != "all":
            where.append(f"i.due_at {'<' if self.status == 'overdue' else '>='} ?")
            params.append(self.dialect.instant(self.moment))
        if self.horizon is not None:  # overdue items are due before the horizon too
            where.append("i.due_at <= ?")
            params.append(self.dialect.instant(self.horizon))
        return ("SELECT i.customer AS customer, 'scheduled' AS kind, "
                "i.follow_up_id AS follow_up_id, i.due_at AS due_at, i.owner AS owner, "
                "i.purpose AS purpose, s.stage AS stage, "
                "CASE WHEN i.due_at < ? THEN 'overdue' ELSE 'upcoming' END AS status "
                f"FROM followup_items i {_STAGE_OF.format('i')} "
                f"WHERE {' AND '.join(where)}", params)

    def cadence(self, cadence: dict[str, int]) -> tuple[str, list[Any]] | None:
        """The cadence items (``cadence``: days per stage that has one): SQL and parameters,
        or None when no stage can have any."""
        stages = self._bounds(cadence)
        if not stages:
            return None
        # Parameters are added in the order their placeholders appear in the statement.
        params: list[Any] = []

        def per_stage(values: list[Any]) -> str:  # each stage's value, as parameters
            params.extend(values)
            return "CASE s.stage " + " ".join(f"WHEN '{s}' THEN ?" for s in stages) + " END"

        due = self.dialect.shifted(
            "last_contact_at", per_stage([self.dialect.days(b.days) for b in stages.values()]))
        purpose = per_stage([f"stay in touch ({s}: every {b.days} days)"
                             for s, b in stages.items()])
        overdue_before = [self.dialect.instant(b.overdue_before) for b in stages.values()]
        select = (f"SELECT f.customer AS customer, 'cadence' AS kind, NULL AS follow_up_id, "
                  f"{due} AS due_at, {CADENCE_OWNER} AS owner, {purpose} AS purpose, "
                  f"s.stage AS stage, CASE WHEN last_contact_at < {per_stage(overdue_before)} "
                  f"THEN 'overdue' ELSE 'upcoming' END AS status FROM archive_customers f "
                  f"{_STAGE_OF.format('f')} WHERE ")
        where = []
        if self.owner is not None:
            where.append(f"{CADENCE_OWNER} = ?")
            params.append(self.owner)
        # A stage without a cadence has no bound here (NULL), so its customers have no item.
        late = [self.dialect.instant(b.late) for b in stages.values()]
        where.append(f"last_contact_at < {per_stage(late)}")
        if self.status != "all":
            where.append(f"last_contact_at {'<' if self.status == 'overdue' else '>='} "
                         f"{per_stage(overdue_before)}")
        if self.horizon is not None:  # then every stage here has a horizon bound
            horizon = [self.dialect.instant(b.horizon or self.horizon) for b in stages.values()]
            where.append(f"last_contact_at <= {per_stage(horizon)}")
        return select + " AND ".join(where), params

    def _bounds(self, cadence: dict[str, int]) -> dict[str, _Bounds]:
        """Per stage that can have items: its days and bounds on last_contact_at."""
        stages = {}
        for stage, days in cadence.items():
            try:  # the first day whose contacts come due after 9999-12-31
                late = date.max - timedelta(days=days - 1)
            except OverflowError:  # every due time would be past the calendar
                continue
            horizon = None
            if self.horizon is not None:
                horizon = _plus(self.horizon, -days)
                if horizon is None:  # the horizon is before the first possible due time
                    continue
            stages[stage] = _Bounds(
                days, datetime(late.year, late.month, late.day, tzinfo=UTC),
                _plus(self.moment, -days) or _MIN, horizon)
        return stages


class _Bounds(NamedTuple):
    """A stage's cadence and the matching bounds on last_contact_at."""

    days: int
    late: datetime  # contacts from this instant on come due after 9999-12-31
    overdue_before: datetime  # a contact before this makes the item overdue now
    horizon: datetime | None  # a contact after this makes the item due past the horizon


def _plus(moment: datetime, days: int) -> datetime | None:
    """``moment`` moved by ``days``; None when that leaves the calendar (years 1 to 9999)."""
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return None
