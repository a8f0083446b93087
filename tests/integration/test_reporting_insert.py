"""``ReportingDB.insert``: the same rows whichever way they go in (one INSERT per row, or on
PostgreSQL from COPY_FROM rows a COPY and one INSERT), as if inserted one after the other."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from touchlog.projections.engine.postgres import COPY_FROM
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import ARCHIVE_CUSTOMERS, STAGE_CURRENT

CURRENT = STAGE_CURRENT.column_names


def current(n: int, stage: str, position: int) -> list[Any]:
    return [f"C{n:04d}", f"id{n}", stage, f"2018-01-{n % 28 + 1:02d}T10:00:00+00:00", 1,
            position, position]


def one_after_the_other(rows: list[list[Any]], replace: bool) -> dict[str, list[Any]]:
    """What inserting the rows one at a time leaves, by customer."""
    kept: dict[str, list[Any]] = {}
    for row in rows:
        if replace or row[0] not in kept:
            kept[row[0]] = row
    return kept


def stored(db: ReportingDB) -> dict[str, list[Any]]:
    return {r["customer"]: [r[c] for c in CURRENT]
            for r in db.query("SELECT * FROM stage_current")}


@pytest.mark.parametrize("count", [3, COPY_FROM + 50])
@pytest.mark.parametrize("replace", [False, True], ids=["keep", "replace"])
def test_rows_go_in_as_if_one_after_the_other(db_url: str, count: int, replace: bool) -> None:
    db = ReportingDB(db_url)
    try:
        first = [current(n, "discovery", 1) for n in range(count)]
        with db.transaction():
            db.insert("stage_current", CURRENT, first)
        # Half of them again, each twice in the batch (its later row last), and new ones.
        again = [current(n, stage, position) for n in range(0, count, 2)
                 for stage, position in (("exploration", 2), ("expansion", 3))]
        again += [current(n, "commitment", 4) for n in range(count, 2 * count)]
        with db.transaction():
            db.insert("stage_current", CURRENT, again,
                      replace_on=STAGE_CURRENT.key if replace else ())
        expected = one_after_the_other(first, True)
        expected.update({k: v for k, v in one_after_the_other(again, replace).items()
                         if replace or k not in expected})
        got = stored(db)
        assert {k: v[2] for k, v in got.items()} == {k: v[2] for k, v in expected.items()}
        assert {k: v[5] for k, v in got.items()} == {k: v[5] for k, v in expected.items()}
    finally:
        db.close()


def test_a_number_column_is_the_exact_amount_it_is_given(db_url: str) -> None:
    db = ReportingDB(db_url)
    try:
        columns = ARCHIVE_CUSTOMERS.column_names
        amounts = ["13990.93", "999.69", "0.10"]  # exact text, as the projections give them
        values = {"contacts": 1, "purchases": 0, "open_follow_ups": 0}
        rows = [[{**values, "customer": f"C{n:04d}", "customer_id": f"id{n}", "position": n,
                  "total_amount": amounts[n % 3],
                  "total_amount_value": amounts[n % 3]}.get(c) for c in columns]
                for n in range(COPY_FROM + 1)]
        with db.transaction():
            db.insert("archive_customers", columns, rows,
                      numbers=dict(ARCHIVE_CUSTOMERS.numbers))
        top = db.query("SELECT customer, total_amount_value FROM archive_customers "
                       "ORDER BY total_amount_value DESC, customer LIMIT 1")
        # A number, not text: 13,990.93 ranks above 999.69
        assert [(r["customer"], Decimal(str(r["total_amount_value"]))) for r in top] == [
            ("C0000", Decimal("13990.93"))]
        sums = db.query("SELECT count(*) AS n, sum(total_amount_value) AS s "
                        "FROM archive_customers WHERE total_amount_value < 1")
        assert sums[0]["n"] == 33
        assert round(Decimal(str(sums[0]["s"])), 2) == Decimal("3.30")
    finally:
        db.close()
