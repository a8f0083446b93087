"""The report summaries: the archive keeps contacts per month and channel, customers per
channel and active customers per cohort and month; the stages projection keeps stays
entered and left per day and stage, what the funnel counts of each discovery entry, the
closed stays per span of duration and the dissolutions per day (docs/reporting.md "Report
summaries kept by the archive", "report_stage_days", "report_funnel_starts",
"report_stay_durations", "report_dissolution_days").

A summary is the sum over customers of what each customer's rows contribute
(``contributions``, ``stay_contributions``). When a batch changes customers, the projection
takes what those customers contributed before its writes and after them, and adds the
difference to the summary rows (``apply_difference``), exactly: counts as integers, amounts
as decimals. A rebuild and an incremental run therefore give the same rows, and a summary
row whose counts are all zero is deleted, as a rebuild would never write it.

Most customers of a batch are new (every one of a rebuild or an import): their rows are in
memory and contributed nothing before, so nothing is read back for them. The contributions
are computed here in Python from the rows; the reports' SQL over ``archive_contacts`` and
``stage_history`` computes the same numbers another way, and
tests/integration/test_report_summaries.py proves the two equal on random histories.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from touchlog.domain.stages import DISSOLUTION, Stay
from touchlog.domain.values import Stage
from touchlog.projections.engine.dialect import plain, summed_amount
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import (
    ARCHIVE_CONTACTS,
    REPORT_CHANNEL_CUSTOMERS,
    REPORT_CHANNEL_MONTHS,
    REPORT_COHORT_MONTHS,
    REPORT_DISSOLUTION_DAYS,
    REPORT_FUNNEL_STARTS,
    REPORT_STAGE_DAYS,
    REPORT_STAY_DURATIONS,
    SUMMARY_WITHIN_DAYS,
    UNCATEGORISED,
    Table,
)

# An archive_contacts row, as the archive holds it in memory (a list in the table's column
# order) or as ``read_contacts`` reads it back: where its values are (the archive's
# statistics read these too).
CONTACT_AT = {name: i for i, name in enumerate(ARCHIVE_CONTACTS.column_names)}
(CUSTOMER, CONTACT_ID, OCCURRED, CHANNEL, INITIATED, OUTCOME, RATING, AMOUNT, DELIBERATE,
 HARD, PURCHASED, RETRACTED) = (CONTACT_AT[name] for name in (
    "customer", "contact_id", "occurred_at", "channel", "initiated_by", "outcome", "rating",
    "amount", "deliberate", "hard", "purchase", "retracted"))

Sums = dict[tuple[str, ...], list[Any]]  # summary key -> its values, in the table's order


def _values(table: Table) -> list[str]:
    return [n for n in table.column_names[len(table.key):] if n not in dict(table.numbers)]


MONTH_VALUES = _values(REPORT_CHANNEL_MONTHS)
AMOUNTS = frozenset(amount for _, amount in REPORT_CHANNEL_MONTHS.numbers)
_D = {name: i for i, name in enumerate(MONTH_VALUES)}
(CONTACTS, RETRACTED_, DELIBERATE_, HARD_, JUDGED, PURCHASES, REVENUE, AFTER, REVENUE_AFTER,
 FIRST_TOUCH, LAST_TOUCH, RATINGS, RATING_SUM, HIGH, LOW) = (_D[name] for name in (
    "contacts", "retracted", "deliberate", "hard", "judged", "purchases", "revenue",
    "purchases_after", "revenue_after", "first_touch_purchases", "last_touch_purchases",
    "ratings", "rating_sum", "ratings_4_5", "ratings_1_2"))
# initiated_by and outcome values counted in a column of their own
BY = {"company": _D["by_company"], "customer": _D["by_customer"],
      "third_party": _D["by_third_party"]}
OUTCOMES = {"positive": _D["positive"], "neutral": _D["neutral"],
            "negative": _D["negative"]}
_EMPTY = [Decimal(0) if name in AMOUNTS else 0 for name in MONTH_VALUES]
ARCHIVE_SUMMARIES = (REPORT_CHANNEL_MONTHS, REPORT_CHANNEL_CUSTOMERS, REPORT_COHORT_MONTHS)
STAGE_SUMMARIES = (REPORT_STAGE_DAYS, REPORT_FUNNEL_STARTS, REPORT_STAY_DURATIONS,
                   REPORT_DISSOLUTION_DAYS)


def _month_row(months: Sums, key: tuple[str, ...]) -> list[Any]:
    row = months.get(key)
    if row is None:
        row = months[key] = list(_EMPTY)
    return row


def _shifted(at: str, days: int) -> str:
    """UTC ISO text ``days`` whole days later, the time of day kept (Dialect.shifted)."""
    return (date.fromisoformat(at[:10]) + timedelta(days)).isoformat() + at[10:]


def contributions(rows: Iterable[Sequence[Any]]) -> dict[str, Sums]:
    """Per archive summary table, what these archive_contacts rows add to its rows (every
    row of each customer in them, live or retracted)."""
    months: Sums = {}
    mine: dict[str, list[tuple[Any, ...]]] = {}  # customer -> its live contacts
    for row in rows:
        at = row[OCCURRED]
        if type(at) is not str:
            at = plain(at)
        month, channel = at[:7], row[CHANNEL]
        sums = _month_row(months, (month, channel))
        if row[RETRACTED]:
            sums[RETRACTED_] += 1
            continue
        sums[CONTACTS] += 1
        if row[DELIBERATE]:
            sums[DELIBERATE_] += 1
        if row[HARD]:
            sums[HARD_] += 1
        by = row[INITIATED]
        if by in BY:
            sums[BY[by]] += 1
        outcome = row[OUTCOME]
        if outcome is not None:
            sums[JUDGED] += 1
            if outcome in OUTCOMES:
                sums[OUTCOMES[outcome]] += 1
        rating = row[RATING]
        if rating is not None:  # the satisfaction report's counts
            sums[RATINGS] += 1
            sums[RATING_SUM] += rating
            if rating >= 4:
                sums[HIGH] += 1
            elif rating <= 2:
                sums[LOW] += 1
        amount = row[AMOUNT]
        purchase = bool(row[PURCHASED]) or amount is not None  # schema.PURCHASE
        if purchase:
            sums[PURCHASES] += 1
            if amount is not None:
                amount = Decimal(plain(amount))
                sums[REVENUE] += amount
        live = mine.get(row[CUSTOMER])
        if live is None:
            live = mine[row[CUSTOMER]] = []
        live.append((at, row[CONTACT_ID], channel, purchase, amount, month))
    customers: Counter[tuple[str, ...]] = Counter()
    cohorts: Counter[tuple[str, ...]] = Counter()
    for live in mine.values():
        customers.update((channel,) for channel in {c[2] for c in live})
        active = sorted({c[5] for c in live})
        cohorts.update((active[0], month) for month in active)
        if any(c[3] for c in live):
            _touches(sorted(live), months)
    return {REPORT_CHANNEL_MONTHS.name: months,
            REPORT_CHANNEL_CUSTOMERS.name: {k: [n] for k, n in customers.items()},
            REPORT_COHORT_MONTHS.name: {k: [n] for k, n in cohorts.items()}}


def _touches(live: list[tuple[Any, ...]], months: Sums) -> None:
    """One customer's live purchases per month: the channels of its live contacts in the N
    days before each, and each one's first and last touch. ``live`` is in (time, contact
    id) order."""
    times = [c[0] for c in live]
    first_channel = live[0][2]
    for i, (at, _, channel, purchase, amount, month) in enumerate(live):
        if not purchase:
            continue
        earlier = bisect_left(times, at)  # live[:earlier]: before the purchase
        start = bisect_left(times, _shifted(at, -SUMMARY_WITHIN_DAYS), 0, earlier)
        for touched in {c[2] for c in live[start:earlier]}:
            sums = _month_row(months, (month, touched))
            sums[AFTER] += 1
            if amount is not None:
                sums[REVENUE_AFTER] += amount
        _month_row(months, (month, first_channel))[FIRST_TOUCH] += 1
        last = bisect_right(times, at) - 1  # the last by then, in (time, contact id) order
        if last == i:
            last -= 1
        _month_row(months, (month, live[last][2] if last >= 0 else channel))[LAST_TOUCH] += 1


def read_contacts(db: ReportingDB, customers: Sequence[str]) -> list[tuple[Any, ...]]:
    """The stored archive_contacts rows of these customers, in the table's column order."""
    names = ARCHIVE_CONTACTS.column_names
    return [tuple(row[name] for name in names)
            for row in db.by_keys(ARCHIVE_CONTACTS.name, "customer", customers,
                                  ", ".join(names))]


