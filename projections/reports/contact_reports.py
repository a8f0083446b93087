"""The reports on contacts: RFM, channels (contact analysis), satisfaction and cohorts.

Each counts live (not retracted) contacts from ``archive_contacts``, unless it says
otherwise; amounts are summed as numbers (``amount_value``) and shown to the cent.
docs/reporting.md "Reports" states each rule.
"""

from __future__ import annotations

from touchlog.projections.reports.channels import channels
from touchlog.projections.reports.frame import OWNERS, Frame, count_where
from touchlog.projections.reports.report import AS_OF, CHANNEL, OWNER, PERIOD, WITHIN, Report

# The segments, first matching rule wins (docs/reporting.md "RFM segments"); R is the
# recency score, FM the mean of the frequency and monetary scores rounded half up.
SEGMENTS = (
    ("Champions", "r >= 4 AND fm >= 4"),
    ("Loyal", "r >= 3 AND fm >= 4"),
    ("Potential", "r >= 3 AND fm >= 2"),
    ("New", "r >= 4"),
    ("Cannot lose", "fm >= 5"),
    ("At risk", "fm >= 3"),
    ("Hibernating", "r >= 2"),
    ("Lost", "1 = 1"),
)


# SQL: the segment of a customer with scores ``r`` and ``fm``
SEGMENT = "CASE " + " ".join(f"WHEN {rule} THEN '{name}'" for name, rule in SEGMENTS) + " END"
# The three measures, each with the order that ranks its customers worst first (rank 1).
MEASURES = (("r", "recency_days", "DESC"), ("f", "frequency", "ASC"), ("m", "monetary", "ASC"))


def _scored(f: Frame) -> str:
    """CTEs owners, ``facts`` (per customer with a live contact by the reading time: its
    last contact, contacts and amounts), ``ranked`` (monetary to the cent, recency in
    whole days) and ``fm`` (ranked with the 1-5 scores and FM) of every customer, whatever
    the owner asked for: the scores rank each customer among all."""
    d = f.d
    # A score is 1 + floor(5 (rank - 1) / n), where rank - 1 is how many customers are
    # worse: so it is 1 + how many of four marks the customer is better than, the s-th mark
    # being the ceil(s n / 5)-th worst value (tied customers share it, as they share a
    # rank). Each measure's values are counted (far fewer than the customers), and the
    # marks found in the running counts.
    marks = ", ".join(
        f"{name}_counts AS MATERIALIZED (SELECT {column} AS v, sum(count(*)) OVER (ORDER BY "
        f"{column} {order} ROWS UNBOUNDED PRECEDING) AS below FROM ranked GROUP BY {column})"
        for name, column, order in MEASURES)

    def score(name: str, column: str, order: str) -> str:
        better = ">" if order == "ASC" else "<"
        return "1 + " + " + ".join(
            f"CASE WHEN {column} {better} (SELECT v FROM {name}_counts WHERE below >= "
            f"(SELECT m FROM quintiles WHERE s = {s}) ORDER BY below LIMIT 1) "
            "THEN 1 ELSE 0 END" for s in range(1, 5))
    # A customer whose last live contact is by the reading time has its statistics in
    # archive_customers already; the others' are counted from their contacts until then.
    # ``later`` is materialised so that the database seeks those few customers' contacts
    # rather than scanning every contact for them.
    return (
        f"WITH {OWNERS}, later AS MATERIALIZED (SELECT customer FROM archive_customers "
        f"WHERE last_contact_at > {f.as_of}), facts AS (SELECT a.customer, "
        "a.last_contact_at, a.contacts AS frequency, a.total_amount_value AS monetary "
        f"FROM archive_customers a WHERE a.contacts > 0 AND a.last_contact_at <= {f.as_of} "
        "UNION ALL SELECT k.customer, max(k.occurred_at), count(*), "
        "coalesce(sum(k.amount_value), 0) FROM later a JOIN archive_contacts k "
        f"ON k.customer = a.customer WHERE k.occurred_at <= {f.as_of} "
        "AND NOT k.retracted GROUP BY k.customer), "
        "ranked AS MATERIALIZED (SELECT customer, last_contact_at, frequency, "
        f"{f.money('monetary')} AS monetary, "
        f"{d.whole(d.days_between('last_contact_at', f.as_of))} AS recency_days FROM facts), "
        # s = 1..4 and m = ceil(s n / 5), the place of the s-th mark
        "quintiles AS MATERIALIZED (SELECT s, (s * n + 4) / 5 AS m FROM (SELECT count(*) "
        "AS n FROM ranked) counted CROSS JOIN (SELECT 1 AS s UNION ALL SELECT 2 UNION ALL "
        f"SELECT 3 UNION ALL SELECT 4) q), {marks}, "
        "scores AS (SELECT ranked.*, " + ", ".join(
            f"{score(*measure)} AS {measure[0]}" for measure in MEASURES) + " FROM ranked), "
        "fm AS (SELECT scores.*, (f + m + 1) / 2 AS fm FROM scores)")


