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
# The three measures: the archive_customers column each is ranked by (worst first: the
# oldest last contact, the fewest contacts, the least spent), and its score's column.
MEASURES = (("r", "last_contact_at", "recency_days"), ("f", "contacts", "frequency"),
            ("m", "total_amount_value", "monetary"))


def _scored(f: Frame) -> str:
    """CTEs owners, ``late``, ``marks`` (one row: each measure's four quintile marks),
    ``ranked`` (per customer with a live contact by the reading time: its last contact,
    recency in whole days, contacts, and amounts to the cent) and ``fm`` (ranked with the
    1-5 scores and FM), of every customer, whatever the owner asked for: the scores rank
    each customer among all."""
    d = f.d
    # A customer whose last live contact is by the reading time has its statistics in
    # archive_customers already; the others' (``late``, few) are counted from their
    # contacts until then. ``later`` is materialised so that the database seeks those few
    # customers' contacts rather than scanning every contact for them. The held customers'
    # measures are read from the index on (contacts, last_contact_at, total_amount_value,
    # customer) (schema.RFM), which holds every column they are read for: the database
    # reads its narrow entries rather than the table's wide rows.
    held = f"FROM archive_customers WHERE contacts > 0 AND last_contact_at <= {f.as_of}"
    # A score is 1 + floor(5 (rank - 1) / n), where rank - 1 is how many customers are
    # worse: so it is 1 + how many of four marks the customer is better than, the s-th
    # mark being the m-th worst value, m = ceil(s n / 5) (tied customers share it, as they
    # share a rank). Each measure's marks are read from its index on archive_customers: of
    # the customers held there, the k + 1 values from the (m - k)-th worst on (``window``),
    # k the number of late customers. With the late customers' values they are the only
    # candidates, and the mark is the least candidate c that at least m customers are no
    # better than: lo (the held ones before the window) + those of the window and of the
    # late ones that are <= c. tests/integration/test_rfm_marks.py checks it against
    # ranking every customer.
    ctes = [
        OWNERS,
        f"later AS MATERIALIZED (SELECT customer FROM archive_customers "
        f"WHERE last_contact_at > {f.as_of})",
        "late AS MATERIALIZED (SELECT k.customer, max(k.occurred_at) AS last_contact_at, "
        "count(*) AS contacts, coalesce(sum(k.amount_value), 0) AS total_amount_value "
        "FROM later a JOIN archive_contacts k ON k.customer = a.customer "
        f"WHERE k.occurred_at <= {f.as_of} AND NOT k.retracted GROUP BY k.customer)",
        f"sizes AS MATERIALIZED (SELECT k, k + (SELECT count(*) {held}) AS n "
        "FROM (SELECT count(*) AS k FROM late) c)",
        # s = 1..4, m = ceil(s n / 5) and lo = m - k - 1 (0 at least)
        f"places AS MATERIALIZED (SELECT s, m, {d.greatest('0', 'm - k - 1')} AS lo FROM "
        "(SELECT s, (s * n + 4) / 5 AS m, k FROM sizes CROSS JOIN (SELECT 1 AS s UNION ALL "
        "SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) q) p)",
    ]
    found = []
    for name, column, _ in MEASURES:
        for s in range(1, 5):
            window, place = f"{name}_window{s}", f"(SELECT {{}} FROM places WHERE s = {s})"
            ctes.append(
                f"{window} AS MATERIALIZED (SELECT {column} AS v {held} ORDER BY {column} "
                f"LIMIT (SELECT k + 1 FROM sizes) OFFSET {place.format('lo')})")
            found.append(
                f"(SELECT c.v FROM (SELECT v FROM {window} UNION ALL SELECT {column} "
                f"FROM late) c WHERE {place.format('lo')} + (SELECT count(*) FROM {window} w "
                f"WHERE w.v <= c.v) + (SELECT count(*) FROM late l WHERE l.{column} <= c.v) "
                f">= {place.format('m')} ORDER BY c.v LIMIT 1) AS {name}{s}")
    # the marks as the scores compare them: recency in whole days, amounts to the cent
    shown = {"r": lambda v: d.whole(d.days_between(v, f.as_of)), "f": lambda v: v,
             "m": f.money}
    ctes.append("marks AS MATERIALIZED (SELECT " + ", ".join(
        f"{shown[name](f'{name}{s}')} AS {name}{s}" for name, _, _ in MEASURES
        for s in range(1, 5)) + " FROM (SELECT " + ", ".join(found) + ") found)")

    def score(name: str, column: str) -> str:
        # the marks come in order (each as bad as the one before or better), so the
        # number of marks beaten is the highest one beaten
        better = "<" if name == "r" else ">"
        return "CASE " + " ".join(
            f"WHEN {column} {better} (SELECT {name}{s} FROM marks) THEN {s + 1}"
            for s in range(4, 0, -1)) + " ELSE 1 END"
    ctes += [
        "ranked AS MATERIALIZED (SELECT customer, last_contact_at, frequency, "
        f"{f.money('monetary')} AS monetary, "
        f"{d.whole(d.days_between('last_contact_at', f.as_of))} AS recency_days FROM "
        "(SELECT customer, last_contact_at, contacts AS frequency, total_amount_value AS "
        f"monetary {held} "
        "UNION ALL SELECT customer, last_contact_at, contacts, "
        "total_amount_value FROM late) facts)",
        "scores AS (SELECT ranked.*, " + ", ".join(
            f"{score(name, scored)} AS {name}" for name, _, scored in MEASURES)
        + " FROM ranked)",
        "fm AS (SELECT scores.*, (f + m + 1) / 2 AS fm FROM scores)"]
    return "WITH " + ", ".join(ctes)