def stay_contributions(
        customers: Iterable[tuple[Sequence[Stay], Sequence[tuple[str, str, int | None]] | None]],
) -> dict[str, Sums]:
    """What these customers' histories contribute to report_stage_days (per day and stage,
    the stays entered and the stays left, at the later of their entry and exit, as the
    stages report counts them), to report_funnel_starts (``_funnel_starts``), to
    report_stay_durations (the closed stays per stage and ``span_from_seconds``) and, with
    each customer's live contacts as (occurred_at, contact id, rating) in that order (given
    for a customer with a dissolution, else None), to report_dissolution_days
    (``_dissolutions``)."""
    days: Sums = {}
    starts: Sums = {}
    durations: Counter[tuple[Any, ...]] = Counter()  # (stage, from_seconds)
    dissolutions: Sums = {}
    for history, contacts in customers:
        for stay in history:
            key = (stay.entered_at[:10], stay.to_stage)
            row = days.get(key)
            if row is None:
                row = days[key] = [0, 0]
            row[0] += 1
            if stay.left_at is not None:
                key = (max(stay.entered_at, stay.left_at)[:10], stay.to_stage)
                row = days.get(key)
                if row is None:
                    row = days[key] = [0, 0]
                row[1] += 1
                durations[stay.to_stage, span_from_seconds(stay.duration_seconds or 0)] += 1
        _funnel_starts(history, starts)
        if contacts is not None:
            _dissolutions(history, contacts, dissolutions)
    return {REPORT_STAGE_DAYS.name: days, REPORT_FUNNEL_STARTS.name: starts,
            REPORT_STAY_DURATIONS.name: {k: [n] for k, n in durations.items()},
            REPORT_DISSOLUTION_DAYS.name: dissolutions}


