"""How fast the whole log is verified (run with --runslow; prints events per second)."""

from __future__ import annotations

import time

import pytest

from touchlog.domain.application import TouchpointLog
from touchlog.domain.customer import Customer
from touchlog.domain.settings import Settings
from touchlog.projections.audit.verify import verify_chains

CUSTOMERS, CONTACTS = 5_000, 19  # 100,000 events: a registration and 19 contacts each
# Customers per save (1,000 events a transaction).
SAVE = 50


def card(n: int) -> dict[str, object]:
    return {"contact_id": f"c-{n}", "occurred_at": f"2018-01-{1 + n % 28:02d}T10:00:00+00:00",
            "channel": "phone", "initiated_by": "company", "purpose": "follow the order",
            "summary": f"call number {n} about the order", "place": None, "actor": "ann",
            "outcome": "positive", "rating": 4, "amount": "120.00", "stage_signal": None,
            "reason_category": None, "deliberate": True, "hard": False, "active": True}


@pytest.mark.slow
def test_verifying_100k_events_runs_at_tens_of_thousands_per_second(db_url: str) -> None:
    app = TouchpointLog(Settings(db=db_url))
    for start in range(0, CUSTOMERS, SAVE):
        batch = [Customer(reference=f"C{n:06d}", at="2018-01-01T00:00:00+00:00")
                 for n in range(start, start + SAVE)]
        for customer in batch:
            for n in range(CONTACTS):
                customer.log_contact(card(n))
        app.save(*batch)

    started = time.perf_counter()
    report, _ = verify_chains(app)
    seconds = time.perf_counter() - started
    app.close()

    print(f"\nverify: {report.events} events in {seconds:.2f}s = "
          f"{report.events / seconds:,.0f} events/s")
    assert report.intact and report.events == CUSTOMERS * (CONTACTS + 1)
