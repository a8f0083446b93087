"""The channels report (the design documents' contact analysis), in two forms.

Without an owner and with the default N days, it reads the archive's summary per month
and channel (``report_channel_months``, and ``report_channel_customers`` without a period:
docs/reporting.md "Report summaries"), thousands of rows whatever the log's size; the days
of a period outside its whole months, the customers reached in a period and the first and
last touches of commitments are counted from the detail tables. For an owner or another N
it counts the contact rows themselves. The two give the same numbers
(tests/integration/test_report_summaries.py).
"""

from __future__ import annotations

from touchlog.projections.engine.schema import (
    REPORT_CHANNEL_MONTHS,
    SUMMARY_WITHIN_DAYS,
    purchase_of,
)
from touchlog.projections.reports.frame import OWNERS, Frame, count_where
from touchlog.projections.reports.stays import STAYS

LIVE = "NOT k.retracted"
# The first and last live contact by a conversion ``v`` (at ``v.at``; a purchase's last
# touch is the contact before it, ``v.own``, or its own channel when there is none).
FIRST_TOUCH = ("(SELECT c.channel FROM archive_contacts c WHERE c.customer = v.customer "
               "AND NOT c.retracted AND c.occurred_at <= v.at "
               "ORDER BY c.occurred_at, c.contact_id LIMIT 1)")
LAST_TOUCH = ("coalesce((SELECT c.channel FROM archive_contacts c WHERE "
              "c.customer = v.customer AND NOT c.retracted AND c.occurred_at <= v.at "
              "AND (v.own IS NULL OR c.contact_id <> v.own) "
              "ORDER BY c.occurred_at DESC, c.contact_id DESC LIMIT 1), v.own_channel)")
# What is added up per channel: the counts and amounts of report_channel_months, in its
# column order; an amount (``revenue``, ``revenue_after``) is added as its number.
SUMS = ("contacts", "retracted", "deliberate", "hard", "by_company", "by_customer",
        "by_third_party", "judged", "positive", "neutral", "negative", "purchases",
        "revenue", "purchases_after", "revenue_after", "first_touch_purchases",
        "last_touch_purchases")
NUMBERS = {amount: number for number, amount in REPORT_CHANNEL_MONTHS.numbers}


def _is(column: str, value: str) -> str:
    return f"{column} = '{value}'"


def channels(f: Frame) -> str:
    """Per channel, the contacts of the period: live contacts and customers reached, the
    classification's shares, outcome rates, the retracted share, purchases and revenue
    through it, purchases (and revenue) within N days after a contact through it, and the
    first and last touches of the period's commitments and purchases."""
    summarised = f.summarised and f.w.within_days == SUMMARY_WITHIN_DAYS
    picked = f"{f.period('k.occurred_at')} AND {f.owned('k.customer')}"
    if summarised:
        edges = f.edges("k.occurred_at")
        parts = [f"SELECT channel, {', '.join(_summary_column(n) for n in SUMS)} "
                 f"FROM report_channel_months WHERE {f.whole_months('month')}"]
        if edges is not None:
            parts.append(f"SELECT channel, {', '.join(SUMS)} FROM edge")
        counted = (_counted(f, "edge", f"({edges})") + ", " if edges is not None else "")
        counted += (f"b AS (SELECT channel, {', '.join(f'sum({n}) AS {n}' for n in SUMS)} "
                    f"FROM ({' UNION ALL '.join(parts)}) s GROUP BY channel)")
        reached = ("SELECT channel, customers FROM report_channel_customers"
                   if not f.has_period else _reached(picked))
    else:
        counted = _counted(f, "b", picked)
        reached = _reached(picked)
    return (
        f"WITH {OWNERS}, {STAYS}, {counted}, r AS ({reached}), "
        "commitments AS (SELECT s.customer, s.entered_at AS at, NULL AS own, "
        "NULL AS own_channel FROM stays s WHERE s.to_stage = 'commitment' "
        f"AND {f.period('s.entered_at')} AND {f.owned('s.customer')}), "
        f"touches AS (SELECT {FIRST_TOUCH} AS first_channel, {LAST_TOUCH} AS last_channel "
        "FROM commitments v), "
        "fi AS (SELECT first_channel AS channel, count(*) AS commitments FROM touches "
        "GROUP BY first_channel), "
        "la AS (SELECT last_channel AS channel, count(*) AS commitments FROM touches "
        "GROUP BY last_channel), "
        "every AS (SELECT channel FROM b UNION SELECT channel FROM fi UNION "
        "SELECT channel FROM la) "
        f"SELECT e.channel, {_columns(f)} "
        "FROM every e LEFT JOIN b ON b.channel = e.channel "
        "LEFT JOIN r ON r.channel = e.channel "
        "LEFT JOIN fi ON fi.channel = e.channel LEFT JOIN la ON la.channel = e.channel "
        f"WHERE e.channel IS NOT NULL AND {f.channel('e.channel')} "
        f"ORDER BY e.channel{f.d.collate('text')}")


