"""The follow-ups report: per owner, how the follow-ups due in the period went, and what is
overdue at the reading time, cadence items included (as ``touchlog followups`` judges them)."""

from __future__ import annotations

from touchlog.projections.engine.schema import CADENCE_OWNER
from touchlog.projections.reports.frame import Frame, count_where
from touchlog.projections.reports.report import AS_OF, OWNER, PERIOD, Report
from touchlog.projections.reports.stays import CURRENT_STAGES


def _counted(condition: str) -> str:
    return f"CAST({count_where(condition)} AS INTEGER)"


def followups(f: Frame) -> str:
    """Scheduled follow-ups due in the period, per owner: how many, completed on time (by
    their due time) or late, cancelled, still open, and open and overdue at the reading
    time; and the cadence items overdue then: a customer whose stage has a cadence and
    whose last live contact is more than that many days before the reading time."""
    d = f.d
    owner = "i.owner = :owner" if "owner" in f.params else "1 = 1"
    cadence_owner = f"{CADENCE_OWNER} = :owner" if "owner" in f.params else "1 = 1"
    # A customer is overdue when its last live contact is more than its stage's cadence
    # before the reading time: before the reading time less that many days (computed once
    # per stage, not once per customer), as the queue's cadence items say (queries/reads.py).
    overdue_before = ("CASE s.stage " + " ".join(
        f"WHEN '{stage}' THEN {d.shifted(f.as_of, d.days_literal(-n))}"
        for stage, n in sorted(f.w.cadence.items())) + " END") if f.w.cadence else "NULL"
    return (
        f"WITH {CURRENT_STAGES}, "
        "items AS (SELECT i.owner, "
        f"{_counted('1 = 1')} AS scheduled, "
        f"{_counted(_status('completed') + ' AND i.closed_at <= i.due_at')} AS on_time, "
        f"{_counted(_status('completed') + ' AND i.closed_at > i.due_at')} AS late, "
        f"{_counted(_status('cancelled'))} AS cancelled, "
        f"{_counted(_status('open'))} AS still_open, "
        f"{_counted(_status('open') + f' AND i.due_at < {f.as_of}')} AS overdue "
        f"FROM followup_items i WHERE {f.period('i.due_at')} AND {owner} GROUP BY i.owner), "
        f"cadence AS (SELECT {CADENCE_OWNER} AS owner, count(*) AS overdue "
        "FROM archive_customers c JOIN current_stages s ON s.customer = c.customer "
        f"WHERE c.last_contact_at < {overdue_before} AND {cadence_owner} "
        f"GROUP BY {CADENCE_OWNER}), "
        # each owner's row sums its items and its cadence count (grouping puts the null
        # owner in one row, as IS NOT DISTINCT FROM would), rather than joining each owner
        # to the other list: a scan of it per owner
        "per_owner AS (SELECT owner, scheduled, on_time, late, cancelled, still_open, "
        "overdue, 0 AS cadence_overdue FROM items UNION ALL "
        "SELECT owner, 0, 0, 0, 0, 0, 0, overdue FROM cadence) "
        "SELECT owner, CAST(sum(scheduled) AS INTEGER) AS scheduled, "
        "CAST(sum(on_time) AS INTEGER) AS completed_on_time, "
        "CAST(sum(late) AS INTEGER) AS completed_late, "
        "CAST(sum(cancelled) AS INTEGER) AS cancelled, "
        "CAST(sum(still_open) AS INTEGER) AS open, CAST(sum(overdue) AS INTEGER) AS overdue, "
        "CAST(sum(cadence_overdue) AS INTEGER) AS cadence_overdue FROM per_owner "
        f"GROUP BY owner ORDER BY owner{d.collate('text')} NULLS LAST")


def _status(status: str) -> str:
    return f"i.status = '{status}'"


REPORTS = (
    Report("followups", "Follow-ups per owner", (
        ("owner", "text"), ("scheduled", "int"), ("completed_on_time", "int"),
        ("completed_late", "int"), ("cancelled", "int"), ("open", "int"), ("overdue", "int"),
        ("cadence_overdue", "int")),
        followups, frozenset({PERIOD, AS_OF, OWNER}), ("stages", "followups", "archive")),
)