def rfm_customers(f: Frame) -> str:
    """Per customer: recency, frequency and monetary value at the reading time, the scores
    (among all customers, whatever the owner asked for) and the segment."""
    return (
        # fm materialised: the segment's rules read r and fm several times each, which
        # would otherwise be computed again for each from their definitions
        f"{_scored(f)}, listed AS MATERIALIZED (SELECT * FROM fm WHERE {f.owned('customer')}) "
        "SELECT customer, last_contact_at, recency_days, "
        "CAST(frequency AS INTEGER) AS frequency, monetary, "
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
    mean, and the shares of 4-5 and of 1-2; a row with no channel is the month's total.

    Without an owner it reads the period's whole months from the archive's
    ``report_channel_months`` and counts only the days outside them from the contacts;
    otherwise it counts the contact rows (tests/integration/test_report_summaries.py proves
    the two equal)."""
    def counted(picked: str) -> str:  # per month and channel, the ratings of ``picked``
        return (f"SELECT {f.d.month('k.occurred_at')} AS period, k.channel, "
                "count(*) AS ratings, sum(k.rating) AS points, "
                f"{count_where('k.rating >= 4')} AS high, {count_where('k.rating <= 2')} AS low "
                "FROM archive_contacts k WHERE NOT k.retracted AND k.rating IS NOT NULL "
                f"AND {f.channel('k.channel')} AND {picked} GROUP BY 1, 2")
    if f.summarised:
        edges = f.edges("k.occurred_at")
        parts = ["SELECT month AS period, channel, ratings, rating_sum AS points, "
                 "ratings_4_5 AS high, ratings_1_2 AS low FROM report_channel_months "
                 f"WHERE ratings > 0 AND {f.whole_months('month')} AND {f.channel('channel')}",
                 *([counted(f"({edges})")] if edges is not None else [])]
        # an edge's month is never a whole month: each (month, channel) comes from one part
        cells = f"cells AS ({' UNION ALL '.join(parts)})"
    else:
        picked = f"{f.period('k.occurred_at')} AND {f.owned('k.customer')}"
        cells = f"cells AS ({counted(picked)})"
    return (
        f"WITH {OWNERS}, {cells}, "
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
