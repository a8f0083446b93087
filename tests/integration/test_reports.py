"""Every report against numbers worked out by hand from a small history, on both databases.

The history (2024, a leap year; read at 2024-07-01 00:00 UTC):

- ACME (owner ann), registered 01-01: a1 01-11 phone positive 5 signals exploration;
  a2 01-21 email begun by the customer, neutral 4; a3 02-01 store positive 100.00 signals
  expansion; a4 03-02 phone 3 50.50 signals commitment.
- GLOBEX (bob), registered 01-15: b1 01-20 web positive 2 signals exploration; b2 02-10
  phone negative 1 signals dissolution (competition); b3 04-10 store 200.00 signals
  exploration (won back).
- INITECH (ann), registered 02-05: c1 02-05 12:00 random, begun by the customer; c2 02-20
  phone positive 4 10.00; c3 03-01 phone 999.00, retracted; set to dissolution 05-05,
  "moved away" (moved_away).
- HOOLI (no owner: dana, its last contact's actor), registered 03-10: d1 03-15 chat begun
  by a third party, positive 5, signals exploration.

Follow-ups: ACME f-a1 due 02-15 done 02-10, f-a2 due 03-01 done 03-05; GLOBEX f-b1 due
05-01 open; INITECH f-c1 due 08-01 open, f-c2 due 04-01 cancelled. The stays, in days:
ACME discovery 10, exploration 21, expansion 30, commitment from 03-02 (121 by 07-01);
GLOBEX discovery 5, exploration 21, dissolution 60, exploration from 04-10 (82);
INITECH discovery 90, dissolution from 05-05 (57); HOOLI discovery 5, exploration from
03-15 (108). Each expected number below is worked out in a comment beside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings
from touchlog.projections.engine.schema import PROJECTION_TABLES
from touchlog.projections.reports.catalogue import REPORTS
from touchlog.projections.reports.report import AS_OF as AS_OF_OPTION

AS_OF = "2024-07-01T00:00"


def contact(at: str, channel: str, cid: str, actor: str, **card: Any) -> Contact:
    return Contact(occurred_at=f"2024-{at}", channel=channel, contact_id=cid, actor=actor,
                   **card)


def record(log: TouchpointLog, step: int | None = None) -> None:
    """The history, in the order it happened; only its ``step``-th part when given, so a
    test can record it in parts."""
    steps = [
        lambda: [log.register(ref, at=f"2024-{day}") for ref, day in (
            ("ACME", "01-01"), ("GLOBEX", "01-15"), ("INITECH", "02-05"), ("HOOLI", "03-10"))],
        lambda: [log.update_profile(ref, {"owner": owner})
                 for ref, owner in (("ACME", "ann"), ("GLOBEX", "bob"), ("INITECH", "ann"))],
        lambda: [log.log_contact(ref, c) for ref, c in (
            ("ACME", contact("01-11", "phone", "a1", "ann", outcome="positive", rating=5,
                             stage_signal="exploration")),
            ("GLOBEX", contact("01-20", "web", "b1", "bob", outcome="positive", rating=2,
                               stage_signal="exploration")),
            ("ACME", contact("01-21", "email", "a2", "ann", initiated_by="customer",
                             outcome="neutral", rating=4)),
            ("ACME", contact("02-01", "store", "a3", "ann", outcome="positive",
                             amount="100.00", stage_signal="expansion")),
            ("INITECH", contact("02-05T12:00", "random", "c1", "ann",
                                initiated_by="customer")),
            ("GLOBEX", contact("02-10", "phone", "b2", "bob", outcome="negative", rating=1,
                               stage_signal="dissolution", reason_category="competition")),
            ("INITECH", contact("02-20", "phone", "c2", "ann", outcome="positive", rating=4,
                                amount="10.00")),
            ("INITECH", contact("03-01", "phone", "c3", "ann", outcome="positive",
                                amount="999.00")),
            ("ACME", contact("03-02", "phone", "a4", "ann", rating=3, amount="50.50",
                             stage_signal="commitment")),
            ("HOOLI", contact("03-15", "chat", "d1", "dana", initiated_by="third_party",
                              outcome="positive", rating=5, stage_signal="exploration")),
            ("GLOBEX", contact("04-10", "store", "b3", "bob", amount="200.00",
                               stage_signal="exploration")))],
        lambda: log.retract_contact("INITECH", "c3", "logged for the wrong customer"),
        lambda: log.change_stage("INITECH", "dissolution", "moved away", "ann",
                                 at="2024-05-05", reason_category="moved_away"),
        lambda: [log.schedule_follow_up(ref, FollowUpPlan(
            due_at=f"2024-{due}", owner=owner, follow_up_id=fid), at="2024-01-20")
            for ref, fid, due, owner in (
            ("ACME", "f-a1", "02-15", "ann"), ("ACME", "f-a2", "03-01", "ann"),
            ("GLOBEX", "f-b1", "05-01", "bob"), ("INITECH", "f-c1", "08-01", "ann"),
            ("INITECH", "f-c2", "04-01", "ann"))],
        lambda: (log.complete_follow_up("ACME", "f-a1", at="2024-02-10"),
                 log.complete_follow_up("ACME", "f-a2", at="2024-03-05"),
                 log.cancel_follow_up("INITECH", "f-c2", "no longer needed")),
    ]
    for part in steps if step is None else steps[step:step + 1]:
        part()


STEPS = 8


@pytest.fixture
def history(db_url: str) -> Iterator[str]:
    with TouchpointLog(Settings(db=db_url)) as log:
        record(log)
    yield db_url


def report(db: str, name: str, *options: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["--db", db, "report", name, "--format", "json",
                                      *options])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def at(db: str, name: str, *options: str) -> list[dict[str, Any]]:
    return report(db, name, "--as-of", AS_OF, *options)


def table(rows: list[dict[str, Any]], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(row[c] for c in columns) for row in rows]


STAGES = ("discovery", "exploration", "expansion", "commitment", "dissolution")


def test_stages_counts_entries_per_month_and_customers_at_each_months_end(history: str) -> None:
    rows = at(history, "stages")
    per_month = {(r["period"], r["stage"]): (r["entries"], r["customers"]) for r in rows}
    assert sorted({r["period"] for r in rows}) == [f"2024-0{m}" for m in range(1, 8)]
    expected = {  # (entries, customers at the month's end), stages in STAGES order
        # Jan: ACME, GLOBEX registered and explored; both in exploration on 02-01 00:00
        # (ACME leaves it at that instant, which is the next month's)
        "2024-01": [(2, 0), (2, 2), (0, 0), (0, 0), (0, 0)],
        # Feb: INITECH registered, ACME expanded, GLOBEX dissolved
        "2024-02": [(1, 1), (0, 0), (1, 1), (0, 0), (1, 1)],
        # Mar: ACME committed, HOOLI registered and explored
        "2024-03": [(1, 1), (1, 1), (0, 0), (1, 1), (0, 1)],
        # Apr: GLOBEX won back (exploration)
        "2024-04": [(0, 1), (1, 2), (0, 0), (0, 1), (0, 0)],
        # May: INITECH dissolved
        "2024-05": [(0, 0), (0, 2), (0, 0), (0, 1), (1, 1)],
        "2024-06": [(0, 0), (0, 2), (0, 0), (0, 1), (0, 1)],
        "2024-07": [(0, 0), (0, 2), (0, 0), (0, 1), (0, 1)],
    }
    assert {month: [per_month[(month, s)] for s in STAGES] for month in expected} == expected


def test_stages_as_of_a_day_and_for_a_period(history: str) -> None:
    # As of the end of 02-15: ACME expansion, GLOBEX dissolution, INITECH discovery.
    rows = report(history, "stages", "--as-of", "2024-02-15")
    assert table(rows, "period", "stage", "entries", "customers")[-5:] == [
        ("2024-02", "discovery", 1, 1), ("2024-02", "exploration", 0, 0),
        ("2024-02", "expansion", 1, 1), ("2024-02", "commitment", 0, 0),
        ("2024-02", "dissolution", 1, 1)]
    rows = at(history, "stages", "--since", "2024-03-01", "--until", "2024-04-30")
    assert [(r["period"], r["entries"], r["customers"]) for r in rows
            if r["stage"] == "exploration"] == [("2024-03", 1, 1), ("2024-04", 1, 2)]
    assert {r["period"] for r in rows} == {"2024-03", "2024-04"}


def test_funnel_follows_the_customers_who_entered_discovery(history: str) -> None:
    # All four entered discovery; reached at least: exploration ACME, GLOBEX, HOOLI;
    # expansion and commitment ACME. GLOBEX dissolved from exploration (won back 04-10),
    # INITECH from discovery.
    assert table(at(history, "funnel"), "stage", "customers", "conversion", "cumulative",
                 "dissolved", "won_back") == [
        ("discovery", 4, None, 1.0, 1, 0), ("exploration", 3, 0.75, 0.75, 1, 1),
        ("expansion", 1, 0.3333, 0.25, 0, 0), ("commitment", 1, 1.0, 0.25, 0, 0)]
    # Entered discovery in Feb-Mar: INITECH (dissolved from discovery) and HOOLI.
    assert table(at(history, "funnel", "--since", "2024-02-01", "--until", "2024-03-31"),
                 "stage", "customers", "conversion", "cumulative", "dissolved") == [
        ("discovery", 2, None, 1.0, 1), ("exploration", 1, 0.5, 0.5, 0),
        ("expansion", 0, 0.0, 0.0, 0), ("commitment", 0, None, 0.0, 0)]
    # ann's customers: ACME and INITECH.
    assert table(at(history, "funnel", "--owner", "ann"), "stage", "customers") == [
        ("discovery", 2), ("exploration", 1), ("expansion", 1), ("commitment", 1)]


def test_time_in_stage_gives_nearest_rank_median_and_p90_of_closed_stays(history: str) -> None:
    assert table(at(history, "time-in-stage"), "stage", "stays", "open_stays", "median_days",
                 "p90_days", "longest_days", "longest_open_days") == [
        ("discovery", 4, 0, 5.0, 90.0, 90.0, None),  # 5, 5, 10, 90: ranks 2 and 4
        ("exploration", 4, 2, 21.0, 21.0, 21.0, 108.0),  # 21, 21; open 82 and 108
        ("expansion", 1, 0, 30.0, 30.0, 30.0, None),
        ("commitment", 1, 1, None, None, None, 121.0),
        ("dissolution", 2, 1, 60.0, 60.0, 60.0, 57.0)]
    per_owner = at(history, "time-in-stage", "--per-owner")
    assert table([r for r in per_owner if r["owner"] == "ann"], "stage", "stays",
                 "median_days", "p90_days") == [
        ("discovery", 2, 10.0, 90.0), ("exploration", 1, 21.0, 21.0),
        ("expansion", 1, 30.0, 30.0), ("commitment", 1, None, None),
        ("dissolution", 1, None, None)]
    assert {r["owner"] for r in per_owner} == {"ann", "bob", "dana"}


def test_rfm_scores_customers_in_quintiles_and_names_their_segments(history: str) -> None:
    # recency (days to 07-01): INITECH 132, ACME 121, HOOLI 108, GLOBEX 82 -> R 1, 2, 3, 4;
    # frequency HOOLI 1, INITECH 2, GLOBEX 3, ACME 4 -> F 1..4; monetary HOOLI 0,
    # INITECH 10, ACME 150.50, GLOBEX 200 -> M 1..4 (score 1 + 5 (rank - 1) // 4).
    assert table(at(history, "rfm-customers"), "customer", "recency_days", "frequency",
                 "monetary", "r", "f", "m", "fm", "segment") == [
        ("ACME", 121, 4, 150.5, 2, 4, 3, 4, "At risk"),
        ("GLOBEX", 82, 3, 200.0, 4, 3, 4, 4, "Champions"),
        ("HOOLI", 108, 1, 0.0, 3, 1, 1, 1, "Hibernating"),
        ("INITECH", 132, 2, 10.0, 1, 2, 2, 2, "Lost")]
    assert table(at(history, "rfm"), "segment", "customers", "share", "revenue",
                 "mean_recency_days", "mean_frequency") == [
        ("Champions", 1, 0.25, 200.0, 82.0, 3.0), ("Loyal", 0, 0.0, 0.0, None, None),
        ("Potential", 0, 0.0, 0.0, None, None), ("New", 0, 0.0, 0.0, None, None),
        ("Cannot lose", 0, 0.0, 0.0, None, None), ("At risk", 1, 0.25, 150.5, 121.0, 4.0),
        ("Hibernating", 1, 0.25, 0.0, 108.0, 1.0), ("Lost", 1, 0.25, 10.0, 132.0, 2.0)]
    assert [r["customer"] for r in at(history, "rfm-customers", "--owner", "ann")] == [
        "ACME", "INITECH"]  # scored among all customers, then filtered
    # By the end of 02-15 (every customer has contacts after it): ACME a1-a3, last 02-01,
    # 100.00; GLOBEX b1-b2, last 02-10; INITECH c1, last 02-05 12:00; HOOLI none yet.
    # R: ACME 14 days, INITECH 10, GLOBEX 5 -> 1, 2, 4 (1 + 5 (rank - 1) // 3); F: 1 INITECH,
    # 2 GLOBEX, 4 ACME; M: GLOBEX and INITECH tie at 0 (both 1), ACME 4.
    assert table(report(history, "rfm-customers", "--as-of", "2024-02-15"), "customer",
                 "recency_days", "frequency", "monetary", "r", "f", "m", "fm", "segment") == [
        ("ACME", 14, 3, 100.0, 1, 4, 4, 4, "At risk"),
        ("GLOBEX", 5, 2, 0.0, 4, 2, 1, 2, "Potential"),
        ("INITECH", 10, 1, 0.0, 2, 1, 1, 1, "Hibernating")]


def test_channels_analyse_contacts_purchases_after_them_and_attribution(history: str) -> None:
    rows = {r["channel"]: r for r in report(history, "channels")}
    assert list(rows) == ["chat", "email", "phone", "random", "store", "web"]
    phone = rows["phone"]  # a1, a4, b2, c2 live; c3 retracted
    assert (phone["contacts"], phone["customers"], phone["retracted_share"]) == (4, 3, 0.2)
    assert (phone["deliberate_share"], phone["hard_share"], phone["soft_share"],
            phone["company_share"]) == (1.0, 0.0, 1.0, 1.0)
    assert (phone["positive_rate"], phone["neutral_rate"], phone["negative_rate"]) == (
        0.6667, 0.0, 0.3333)  # of a1, b2, c2 (a4 has no outcome)
    assert (phone["purchases"], phone["revenue"]) == (2, 60.5)
    assert (rows["random"]["spontaneous_share"], rows["random"]["customer_share"],
            rows["random"]["positive_rate"]) == (1.0, 1.0, None)
    assert (rows["email"]["hard_share"], rows["chat"]["third_party_share"]) == (1.0, 1.0)
    # Within 30 days after: a3 (100) after a1 phone and a2 email; a4 (50.50) after a3
    # store, exactly 30 days; c2 (10) after c1 random; b3 has no contact in the 30 days.
    assert {c: (r["purchases_after"], r["revenue_after"]) for c, r in rows.items()} == {
        "chat": (0, 0.0), "email": (1, 100.0), "phone": (1, 100.0), "random": (1, 10.0),
        "store": (1, 50.5), "web": (0, 0.0)}
    # First touches: a3, a4 and the commitment (03-02) ACME's a1 phone, b3 b1 web, c2 c1
    # random; last touches (before the purchase itself): a3 a2 email, a4 a3 store, b3 b2
    # phone, c2 c1 random; the commitment's its signal a4 phone.
    assert {c: (r["first_touch_purchases"], r["last_touch_purchases"],
                r["first_touch_commitments"], r["last_touch_commitments"])
            for c, r in rows.items()} == {
        "chat": (0, 0, 0, 0), "email": (0, 1, 0, 0), "phone": (2, 1, 1, 1),
        "random": (1, 1, 0, 0), "store": (0, 1, 0, 0), "web": (1, 0, 0, 0)}
    only = report(history, "channels", "--channel", "store", "--within", "0")
    assert [(r["channel"], r["purchases_after"]) for r in only] == [("store", 0)]


def test_dissolutions_by_reason_and_stage_left_with_win_backs_and_the_last_rating(
        history: str) -> None:
    # INITECH: 90 days from its start, last live contact c2 rated 4 (c3 is retracted);
    # GLOBEX: 26 days from 01-15, won back 60 days later, last contact b2 rated 1.
    assert table(at(history, "dissolutions"), "reason", "from_stage", "dissolutions",
                 "mean_days_to_dissolution", "won_back", "mean_days_to_win_back",
                 "last_contact_rated", "last_contact_rating_mean") == [
        ("competition", "exploration", 1, 26.0, 1, 60.0, 1, 1.0),
        ("moved_away", "discovery", 1, 90.0, 0, None, 1, 4.0)]
    assert [r["reason"] for r in at(history, "dissolutions", "--until", "2024-03-31")] == [
        "competition"]


def test_stage_reports_read_at_a_time_before_later_stays(history: str) -> None:
    """At 02-15 00:00 the summaries (which count every stay) hold stays that began or
    ended later: ACME's commitment (03-02), GLOBEX's win-back (04-10), INITECH's dissolution
    (05-05), HOOLI (03-10)."""
    # Entered discovery by then: ACME (furthest expansion, 02-01), GLOBEX (exploration,
    # dissolved from it 02-10, not yet back), INITECH (discovery).
    assert table(report(history, "funnel", "--as-of", "2024-02-15T00:00"), "stage", "customers",
                 "dissolved", "won_back") == [
        ("discovery", 3, 0, 0), ("exploration", 2, 1, 0), ("expansion", 1, 0, 0),
        ("commitment", 0, 0, 0)]
    # discovery: ACME 10 and GLOBEX 5 days closed, INITECH open since 02-05; exploration:
    # 21 and 21; expansion: ACME open since 02-01; dissolution: GLOBEX open since 02-10.
    assert table(report(history, "time-in-stage", "--as-of", "2024-02-15T00:00"), "stage", "stays",
                 "open_stays", "median_days", "p90_days", "longest_days",
                 "longest_open_days") == [
        ("discovery", 3, 1, 5.0, 10.0, 10.0, 10.0), ("exploration", 2, 0, 21.0, 21.0, 21.0, None),
        ("expansion", 1, 1, None, None, None, 14.0), ("commitment", 0, 0, None, None, None, None),
        ("dissolution", 1, 1, None, None, None, 5.0)]
    # GLOBEX only: 5 + 21 days from its start, not yet won back, b2 rated 1.
    assert table(report(history, "dissolutions", "--as-of", "2024-02-15T00:00"), "reason",
                 "from_stage", "dissolutions", "mean_days_to_dissolution", "won_back",
                 "mean_days_to_win_back", "last_contact_rated", "last_contact_rating_mean") == [
        ("competition", "exploration", 1, 26.0, 0, None, 1, 1.0)]


def test_satisfaction_per_month_and_channel_with_the_months_total(history: str) -> None:
    assert table(report(history, "satisfaction"), "period", "channel", "ratings", "mean",
                 "share_4_5", "share_1_2") == [
        ("2024-01", "email", 1, 4.0, 1.0, 0.0), ("2024-01", "phone", 1, 5.0, 1.0, 0.0),
        ("2024-01", "web", 1, 2.0, 0.0, 1.0), ("2024-01", None, 3, 3.67, 0.6667, 0.3333),
        ("2024-02", "phone", 2, 2.5, 0.5, 0.5), ("2024-02", None, 2, 2.5, 0.5, 0.5),
        ("2024-03", "chat", 1, 5.0, 1.0, 0.0), ("2024-03", "phone", 1, 3.0, 0.0, 0.0),
        ("2024-03", None, 2, 4.0, 0.5, 0.0)]
    assert table(report(history, "satisfaction", "--channel", "phone", "--since",
                        "2024-02-01"), "period", "channel", "ratings") == [
        ("2024-02", "phone", 2), ("2024-02", None, 2), ("2024-03", "phone", 1),
        ("2024-03", None, 1)]
    # January's and March's days in the period from the contacts, February (a whole
    # month) from the archive's summary
    assert table(report(history, "satisfaction", "--since", "2024-01-15", "--until",
                        "2024-03-10"), "period", "channel", "ratings", "mean") == [
        ("2024-01", "email", 1, 4.0), ("2024-01", "web", 1, 2.0), ("2024-01", None, 2, 3.0),
        ("2024-02", "phone", 2, 2.5), ("2024-02", None, 2, 2.5), ("2024-03", "phone", 1, 3.0),
        ("2024-03", None, 1, 3.0)]


def test_cohorts_by_month_of_first_contact_and_share_active_later(history: str) -> None:
    assert table(report(history, "cohorts"), "cohort", "months_after", "customers",
                 "active", "share") == [
        ("2024-01", 0, 2, 2, 1.0), ("2024-01", 1, 2, 2, 1.0), ("2024-01", 2, 2, 1, 0.5),
        ("2024-01", 3, 2, 1, 0.5), ("2024-02", 0, 1, 1, 1.0), ("2024-02", 1, 1, 0, 0.0),
        ("2024-02", 2, 1, 0, 0.0), ("2024-03", 0, 1, 1, 1.0), ("2024-03", 1, 1, 0, 0.0)]


def test_followups_per_owner_with_the_cadence_items_overdue(history: str) -> None:
    rows = at(history, "followups")
    assert table(rows, "owner", "scheduled", "completed_on_time", "completed_late",
                 "cancelled", "open", "overdue", "cadence_overdue") == [
        ("ann", 4, 1, 1, 1, 1, 0, 1), ("bob", 1, 0, 0, 0, 1, 1, 1), ("dana", 0, 0, 0, 0, 0, 0, 1)]
    queue = CliRunner().invoke(cli, ["--db", history, "followups", "--as-of", AS_OF,
                                     "--status", "overdue", "--format", "json"])
    cadence = [i["owner"] for i in json.loads(queue.stdout) if i["kind"] == "cadence"]
    assert sorted(cadence) == [r["owner"] for r in rows]  # as the queue judges them


@pytest.mark.parametrize(("moment", "dana"), [("2024-03-22T00:00:00", 0),
                                               ("2024-03-22T00:00:01", 1)])
def test_a_cadence_item_is_overdue_from_the_instant_after_it_falls_due(
        history: str, moment: str, dana: int) -> None:
    # The cadence items are those of the customers as they stand (stage, last live
    # contact), judged at the reading time. HOOLI (dana) is in exploration (a 7-day
    # cadence) and its last contact is d1, 03-15 00:00: its item falls due 03-22 00:00 and
    # is overdue only after that. ACME (ann) is in commitment (30 days) since a4, 03-02: due
    # 04-01; INITECH is in dissolution, which has no cadence; GLOBEX's (bob) last contact
    # is b3, 04-10.
    rows = report(history, "followups", "--as-of", moment)
    assert {r["owner"]: r["cadence_overdue"] for r in rows} == {
        "ann": 0, "bob": 0, **({"dana": 1} if dana else {})}
    queue = CliRunner().invoke(cli, ["--db", history, "followups", "--as-of", moment,
                                     "--status", "overdue", "--format", "json"])
    assert sorted(i["owner"] for i in json.loads(queue.stdout) if i["kind"] == "cadence") \
        == (["dana"] if dana else [])  # as the queue judges them


def test_options_a_report_does_not_take_are_refused_by_name(history: str) -> None:
    result = CliRunner().invoke(cli, ["--db", history, "report", "rfm", "--since",
                                      "2024-01-01"])
    assert result.exit_code == 1 and "--since does not apply to the rfm report" in result.stderr
    result = CliRunner().invoke(cli, ["--db", history, "report", "funnel", "--until",
                                      "2024-01-01T10:00"])
    assert result.exit_code == 1 and "expected a whole day" in result.stderr


def read_all(db: str) -> dict[str, list[dict[str, Any]]]:
    return {name: (at if AS_OF_OPTION in chosen.options else report)(db, name)
            for name, chosen in REPORTS.items()}


def test_reports_are_the_same_applied_in_parts_and_rebuilt(db_url: str) -> None:
    """Reports follow from the log: applied part by part as it was recorded, or rebuilt
    from the whole log, the numbers are the same."""
    with TouchpointLog(Settings(db=db_url)) as log:
        for step in range(STEPS):
            record(log, step)
            caught_up = CliRunner().invoke(cli, ["--db", db_url, "projections", "run"])
            assert caught_up.exit_code == 0, caught_up.output
    incremental = read_all(db_url)
    rebuilt = CliRunner().invoke(cli, ["--db", db_url, "projections", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert read_all(db_url) == incremental
    assert incremental["funnel"][0]["customers"] == 4


def test_every_table_a_report_reads_is_a_projection_table_verify_compares() -> None:
    from touchlog.projections.engine.sqlite import SQLiteReporting
    from touchlog.projections.reports.frame import Frame, Window

    compared = {t.name for tables in PROJECTION_TABLES.values() for t in tables}
    for name, chosen in REPORTS.items():
        sql = chosen.select(Frame(SQLiteReporting(), Window(), view=True))
        read = set(re.findall(r"(?<!DISTINCT )(?:FROM|JOIN) (\w+)", sql)) - set(
            re.findall(r"(\w+)(?:\([a-z_, ]+\))? AS (?:NOT )?(?:MATERIALIZED )?\(", sql))
        assert read and read <= compared, (name, read - compared)


def test_each_reports_view_gives_what_the_report_gives_without_options(history: str) -> None:
    from touchlog.projections.engine.reporting_db import ReportingDB

    given = {name: report(history, name) for name in REPORTS}  # read now, as the views are
    db = ReportingDB(history)
    try:
        for name, chosen in REPORTS.items():
            viewed = db.query(f"SELECT * FROM {chosen.view}")
            assert viewed == given[name], name
            assert list(viewed[0]) == chosen.column_names, name
    finally:
        db.close()


def test_a_report_exports_as_the_report_gives_it(history: str, tmp_path: Any) -> None:
    out = tmp_path / "channels.jsonl"
    result = CliRunner().invoke(cli, ["--db", history, "export", "report-channels",
                                      "--format", "jsonl", "-o", str(out)])
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert exported == report(history, "channels")
    meta = json.loads((tmp_path / "channels.jsonl.meta.json").read_text())
    assert set(meta["projections"]) == {"archive", "stages", "followups"}


def test_reports_read_from_the_summaries_equal_those_counted_from_the_contacts(
        history: str) -> None:
    """channels, cohorts and stages read the summaries unless an owner is asked for;
    counted from the contact and stay rows instead, they give the same numbers on both
    databases."""
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from touchlog.projections.engine.reporting_db import ReportingDB
    from touchlog.projections.reports.catalogue import run
    from touchlog.projections.reports.frame import Window

    # Periods of whole months, of part of one, and starting and ending mid-month.
    windows = [Window(), Window(since=date(2024, 2, 1)), Window(until=date(2024, 3, 1)),
               Window(since=date(2024, 2, 20), until=date(2024, 3, 2)),
               Window(since=date(2024, 2, 1), until=date(2024, 3, 31)),
               Window(since=date(2024, 3, 2), until=date(2024, 3, 20)),
               Window(channel="phone")]
    assert CliRunner().invoke(cli, ["--db", history, "projections", "run"]).exit_code == 0
    db = ReportingDB(history)
    try:
        for name, more in (("channels", []), ("cohorts", []), ("stages", [
                Window(as_of=datetime(2024, 3, 2, 12, tzinfo=UTC)),
                Window(as_of=datetime(2024, 5, 5, tzinfo=UTC), since=date(2024, 2, 1))])):
            for window in [*windows, *more]:
                if window.channel and name != "channels":
                    continue
                detail = Window(**{**window.__dict__, "from_summaries": False})
                summarised = run(db, REPORTS[name], window)
                assert summarised and summarised == run(db, REPORTS[name], detail), (
                    name, window)
        assert db.query("SELECT channel, customers FROM report_channel_customers "
                        "ORDER BY channel") == [
            {"channel": c, "customers": n} for c, n in (
                ("chat", 1), ("email", 1), ("phone", 3), ("random", 1), ("store", 2),
                ("web", 1))]
        store = db.query("SELECT month, contacts, purchases, revenue "
                         "FROM report_channel_months WHERE channel = 'store' ORDER BY month")
        assert [(r["month"], r["contacts"], r["purchases"], Decimal(r["revenue"]))
                for r in store] == [("2024-02", 1, 1, Decimal(100)),
                                    ("2024-03", 0, 0, Decimal(0)),
                                    ("2024-04", 1, 1, Decimal(200))]
    finally:
        db.close()
