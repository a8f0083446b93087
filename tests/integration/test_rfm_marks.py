"""The RFM scores against ranking every customer, on random histories.

The rfm report reads each measure's four quintile marks off an index on archive_customers,
merging in the customers whose statistics there are later than the reading time
(projections/reports/contact_reports.py). Here the scores are worked out the plain way
instead: each customer's recency, frequency and monetary value from its live contacts by
the reading time, and its score 1 + floor(5 (rank - 1) / n), rank - 1 being how many
customers are worse. The histories have ties in every measure (whole days, equal counts,
equal sums and sums equal to the cent), retracted contacts, and reading times before,
between and after their contacts.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact
from touchlog.domain.settings import Settings
from touchlog.projections.queries.reads import Queries
from touchlog.projections.reports.frame import Window

START = datetime(2018, 1, 1, tzinfo=UTC)
AMOUNTS = [None, None, "12.50", "3", "0.125", "0.13", "7.5"]

CONTACTS = st.lists(st.tuples(
    st.sampled_from("ABCDEFGHIJ"), st.integers(0, 30), st.sampled_from([0, 6, 18, 23]),
    st.sampled_from(AMOUNTS), st.booleans()), min_size=1, max_size=25)
READING = st.tuples(st.integers(-1, 32), st.sampled_from([0, 12]))


def expected(contacts: list[tuple[Any, ...]], as_of: datetime) -> dict[str, tuple[Any, ...]]:
    """customer -> (recency_days, frequency, monetary, r, f, m, fm), worked out plainly."""
    live: dict[str, list[tuple[datetime, Decimal]]] = {}
    for customer, at, amount, retracted in contacts:
        if not retracted and at <= as_of:
            live.setdefault(customer, []).append((at, Decimal(amount or "0")))
    facts = {c: ((as_of - max(at for at, _ in rows)) // timedelta(days=1), len(rows),
                 float(sum(a for _, a in rows).quantize(Decimal("0.01"), ROUND_HALF_UP)))
             for c, rows in live.items()}
    n = len(facts)

    def score(worse: int) -> int:
        return 1 + 5 * worse // n
    out = {}
    for c, (recency, frequency, monetary) in facts.items():
        r = score(sum(1 for o in facts.values() if o[0] > recency))
        f = score(sum(1 for o in facts.values() if o[1] < frequency))
        m = score(sum(1 for o in facts.values() if o[2] < monetary))
        out[c] = (recency, frequency, monetary, r, f, m, (f + m + 1) // 2)
    return out


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(CONTACTS, READING)
def test_rfm_scores_equal_ranking_every_customer(drawn: list[tuple[Any, ...]],
                                                 reading: tuple[int, int]) -> None:
    as_of = START + timedelta(days=reading[0], hours=reading[1])
    contacts = {}  # by contact id: the same contact logged twice is one
    with tempfile.TemporaryDirectory() as folder, \
            TouchpointLog(Settings(db=str(Path(folder) / "t.db"))) as log:
        for customer, day, hour, amount, retract in drawn:
            at = START + timedelta(days=day, hours=hour)
            logged = log.log_contact(customer, Contact(
                occurred_at=at.isoformat(), channel="phone", amount=amount))
            retracted = contacts.get(logged.contact_id, (False,))[-1]
            if retract and not retracted:
                log.retract_contact(customer, logged.contact_id, "invalid")
            contacts[logged.contact_id] = (customer, at, amount, retract or retracted)
        queries = Queries(log)
        try:
            rows = queries.report("rfm-customers", Window(as_of=as_of))
            segments = queries.report("rfm", Window(as_of=as_of))
        finally:
            queries.close()
    scored = {r["customer"]: (r["recency_days"], r["frequency"], r["monetary"], r["r"], r["f"],
                              r["m"], r["fm"]) for r in rows}
    assert scored == expected(list(contacts.values()), as_of)
    assert sum(s["customers"] for s in segments) == len(rows)