def _dissolutions(history: Sequence[Stay], contacts: Sequence[tuple[str, str, int | None]],
                  sums: Sums) -> None:
    """One customer's rows of report_dissolution_days: each dissolution, the seconds of its
    cycle's stays before it, whether it has ended (won back) and after how long, and the
    rating of the last live contact at or before its start."""
    times = [at for at, _, _ in contacts]
    for stay in history:
        if stay.to_stage != DISSOLUTION or stay.from_stage is None:  # (never the first)
            continue
        key = (stay.entered_at[:10], stay.reason_category or UNCATEGORISED, stay.from_stage)
        row = sums.get(key)
        if row is None:
            row = sums[key] = [0, 0, 0, 0, 0, 0]
        row[0] += 1
        row[1] += sum(s.duration_seconds or 0 for s in history
                      if s.cycle == stay.cycle and s.seq < stay.seq)
        if stay.left_at is not None:
            row[2] += 1
            row[3] += stay.duration_seconds or 0
        last = bisect_right(times, stay.entered_at) - 1
        if last >= 0 and contacts[last][2] is not None:
            row[4] += 1
            row[5] += contacts[last][2]


def span_from_seconds(seconds: int) -> int:
    """The ``from_seconds`` of report_stay_durations that a duration lies in (as
    schema.duration_span in SQL): 0 for none, 1 under a day, else its whole day's first
    second."""
    if seconds == 0:
        return 0
    return 1 if seconds < 86400 else seconds - seconds % 86400