def rfm_customers(f: Frame) -> str:
    """Per customer: recency, frequency and monetary value at the reading time, the scores
    (among all customers, whatever the owner asked for) and the segment."""
    return (
        # fm materialised: the segment's rules read r and fm several times each, and
        # would compute them again each time from their definitions
        f"{_scored(f)}, listed AS MATERIALIZED (SELECT * FROM fm WHERE {f.owned('customer')}) "
        "SELECT customer, last_contact_at, recency_days, "
        f"CAST(frequency AS INTEGER) AS frequency, {f.money('monetary')} AS monetary, "
        "CAST(r AS INTEGER) AS r, CAST(f AS INTEGER) AS f, CAST(m AS INTEGER) AS m, "
        f"CAST(fm AS INTEGER) AS fm, {SEGMENT} AS segment FROM listed "
        f"ORDER BY customer{f.d.collate('text')}")


def rfm(f: Frame) -> str:
    """Per segment: customers, their share, their revenue and mean recency and frequency."""
    names = ", ".join(f"('{name}', {n})" for n, (name, _) in enumerate(SEGMENTS, 1))
    return (
        f"{_scored(f)}, segments(segment, segment_rank) AS (VALUES {names}), "
        # Summed per R and FM first (25 pairs at most; the segment is theirs), then per
        # segment: the customers are sorted by two small numbers, not by a name.
        "cells AS MATERIALIZED (SELECT r, fm, count(*) AS customers, "
        "sum(monetary) AS revenue, sum(recency_days) AS recency_days, "
        "sum(frequency) AS frequency FROM fm WHERE "
        f"{f.owned('customer')} GROUP BY r, fm), "
        f"per AS MATERIALIZED (SELECT {SEGMENT} AS segment, sum(customers) AS customers, "
        "sum(revenue) AS revenue, sum(recency_days) * 1.0 / sum(customers) AS recency_days, "
        "sum(frequency) * 1.0 / sum(customers) AS frequency FROM cells GROUP BY 1) "
        "SELECT g.segment, CAST(coalesce(p.customers, 0) AS INTEGER) AS customers, "
        f"{f.share('coalesce(p.customers, 0)', '(SELECT sum(customers) FROM per)')} AS share, "
        f"{f.money('p.revenue')} AS revenue, "
        f"{f.d.rounded('p.recency_days', 2)} AS mean_recency_days, "
        f"{f.d.rounded('p.frequency', 2)} AS mean_frequency "
        "FROM segments g LEFT JOIN per p ON p.segment = g.segment ORDER BY g.segment_rank")


def satisfaction(f: Frame) -> str:
    """Per month and channel, the ratings of the period's live contacts: how many, their
    mean, and the shares of 4-5 and of 1-2; a row with no channel is the month's total."""
    # The contacts are read once, into per month and channel sums; the month's total row
    # adds those up.
    return (
        f"WITH {OWNERS}, cells AS (SELECT {f.d.month('k.occurred_at')} AS period, "
        "k.channel, count(*) AS ratings, sum(k.rating) AS points, "
        f"{count_where('k.rating >= 4')} AS high, {count_where('k.rating <= 2')} AS low "
        "FROM archive_contacts k WHERE NOT k.retracted "
        f"AND k.rating IS NOT NULL AND {f.period('k.occurred_at')} "
        f"AND {f.channel('k.channel')} AND {f.owned('k.customer')} GROUP BY 1, 2), "
        "rows AS (SELECT * FROM cells UNION ALL SELECT period, NULL, sum(ratings), "
        "sum(points), sum(high), sum(low) FROM cells GROUP BY period) "
        "SELECT period, channel, CAST(ratings AS INTEGER) AS ratings, "
        f"{f.d.rounded('points * 1.0 / ratings', 2)} AS mean, "
        f"{f.share('high', 'ratings')} AS share_4_5, {f.share('low', 'ratings')} AS share_1_2 "
        f"FROM rows ORDER BY period, channel{f.d.collate('text')} NULLS LAST")


