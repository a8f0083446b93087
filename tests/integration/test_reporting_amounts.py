"""Amounts in the reporting tables sort and sum as numbers in any SQL client, on SQLite too,
and the exact text stays beside them (docs/reporting.md "Amounts")."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from click.testing import CliRunner

from tests.sql_client import sql
from touchlog.cli.main import cli


def touchlog(db: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def purchase(db: str, customer: str, day: int, amount: str, contact_id: str) -> None:
    touchlog(db, "contact", "log", customer, "--channel", "store", "--at", f"2018-01-{day:02d}",
             "--amount", amount, "--id", contact_id)


def seeded(db: str) -> None:
    purchase(db, "ACME", 5, "999.69", "a1")
    purchase(db, "ACME", 6, "13990.93", "a2")
    purchase(db, "GLOBEX", 7, "5.5", "g1")
    purchase(db, "GLOBEX", 8, "0.000000000001", "g2")
    touchlog(db, "archive")  # brings the tables up to date


def test_amount_values_sort_and_sum_as_numbers_beside_the_exact_text(db_url: str) -> None:
    seeded(db_url)
    ranked = sql(db_url, "SELECT amount, amount_value FROM archive_contacts "
                         "ORDER BY amount_value DESC")
    assert [str(amount) for amount, _ in ranked] == [
        "13990.93", "999.69", "5.5", "1E-12" if db_url.startswith("postgresql") else
        "0.000000000001"]
    assert [Decimal(str(value)) for _, value in ranked][:3] == [
        Decimal("13990.93"), Decimal("999.69"), Decimal("5.5")]
    [(total,)] = sql(db_url, "SELECT sum(amount_value) FROM archive_contacts")
    assert round(Decimal(str(total)), 2) == Decimal("14996.12")
    totals = sql(db_url, "SELECT customer, total_amount, total_amount_value "
                         "FROM archive_customers ORDER BY total_amount_value DESC")
    assert [(c, str(exact)) for c, exact, _ in totals] == [
        ("ACME", "14990.62"), ("GLOBEX", "5.500000000001")]


def test_an_amendment_and_a_retraction_move_the_numbers_with_the_text(db_url: str) -> None:
    seeded(db_url)
    touchlog(db_url, "contact", "amend", "a1", "--amount", "20000.00", "--reason", "typo")
    touchlog(db_url, "contact", "retract", "g1", "--reason", "duplicate")
    touchlog(db_url, "archive")
    values = dict(sql(db_url, "SELECT contact_id, amount_value FROM archive_contacts"))
    assert float(values["a1"]) == 20000.0
    totals = dict(sql(db_url, "SELECT customer, total_amount_value FROM archive_customers"))
    assert float(totals["ACME"]) == 33990.93
    assert float(totals["GLOBEX"]) == 1e-12


def test_tables_an_earlier_version_made_get_the_number_columns_filled(db_url: str) -> None:
    from touchlog.projections.engine.schema import ARCHIVE_CONTACTS, ARCHIVE_CUSTOMERS
    from touchlog.projections.reports.catalogue import REPORTS

    seeded(db_url)
    for report in REPORTS.values():  # an earlier version had neither views nor columns,
        sql(db_url, f"DROP VIEW {report.view}")
    for table, column in ((ARCHIVE_CONTACTS, "amount_value"),
                          (ARCHIVE_CUSTOMERS, "total_amount_value")):
        for index in table.indexes:  # nor indexes of those columns
            if column in index:
                sql(db_url, f"DROP INDEX {table.index_name(index)}")
        sql(db_url, f"ALTER TABLE {table.name} DROP COLUMN {column}")
    archive = json.loads(touchlog(db_url, "archive", "--format", "json"))
    assert [r["total_amount"] for r in archive] == ["14990.62", "5.500000000001"]
    totals = sql(db_url, "SELECT customer FROM archive_customers ORDER BY total_amount_value")
    assert totals == [("GLOBEX",), ("ACME",)]
    verified = CliRunner().invoke(cli, ["--db", db_url, "verify", "--projections"])
    assert verified.exit_code == 0, verified.output
