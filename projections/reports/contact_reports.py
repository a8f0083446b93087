"""The reports on contacts: RFM, channels (contact analysis), satisfaction and cohorts.

Each counts live (not retracted) contacts from ``archive_contacts``, unless it says
otherwise; amounts are summed as numbers (``amount_value``) and shown to the cent.
docs/reporting.md "Reports" states each rule.
"""

from __future__ import annotations

from touchlog.projections.engine.schema import purchase_of
from touchlog.projections.reports.frame import OWNERS, STAGES, Frame, count_where
from touchlog.projections.reports.report import AS_OF, CHANNEL, OWNER, PERIOD, WITHIN, Report
from touchlog.projections.reports.stays import STAYS

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


def _scored(f: Frame) -> str:
    """CTEs owners, ``facts`` (per customer with a live contact by the reading time: its
    last contact, contacts and amounts) and ``scored`` (monetary to the cent, recency in
    whole days, the 1-5 scores, FM and the segment)."""
    d = f.d
    segment = "CASE " + " ".join(f"WHEN {rule} THEN '{name}'" for name, rule in SEGMENTS) + " END"
    score = "1 + (5 * ({rank} - 1)) / (SELECT n FROM counted)"
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
        "counted AS MATERIALIZED (SELECT count(*) AS n FROM ranked), "
        "scores AS (SELECT ranked.*, "
        f"{score.format(rank='rank() OVER (ORDER BY recency_days DESC)')} AS r, "
        f"{score.format(rank='rank() OVER (ORDER BY frequency)')} AS f, "
        f"{score.format(rank='rank() OVER (ORDER BY monetary)')} AS m FROM ranked), "
        "fm AS (SELECT scores.*, (f + m + 1) / 2 AS fm FROM scores), "
        f"scored AS (SELECT fm.*, {segment} AS segment FROM fm "
        f"WHERE {f.owned('customer')})")


def rfm_customers(f: Frame) -> str:
    """Per customer: recency, frequency and monetary value at the reading time, the scores
    (among all customers, whatever the owner asked for) and the segment."""
    return (
        f"{_scored(f)} SELECT customer, last_contact_at, recency_days, "
        f"CAST(frequency AS INTEGER) AS frequency, {f.money('monetary')} AS monetary, "
        "CAST(r AS INTEGER) AS r, CAST(f AS INTEGER) AS f, CAST(m AS INTEGER) AS m, "
        f"CAST(fm AS INTEGER) AS fm, segment FROM scored "
        f"ORDER BY customer{f.d.collate('text')}")


def rfm(f: Frame) -> str:
    """Per segment: customers, their share, their revenue and mean recency and frequency."""
    names = ", ".join(f"('{name}', {n})" for n, (name, _) in enumerate(SEGMENTS, 1))
    return (
        f"{_scored(f)}, segments(segment, segment_rank) AS (VALUES {names}), "
        "per AS MATERIALIZED (SELECT segment, count(*) AS customers, sum(monetary) AS revenue, "
        "avg(recency_days) AS recency_days, avg(frequency) AS frequency FROM scored "
        "GROUP BY segment) "
        "SELECT g.segment, CAST(coalesce(p.customers, 0) AS INTEGER) AS customers, "
        f"{f.share('coalesce(p.customers, 0)', '(SELECT count(*) FROM scored)')} AS share, "
        f"{f.money('p.revenue')} AS revenue, "
        f"{f.d.rounded('p.recency_days', 2)} AS mean_recency_days, "
        f"{f.d.rounded('p.frequency', 2)} AS mean_frequency "
        "FROM segments g LEFT JOIN per p ON p.segment = g.segment ORDER BY g.segment_rank")



def _is(column: str, value: str) -> str:
    return f"{column} = '{value}'"