def _funnel_starts(history: Sequence[Stay], starts: Sums) -> None:
    """One customer's rows of report_funnel_starts, as the funnel report counts a customer
    whose first discovery entry in the period is ``start``: of the stays entered at or after
    ``start``, the furthest stage other than dissolution, and each dissolution by the stage
    it left (won back once it has ended). The row of each entry names the day of the entry
    before it, so that a period's first one is the entry whose previous day lies before the
    period."""
    previous = ""
    for start in sorted(s.entered_at for s in history if s.to_stage == Stage.DISCOVERY):
        day = start[:10]
        since = [s for s in history if s.entered_at >= start]
        furthest = max((s for s in since if s.to_stage != DISSOLUTION),
                       key=lambda s: Stage(s.to_stage).rank).to_stage
        _funnel_row(starts, (day, previous, furthest))[0] += 1
        for stay in since:
            if stay.to_stage == DISSOLUTION and stay.from_stage not in (None, DISSOLUTION):
                row = _funnel_row(starts, (day, previous, stay.from_stage))
                row[1] += 1
                if stay.left_at is not None:
                    row[2] += 1
        previous = day


def _funnel_row(starts: Sums, key: tuple[str, ...]) -> list[Any]:
    row = starts.get(key)
    if row is None:
        row = starts[key] = [0, 0, 0]
    return row


def apply_difference(db: ReportingDB, before: dict[str, Sums], after: dict[str, Sums]) -> None:
    """Adds ``after`` and takes away ``before`` in each summary table they name."""
    for table in (*ARCHIVE_SUMMARIES, *STAGE_SUMMARIES):
        if table.name in after:
            _apply(db, table, before.get(table.name, {}), after[table.name])


def _apply(db: ReportingDB, table: Table, before: Sums, after: Sums) -> None:
    """Adds each key's change to its row (made when missing), then deletes the rows a
    change took to nothing."""
    changes: Sums = {}
    for key, new in after.items():
        old = before.get(key)
        changes[key] = list(new) if old is None else [n - o for n, o in zip(new, old,
                                                                              strict=True)]
    for key, old in before.items():
        if key not in after:
            changes[key] = [-v for v in old]
    names = _values(table)
    amounts = [i for i, n in enumerate(names) if n in AMOUNTS]
    numbers = {amount: number for number, amount in table.numbers}
    rows, lowered = [], []
    for key, change in changes.items():
        if not any(change):
            continue
        for i in amounts:
            change[i] = summed_amount(change[i])
        rows.append([*key, *change, *(change[names.index(a)] for _, a in table.numbers)])
        if any(v < 0 for i, v in enumerate(change) if i not in amounts):
            lowered.append(key)
    if not rows:
        return
    d = db.dialect
    sets = [f"{n} = {table.name}.{n} + excluded.{n}" for n in names if n not in AMOUNTS]
    for amount, number in numbers.items():  # most changes leave the amounts as they were
        total = d.amounts_added(f"{table.name}.{amount}", f"excluded.{amount}")
        unchanged = f"CASE WHEN excluded.{amount} = '0' THEN {table.name}.{{}} ELSE {{}} END"
        sets += [f"{amount} = {unchanged.format(amount, total)}",
                 f"{number} = {unchanged.format(number, d.number(total))}"]
    values = ", ".join(d.number("?") if name in dict(table.numbers) else "?"
                       for name in table.column_names)
    db.executemany(
        f"INSERT INTO {table.name} ({', '.join(table.column_names)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {', '.join(sets)}", rows)
    counts = [n for n in names if n not in AMOUNTS]
    db.executemany(
        f"DELETE FROM {table.name} WHERE {' AND '.join(f'{k} = ?' for k in table.key)} "
        f"AND {' AND '.join(f'{n} = 0' for n in counts)}", [list(k) for k in lowered])