def _summary_column(name: str) -> str:
    return f"{NUMBERS[name]} AS {name}" if name in NUMBERS else name


def _reached(picked: str) -> str:
    """The customers each channel's live contacts ``picked`` reached."""
    return ("SELECT k.channel, count(DISTINCT k.customer) AS customers "
            f"FROM archive_contacts k WHERE {LIVE} AND {picked} GROUP BY k.channel")


def _counted(f: Frame, name: str, picked: str) -> str:
    """CTEs ending in ``name``: per channel the SUMS of the contacts ``picked`` (a condition
    on ``k``): their counts, and their live purchases' touches (the channels of the live
    contacts in the N days before each, its first and last touch)."""
    days = f.w.within_days

    def counted(condition: str) -> str:  # live contacts that meet the condition
        return count_where(f"{LIVE} AND {condition}")

    zeros = {n: "NULL" if n in NUMBERS else "0" for n in SUMS}

    def row(channel: str, **values: str) -> str:  # a row of SUMS, zero where not given
        return f"SELECT {channel} AS channel, " + ", ".join(
            f"{values.get(n, zeros[n])} AS {n}" for n in SUMS)

    return (
        f"{name}_base AS (SELECT k.channel, {count_where(LIVE)} AS contacts, "
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
        f"sum(CASE WHEN {LIVE} THEN k.amount_value END) AS revenue "
        f"FROM archive_contacts k WHERE {picked} GROUP BY k.channel), "
        f"{name}_bought AS (SELECT k.customer, k.contact_id AS own, k.channel AS own_channel, "
        f"k.occurred_at AS at, k.amount_value FROM archive_contacts k WHERE {picked} "
        f"AND {LIVE} AND {purchase_of('k.')}), "
        # c + N days >= p, written as c >= p - N days: a seek in the customer's contacts
        f"{name}_influenced AS (SELECT DISTINCT c.channel, p.customer, p.own, p.amount_value "
        f"FROM {name}_bought p JOIN archive_contacts c ON c.customer = p.customer "
        f"AND c.occurred_at >= {f.d.shifted('p.at', f.d.days_literal(-days))} "
        "AND c.occurred_at < p.at AND NOT c.retracted), "
        f"{name}_touches AS (SELECT {FIRST_TOUCH} AS first_channel, "
        f"{LAST_TOUCH} AS last_channel FROM {name}_bought v), "
        f"{name} AS (SELECT channel, {', '.join(f'sum({n}) AS {n}' for n in SUMS)} FROM ("
        + row("channel", **{n: n for n in SUMS if n not in _AFTER})
        + f" FROM {name}_base UNION ALL "
        + row("channel", purchases_after="count(*)", revenue_after="sum(amount_value)")
        + f" FROM {name}_influenced GROUP BY channel UNION ALL "
        + row("first_channel", first_touch_purchases="1") + f" FROM {name}_touches UNION ALL "
        + row("last_channel", last_touch_purchases="1") + f" FROM {name}_touches"
        + ") s GROUP BY channel)")


# The SUMS that come from the purchases' touches rather than from the contacts' rows.
_AFTER = ("purchases_after", "revenue_after", "first_touch_purchases", "last_touch_purchases")


def _columns(f: Frame) -> str:
    """The report's columns: from CTEs ``b`` (per channel the SUMS), ``r`` (the customers
    reached), ``fi`` and ``la`` (the commitments' first and last touches)."""
    share = f.share
    return (
        "CAST(coalesce(b.contacts, 0) AS INTEGER) AS contacts, "
        "CAST(coalesce(r.customers, 0) AS INTEGER) AS customers, "
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
        "CAST(coalesce(b.purchases_after, 0) AS INTEGER) AS purchases_after, "
        f"{f.money('b.revenue_after')} AS revenue_after, "
        "CAST(coalesce(fi.commitments, 0) AS INTEGER) AS first_touch_commitments, "
        "CAST(coalesce(la.commitments, 0) AS INTEGER) AS last_touch_commitments, "
        "CAST(coalesce(b.first_touch_purchases, 0) AS INTEGER) AS first_touch_purchases, "
        "CAST(coalesce(b.last_touch_purchases, 0) AS INTEGER) AS last_touch_purchases")