def channels(f: Frame) -> str:
    """Per channel, the contacts of the period: live contacts and customers reached, the
    classification's shares, outcome rates, the retracted share, purchases and revenue
    through it, purchases (and revenue) within N days after a contact through it, and the
    first and last touches of the period's commitments and purchases."""
    live = "NOT k.retracted"
    share = f.share
    days = f.w.within_days
    picked = f"{f.period('k.occurred_at')} AND {f.owned('k.customer')}"

    def counted(condition: str) -> str:  # live contacts that meet the condition
        return count_where(f"{live} AND {condition}")

    kinds = (f"{count_where(_is('kind', 'commitment'))} AS commitments, "
             f"{count_where(_is('kind', 'purchase'))} AS purchases")
    first_touch = ("(SELECT c.channel FROM archive_contacts c WHERE c.customer = v.customer "
                   "AND NOT c.retracted AND c.occurred_at <= v.at "
                   "ORDER BY c.occurred_at, c.contact_id LIMIT 1)")
    last_touch = ("coalesce((SELECT c.channel FROM archive_contacts c WHERE "
                  "c.customer = v.customer AND NOT c.retracted AND c.occurred_at <= v.at "
                  "AND (v.own IS NULL OR c.contact_id <> v.own) "
                  "ORDER BY c.occurred_at DESC, c.contact_id DESC LIMIT 1), v.own_channel)")
    return (
        f"WITH {STAGES}, {OWNERS}, {STAYS}, "
        f"base AS (SELECT k.channel, {count_where(live)} AS contacts, "
        f"count(DISTINCT CASE WHEN {live} THEN k.customer END) AS customers, "
        f"{count_where('k.retracted')} AS retracted, "
        f"{counted('k.deliberate')} AS deliberate, {counted('k.hard')} AS hard, "
        f"{counted(_is('k.initiated_by', 'company'))} AS by_company, "
        f"{counted(_is('k.initiated_by', 'customer'))} AS by_customer, "
        f"{counted(_is('k.initiated_by', 'third_party'))} AS by_third_party, "
        f"{counted('k.outcome IS NOT NULL')} AS judged, "
        f"{counted(_is('k.outcome', 'positive'))} AS positive, "
        f"{counted(_is('k.outcome', 'neutral'))} AS neutral, "
        f"{counted(_is('k.outcome', 'negative'))} AS negative, "
        f"{counted(purchase_of('k.'))} AS purchases, "
        f"sum(CASE WHEN {live} THEN k.amount_value END) AS revenue "
        f"FROM archive_contacts k WHERE {picked} GROUP BY k.channel), "
        "bought AS (SELECT k.customer, k.contact_id, k.channel, k.occurred_at, "
        f"k.amount_value FROM archive_contacts k WHERE {picked} AND {live} "
        f"AND {purchase_of('k.')}), "
        # c + N days >= p, written as c >= p - N days: a seek in the customer's contacts
        "influenced AS (SELECT DISTINCT c.channel, p.customer, p.contact_id, p.amount_value "
        "FROM bought p JOIN archive_contacts c ON c.customer = p.customer "
        f"AND c.occurred_at >= {f.d.shifted('p.occurred_at', f.d.days_literal(-days))} "
        "AND c.occurred_at < p.occurred_at AND NOT c.retracted), "
        "after AS (SELECT channel, count(*) AS purchases, sum(amount_value) AS revenue "
        "FROM influenced GROUP BY channel), "
        "conversions AS (SELECT 'purchase' AS kind, customer, occurred_at AS at, "
        "contact_id AS own, channel AS own_channel FROM bought UNION ALL "
        "SELECT 'commitment', s.customer, s.entered_at, NULL, NULL FROM stays s "
        f"WHERE s.to_stage = 'commitment' AND {f.period('s.entered_at')} "
        f"AND {f.owned('s.customer')}), "
        f"touches AS (SELECT v.kind, {first_touch} AS first_channel, "
        f"{last_touch} AS last_channel FROM conversions v), "
        f"firsts AS (SELECT first_channel AS channel, {kinds} FROM touches "
        "GROUP BY first_channel), "
        f"lasts AS (SELECT last_channel AS channel, {kinds} FROM touches "
        "GROUP BY last_channel), "
        "every AS (SELECT channel FROM base UNION SELECT channel FROM after UNION "
        "SELECT channel FROM firsts UNION SELECT channel FROM lasts) "
        "SELECT e.channel, CAST(coalesce(b.contacts, 0) AS INTEGER) AS contacts, "
        "CAST(coalesce(b.customers, 0) AS INTEGER) AS customers, "
        f"{share('b.deliberate', 'b.contacts')} AS deliberate_share, "
        f"{share('b.contacts - b.deliberate', 'b.contacts')} AS spontaneous_share, "
        f"{share('b.hard', 'b.contacts')} AS hard_share, "
        f"{share('b.contacts - b.hard', 'b.contacts')} AS soft_share, "
        f"{share('b.by_company', 'b.contacts')} AS company_share, "
        f"{share('b.by_customer', 'b.contacts')} AS customer_share, "
        f"{share('b.by_third_party', 'b.contacts')} AS third_party_share, "
        f"{share('b.positive', 'b.judged')} AS positive_rate, "
        f"{share('b.neutral', 'b.judged')} AS neutral_rate, "
        f"{share('b.negative', 'b.judged')} AS negative_rate, "
        f"{share('b.retracted', 'b.contacts + b.retracted')} AS retracted_share, "
        "CAST(coalesce(b.purchases, 0) AS INTEGER) AS purchases, "
        f"{f.money('b.revenue')} AS revenue, "
        "CAST(coalesce(a.purchases, 0) AS INTEGER) AS purchases_after, "
        f"{f.money('a.revenue')} AS revenue_after, "
        "CAST(coalesce(fi.commitments, 0) AS INTEGER) AS first_touch_commitments, "
        "CAST(coalesce(la.commitments, 0) AS INTEGER) AS last_touch_commitments, "
        "CAST(coalesce(fi.purchases, 0) AS INTEGER) AS first_touch_purchases, "
        "CAST(coalesce(la.purchases, 0) AS INTEGER) AS last_touch_purchases "
        "FROM every e LEFT JOIN base b ON b.channel = e.channel "
        "LEFT JOIN after a ON a.channel = e.channel "
        "LEFT JOIN firsts fi ON fi.channel = e.channel "
        "LEFT JOIN lasts la ON la.channel = e.channel "
        f"WHERE e.channel IS NOT NULL AND {f.channel('e.channel')} "
        f"ORDER BY e.channel{f.d.collate('text')}")


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
    later month how many of them had a live contact (a purchase is one) that month."""
    d = f.d
    after = ("(CAST(substr(c.month, 1, 4) AS INTEGER) - CAST(substr(c.cohort, 1, 4) AS "
             "INTEGER)) * 12 + CAST(substr(c.month, 6, 2) AS INTEGER) - "
             "CAST(substr(c.cohort, 6, 2) AS INTEGER)")
    until = "k.occurred_at < :until_end" if "until_end" in f.params else "1 = 1"
    chosen = " AND ".join(
        [*(["cohort >= " + d.month(":since")] if "since" in f.params else []),
         *(["cohort <= " + d.month(":until")] if "until" in f.params else [])]) or "1 = 1"
    return (
        # The months each customer was active in, found in one pass over the contacts.
        f"WITH RECURSIVE {OWNERS}, active AS MATERIALIZED (SELECT k.customer, "
        f"{d.month('k.occurred_at')} AS month FROM archive_contacts k "
        f"WHERE NOT k.retracted AND {until} AND {f.owned('k.customer')} GROUP BY 1, 2), "
        "firsts AS MATERIALIZED (SELECT customer, min(month) AS cohort FROM active "
        "GROUP BY customer), "
        "members AS (SELECT cohort, count(*) AS customers FROM firsts "
        f"WHERE {chosen} GROUP BY cohort), "
        f"{f.months('(SELECT min(cohort) FROM members)', '(SELECT max(month) FROM active)')}, "
        "cells AS (SELECT m.cohort, mo.month FROM members m JOIN months mo "
        "ON mo.month >= m.cohort), "
        "counts AS (SELECT f.cohort, a.month, count(*) AS active FROM firsts f "
        "JOIN active a ON a.customer = f.customer GROUP BY f.cohort, a.month) "
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
