"""The report summaries the archive keeps (report_channel_months, report_channel_customers,
report_cohort_months) and the stages projection keeps (report_stage_days,
report_funnel_starts, report_stay_durations, report_dissolution_days) against the contact
and stay rows they summarise.

On random histories applied a few events at a time, each summary but report_funnel_starts
and report_dissolution_days equals what SQL computes from ``archive_contacts`` or
``stage_history`` there and then, the reports read from the summaries (those two among
them) equal the same reports counted from the contact and stay rows, and a rebuild gives
the same summary rows.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.histories import play
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, ContactChanges
from touchlog.domain.settings import Settings
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector
from touchlog.projections.readmodels.summaries import ARCHIVE_SUMMARIES, STAGE_SUMMARIES
from touchlog.projections.reports.catalogue import REPORTS, run
from touchlog.projections.reports.frame import Window
from touchlog.projections.reports.report import AS_OF, CHANNEL

CHANNELS = ["phone", "email", "store"]
SUMMARIES = (*ARCHIVE_SUMMARIES, *STAGE_SUMMARIES)
SUMMARISED = ("channels", "cohorts", "dissolutions", "funnel", "satisfaction", "stages",
              "time-in-stage")
# Periods, a channel, and reading times within a day with stays entered and left (the
# history's times are 08:00, 09:00 and 10:00), at one of them, and before everything.
WINDOWS = (Window(), Window(since=date(2018, 1, 20)), Window(until=date(2018, 2, 10)),
           Window(since=date(2018, 2, 1), until=date(2018, 2, 1)), Window(channel="email"),
           Window(since=date(2018, 1, 1), until=date(2018, 2, 28)),
           Window(since=date(2018, 1, 10), until=date(2018, 3, 5)),
           Window(as_of=datetime(2018, 2, 10, 9, 30, tzinfo=UTC)),
           Window(as_of=datetime(2018, 1, 20, 9, tzinfo=UTC), since=date(2018, 1, 5)),
           Window(as_of=datetime(2017, 12, 31, tzinfo=UTC)))


def contact(day: int, channel: str, **fields: Any) -> Contact:
    month, day = divmod(day - 1, 28)
    return Contact(occurred_at=f"2018-{month + 1:02d}-{day + 1:02d}T{day % 3 + 8:02d}:00:00",
                   channel=channel, **fields)


OPS = st.lists(st.tuples(
    st.sampled_from(["log", "log", "amend", "retract", "stage", "catch_up", "merge"]),
    st.sampled_from(["A", "B", "C"]), st.integers(1, 84), st.sampled_from(CHANNELS),
    st.sampled_from([None, "12.50", "3", "0.125"]), st.booleans(),
), min_size=1, max_size=30)


def apply(log: TouchpointLog, projector: Projector, ids: dict[str, list[str]], op: str,
          ref: str, day: int, channel: str, amount: str | None, flag: bool) -> None:
    known = ids.get(ref, [])
    if op == "log":
        r = log.log_contact(ref, contact(
            day, channel, amount=amount, purchase=flag and amount is None,
            outcome=["positive", "neutral", "negative", None][day % 4],
            initiated_by=["company", "customer", "third_party"][day % 3],
            rating=[None, 1, 2, 3, 4, 5][day % 6],
            stage_signal="commitment" if day % 7 == 0 else None))
        ids.setdefault(ref, []).append(r.contact_id)
    elif op == "amend" and known:
        log.amend_contact(ref, known[day % len(known)], ContactChanges(
            occurred_at=contact(day, channel).occurred_at, channel=channel, amount=amount,
            purchase=flag, rating=day % 5 + 1))
    elif op == "retract" and known:
        log.retract_contact(ref, known[day % len(known)], "invalid")
    elif op == "stage":
        # to discovery again now and then: a customer with several discovery entries
        stage = "discovery" if day % 5 == 0 else "commitment" if flag else "dissolution"
        log.change_stage(ref, stage, "decided", "ann", at=contact(day, channel).occurred_at)
    elif op == "catch_up":
        projector.catch_up()
    elif op == "merge":  # refused (into itself, into one merged away, …) as often as not
        log.merge(ref, "ABC"[day % 3], "one customer", actor="ann")


# What each summary holds, computed by SQL from the contact or stay rows (SQLite), in key
# order.
RECOMPUTED = {
    "report_stage_days": (
        "WITH moves AS (SELECT substr(entered_at, 1, 10) AS day, to_stage AS stage, "
        "1 AS entries, 0 AS exits FROM stage_history UNION ALL "
        "SELECT substr(max(entered_at, left_at), 1, 10), to_stage, 0, 1 FROM stage_history "
        "WHERE left_at IS NOT NULL) SELECT day, stage, sum(entries) AS entries, "
        "sum(exits) AS exits FROM moves GROUP BY day, stage ORDER BY day, stage"),
    "report_stay_durations": (
        "SELECT to_stage AS stage, CASE WHEN duration_seconds = 0 THEN 0 "
        "WHEN duration_seconds < 86400 THEN 1 ELSE duration_seconds / 86400 * 86400 END "
        "AS from_seconds, "
        "count(*) AS stays FROM stage_history WHERE left_at IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY 1, 2"),
    "report_channel_customers": (
        "SELECT channel, count(DISTINCT customer) AS customers FROM archive_contacts "
        "WHERE NOT retracted GROUP BY channel ORDER BY channel"),
    "report_cohort_months": (
        "WITH live AS (SELECT customer, substr(occurred_at, 1, 7) AS month "
        "FROM archive_contacts WHERE NOT retracted), firsts AS (SELECT customer, "
        "min(month) AS cohort FROM live GROUP BY customer) SELECT f.cohort, l.month, "
        "count(DISTINCT l.customer) AS active FROM firsts f JOIN live l "
        "ON l.customer = f.customer GROUP BY f.cohort, l.month ORDER BY f.cohort, l.month"),
    "report_channel_months": (
        "SELECT substr(occurred_at, 1, 7) AS month, channel, "
        "sum(NOT retracted) AS contacts, sum(retracted) AS retracted, "
        "sum(NOT retracted AND deliberate) AS deliberate, "
        "sum(NOT retracted AND (purchase OR amount IS NOT NULL)) AS purchases, "
        "dsum(CASE WHEN NOT retracted THEN amount END) AS revenue, "
        "count(CASE WHEN NOT retracted THEN rating END) AS ratings, "
        "coalesce(sum(CASE WHEN NOT retracted THEN rating END), 0) AS rating_sum, "
        "count(CASE WHEN NOT retracted AND rating >= 4 THEN 1 END) AS ratings_4_5, "
        "count(CASE WHEN NOT retracted AND rating <= 2 THEN 1 END) AS ratings_1_2 "
        "FROM archive_contacts GROUP BY 1, 2 ORDER BY 1, 2"),
}


def summaries_equal_their_recomputation(db: ReportingDB) -> None:
    """The columns RECOMPUTED names; the purchases' columns of report_channel_months (in rows
    of their own where no contact was that day) are checked through the channels report."""
    for name, sql in RECOMPUTED.items():
        recomputed = db.query(sql)
        columns = ", ".join(recomputed[0]) if recomputed else "*"
        where = " WHERE contacts + retracted > 0" if name == "report_channel_months" else ""
        kept = db.query(f"SELECT {columns} FROM {name}{where} ORDER BY 1, 2")
        for row in (*kept, *recomputed):
            if "revenue" in row:
                row["revenue"] = Decimal(row["revenue"] or "0")
        assert kept == recomputed, name


def reports_equal_their_detail_form(db: ReportingDB) -> None:
    for name in SUMMARISED:
        for window in WINDOWS:
            options = REPORTS[name].options
            if window.channel and CHANNEL not in options or (
                    window.as_of and AS_OF not in options):
                continue  # an option the report does not take
            detail = Window(**{**window.__dict__, "from_summaries": False})
            assert run(db, REPORTS[name], window) == run(db, REPORTS[name], detail), (
                name, window)


# A customer in discovery again (01-20 and 01-25, after dissolving): from 01-20 on, the
# funnel counts it once, from its entry that day. C and D are in discovery for no time
# (their first contacts signal commitment), half the closed discovery stays: its median.
AGAIN = [("log", "A", 3, "phone", None, False), ("stage", "A", 11, "phone", None, False),
         ("stage", "A", 20, "phone", None, False), ("stage", "A", 22, "phone", None, False),
         ("catch_up", "A", 1, "phone", None, False), ("stage", "A", 25, "phone", None, False),
         ("log", "B", 23, "email", None, False), ("log", "C", 7, "email", None, False),
         ("log", "D", 14, "email", None, False)]


# The rating of E's last contact before it dissolved (01-06) amended in a later batch.
AMENDED = [("log", "E", 2, "phone", None, False), ("stage", "E", 6, "phone", None, False),
           ("catch_up", "E", 1, "phone", None, False), ("amend", "E", 3, "phone", None, False)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
@example(AGAIN)
@example(AMENDED)
def test_summaries_equal_the_contact_rows_they_summarise_and_rebuild_equals_incremental(
        ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with TouchpointLog(Settings(db=str(Path(tmp) / "t.db"))) as log:
            projector = Projector(log, batch_size=3)
            play(apply, log, projector, ops)
            summaries_equal_their_recomputation(projector.db)
            reports_equal_their_detail_form(projector.db)
            incremental = projector.snapshot()
            projector.rebuild()
            rebuilt = projector.snapshot()
            assert {t.name: rebuilt[t.name] for t in SUMMARIES} == {
                t.name: incremental[t.name] for t in SUMMARIES}
            projector.close()


def test_a_customer_in_discovery_again_is_counted_once_from_its_first_entry_in_the_period(
        ) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with TouchpointLog(Settings(db=str(Path(tmp) / "t.db"))) as log:
            projector = Projector(log, batch_size=3)
            play(apply, log, projector, AGAIN)
            stays = projector.db.query("SELECT to_stage, entered_at FROM stage_history "
                                       "WHERE customer = 'A' ORDER BY seq")
            assert [(s["to_stage"], s["entered_at"][:10]) for s in stays] == [
                ("discovery", "2018-01-03"), ("dissolution", "2018-01-11"),
                ("discovery", "2018-01-20"), ("dissolution", "2018-01-22"),
                ("discovery", "2018-01-25")]
            since = Window(since=date(2018, 1, 20))
            for window in (since, replace(since, from_summaries=False)):
                # A from 01-20 (dissolved once from discovery, won back), B from 01-23.
                assert [(r["stage"], r["customers"], r["dissolved"], r["won_back"])
                        for r in run(projector.db, REPORTS["funnel"], window)] == [
                    ("discovery", 2, 1, 1), ("exploration", 0, 0, 0),
                    ("expansion", 0, 0, 0), ("commitment", 0, 0, 0)]
            projector.close()
