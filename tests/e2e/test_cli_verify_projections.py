"""``touchlog verify --projections`` from the command line, on both stores."""

from __future__ import annotations

import json

import pytest

from tests.cli import run
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.schema import PROJECTION_TABLES


@pytest.fixture
def projected(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("TOUCHLOG_REPORTING_DB", raising=False)
    for day, amount in ((5, "10.00"), (6, "2.50")):
        logged = run(db_url, "contact", "log", "ACME", "--channel", "phone", "--at",
                     f"2018-01-0{day}T10:00", "--actor", "ann", "--amount", amount)
        assert logged.exit_code == 0, logged.output
    assert run(db_url, "projections", "run").exit_code == 0
    return db_url


def test_intact_projections_exit_zero_with_a_digest_per_table(projected: str) -> None:
    result = run(projected, "verify", "--projections", "--format", "json")

    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["intact"] is True and out["differences"] == []
    assert out["positions"] == dict.fromkeys(("archive", "stages", "followups"), out["head"])
    assert [t["table"] for t in out["tables"]] == [  # the report summaries among them
        t.name for tables in PROJECTION_TABLES.values() for t in tables]
    assert all(t["identical"] and len(t["live_digest"]) == 64 for t in out["tables"])


def test_a_tampered_row_exits_one_naming_table_key_and_values(projected: str) -> None:
    db = ReportingDB(projected)
    try:
        assert db.execute("UPDATE archive_customers SET total_amount = ? WHERE customer = ?",
                          ("99.00", "ACME")) == 1
    finally:
        db.close()

    as_json = run(projected, "verify", "--projections", "--format", "json")
    as_table = run(projected, "verify", "--projections", "--format", "table")

    assert as_json.exit_code == as_table.exit_code == 1
    assert json.loads(as_json.output)["differences"] == [{
        "table": "archive_customers", "key": "customer=ACME", "problem": "value_differs",
        "column": "total_amount", "live": "99.00", "shadow": "12.50"}]
    header, _, row = as_table.output.splitlines()
    assert header.split() == ["table", "key", "problem", "column", "live", "shadow"]
    assert row.split() == ["archive_customers", "customer=ACME", "value_differs",
                           "total_amount", "99.00", "12.50"]


def test_projections_with_a_customer_is_a_usage_error(projected: str) -> None:
    result = run(projected, "verify", "ACME", "--projections")

    assert result.exit_code == 2
    assert "--projections takes neither a customer nor --checkpoint" in result.output