def cohorts(f: Frame) -> str:
    """Customers by the month of their first live contact (the period's months), and per
    later month how many of them had a live contact (a purchase is one) that month.

    Without an owner or an end it reads the archive's ``report_cohort_months``; otherwise
    it counts the contact rows until the end (tests/integration/test_report_summaries.py
    proves the two equal)."""
    d = f.d
    chosen = " AND ".join(
        [*(["cohort >= " + d.month(":since")] if "since" in f.params else []),
         *(["cohort <= " + d.month(":until")] if "until" in f.params else [])]) or "1 = 1"
    if f.summarised and "until" not in f.params:
        counted = (
            "WITH RECURSIVE counts AS (SELECT cohort, month, active FROM report_cohort_months), "
            "members AS (SELECT cohort, active AS customers FROM counts "
            f"WHERE month = cohort AND {chosen}), "
            f"{f.months('(SELECT min(cohort) FROM members)', '(SELECT max(month) FROM counts)')}")
    else:
        until = "k.occurred_at < :until_end" if "until_end" in f.params else "1 = 1"
        # The months each customer was active in, found in one pass over the contacts.
        counted = (
            f"WITH RECURSIVE {OWNERS}, active AS MATERIALIZED (SELECT k.customer, "
            f"{d.month('k.occurred_at')} AS month FROM archive_contacts k "
            f"WHERE NOT k.retracted AND {until} AND {f.owned('k.customer')} GROUP BY 1, 2), "
            "firsts AS MATERIALIZED (SELECT customer, min(month) AS cohort FROM active "
            "GROUP BY customer), "
            "members AS (SELECT cohort, count(*) AS customers FROM firsts "
            f"WHERE {chosen} GROUP BY cohort), "
            f"{f.months('(SELECT min(cohort) FROM members)', '(SELECT max(month) FROM active)')}, "
            "counts AS (SELECT f.cohort, a.month, count(*) AS active FROM firsts f "
            "JOIN active a ON a.customer = f.customer GROUP BY f.cohort, a.month)")
    after = ("(CAST(substr(c.month, 1, 4) AS INTEGER) - CAST(substr(c.cohort, 1, 4) AS "
             "INTEGER)) * 12 + CAST(substr(c.month, 6, 2) AS INTEGER) - "
             "CAST(substr(c.cohort, 6, 2) AS INTEGER)")
    return (
        f"{counted}, cells AS (SELECT m.cohort, mo.month FROM members m JOIN months mo "
        "ON mo.month >= m.cohort) "
        f"SELECT c.cohort, {after} AS months_after, c.month AS period, "
        "CAST(m.customers AS INTEGER) AS customers, "
        "CAST(coalesce(n.active, 0) AS INTEGER) AS active, "
        f"{f.share('coalesce(n.active, 0)', 'm.customers')} AS share FROM cells c "
        "JOIN members m ON m.cohort = c.cohort LEFT JOIN counts n "
        "ON n.cohort = c.cohort AND n.month = c.month ORDER BY c.cohort, c.month")


REPORTS = (
    Report("rfm", "RFM segments", (
        ("segment", "text"), ("customers", "int"), ("share", "real"), ("revenue", "real"),
        ("mean_recency_days", "real"), ("mean_frequency", "real")),
        rfm, frozenset({AS_OF, OWNER}), ("archive",)),
    Report("rfm-customers", "RFM scores per customer", (
        ("customer", "text"), ("last_contact_at", "instant"), ("recency_days", "int"),
        ("frequency", "int"), ("monetary", "real"), ("r", "int"), ("f", "int"),
        ("m", "int"), ("fm", "int"), ("segment", "text")),
        rfm_customers, frozenset({AS_OF, OWNER}), ("archive",)),
    Report("channels", "Channels: contact analysis", (
        ("channel", "text"), ("contacts", "int"), ("customers", "int"),
        ("deliberate_share", "real"), ("spontaneous_share", "real"), ("hard_share", "real"),
        ("soft_share", "real"), ("company_share", "real"), ("customer_share", "real"),
        ("third_party_share", "real"), ("positive_rate", "real"), ("neutral_rate", "real"),
        ("negative_rate", "real"), ("retracted_share", "real"), ("purchases", "int"),
        ("revenue", "real"), ("purchases_after", "int"), ("revenue_after", "real"),
        ("first_touch_commitments", "int"), ("last_touch_commitments", "int"),
        ("first_touch_purchases", "int"), ("last_touch_purchases", "int")),
        channels, frozenset({PERIOD, OWNER, CHANNEL, WITHIN})),
    Report("satisfaction", "Satisfaction", (
        ("period", "text"), ("channel", "text"), ("ratings", "int"), ("mean", "real"),
        ("share_4_5", "real"), ("share_1_2", "real")),
        satisfaction, frozenset({PERIOD, OWNER, CHANNEL}), ("archive",)),
    Report("cohorts", "Cohorts", (
        ("cohort", "text"), ("months_after", "int"), ("period", "text"),
        ("customers", "int"), ("active", "int"), ("share", "real")),
        cohorts, frozenset({PERIOD, OWNER}), ("archive",)),
)
