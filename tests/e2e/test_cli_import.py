"""``touchlog import`` end to end: messy files, rejects, strict, dry runs, re-imports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import Result

from tests.cli import run

MESSY = (
    "\ufeffcustomer,occurred_at,channel,rating,amount,stage,actor\r\n"
    "ACME,2018-03-01,meeting,5,1054.00,commitment,ann\r\n"
    "ACME,2018-01-24 3:12:16,phone,,,exploration,ann\r\n"
    ",2018-01-05,phone,,,,\r\n"
    "BOB,2018-01-05,pigeon,,,,\r\n"
    "BOB,2018-01-06,store,9,,,\r\n"
    "BOB,2018-01-07,store,,abc,,\r\n"
    "BOB,2018-01-08,store,,20.00,,\r\n"
    "BOB,2018-01-08,store,,20.00,,\r\n"
)


def write(tmp_path: Path, text: str, name: str = "in.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def summary(result: Result) -> dict[str, int]:
    """The counts of an import's summary (the id of the import it recorded aside)."""
    counts = dict(json.loads(result.stdout))
    assert str(counts.pop("import", "i-")).startswith("i-")
    return counts


def test_a_messy_file_imports_its_good_rows_and_reports_each_bad_one(
        sqlite_url: str, tmp_path: Path) -> None:
    result = run(sqlite_url, "import", write(tmp_path, MESSY), "--format", "json")
    assert result.exit_code == 1
    assert summary(result) == {"rows": 8, "imported": 4, "duplicates": 0, "changed": 0,
                               "rejected": 4, "customers": 2, "new_customers": 2,
                               "first_new_customers": ["ACME", "BOB"]}
    assert "rejected line 4: customer: required" in result.stderr
    assert "rejected line 5: channel: unknown channel" in result.stderr
    assert "rejected line 6: rating:" in result.stderr
    assert "rejected line 7: amount: not a decimal number" in result.stderr
    assert "Error: 4 row(s) rejected" in result.stderr
    stage = run(sqlite_url, "customer", "show", "ACME", "--format", "json")
    assert json.loads(stage.stdout)["stage"] == "commitment"


def test_importing_the_same_file_twice_adds_nothing_the_second_time(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, MESSY)
    run(sqlite_url, "import", path)
    again = run(sqlite_url, "import", path, "--format", "json")
    assert summary(again)["imported"] == 0
    assert summary(again)["duplicates"] == 4
    bob = json.loads(run(sqlite_url, "timeline", "BOB", "--format", "json").stdout)
    assert [e["amount"] for e in bob] == ["20.00", "20.00"]  # identical rows, two purchases


def test_rejects_file_holds_the_bad_rows_with_line_field_and_reason(
        sqlite_url: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    run(sqlite_url, "import", write(tmp_path, MESSY), "--rejects", str(rejects))
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [(r["line"], r["field"]) for r in rows] == [
        ("4", "customer"), ("5", "channel"), ("6", "rating"), ("7", "amount")]
    assert rows[1]["channel"] == "pigeon"
    assert list(rows[0])[:3] == ["customer", "occurred_at", "channel"]


def test_strict_imports_nothing_when_a_row_is_bad(sqlite_url: str, tmp_path: Path) -> None:
    assert run(sqlite_url, "contact", "log", "OTHER", "--channel", "phone",
               "--at", "2018-01-05T10:00").exit_code == 0
    result = run(sqlite_url, "import", write(tmp_path, MESSY), "--strict", "--format", "json")
    assert result.exit_code == 1
    assert summary(result)["imported"] == 0
    assert "nothing was imported (--strict)" in result.stderr
    missing = run(sqlite_url, "timeline", "ACME")
    assert (missing.exit_code, "no customer") == (1, "no customer") and \
        "no customer 'ACME'" in missing.stderr


def test_a_dry_run_writes_nothing_not_even_a_database(sqlite_url: str, tmp_path: Path) -> None:
    good = "customer,occurred_at,channel\nACME,2018-01-01,phone\nACME,2018-01-02,email\n"
    result = run(sqlite_url, "import", write(tmp_path, good), "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert summary(result) == {"rows": 2, "imported": 2, "duplicates": 0, "changed": 0,
                               "rejected": 0, "customers": 1, "new_customers": 1,
                               "first_new_customers": ["ACME"], "dry_run": True}
    assert not Path(sqlite_url).exists()


@pytest.mark.parametrize(("text", "options"), [
    ("customer,occured_at,channel\nACME,2018-01-01,phone\n", []),  # unknown column
    ("customer,occurred_at,channel\nAC\u00c9,2018-01-01,phone\n", ["latin-1"]),
    (MESSY, ["--strict"]),
    ("customer,occurred_at,channel\nACME,2018-01-01,pigeon\n", []),  # every row rejected
])
def test_a_refused_import_leaves_no_new_database_behind(
        sqlite_url: str, tmp_path: Path, text: str, options: list[str]) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode("latin-1" if "latin-1" in options else "utf-8"))
    result = run(sqlite_url, "import", str(path), *(o for o in options if o != "latin-1"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not Path(sqlite_url).exists()


def test_an_unknown_column_is_an_error_before_anything_is_imported(
        sqlite_url: str, tmp_path: Path) -> None:
    typo = "customer,occured_at,channel\nACME,2018-01-01,phone\n"
    result = run(sqlite_url, "import", write(tmp_path, typo))
    assert result.exit_code == 1
    assert "header: unknown column(s)" in result.stderr and "occured_at" in result.stderr
    assert "Traceback" not in result.output


def test_a_file_that_is_not_utf8_is_refused_before_anything_is_imported(
        sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("customer,occurred_at,channel\nAC\u00c9,2018-01-01,phone\n".encode("latin-1"))
    result = run(sqlite_url, "import", str(path))
    assert result.exit_code == 1
    assert "not UTF-8 text" in result.stderr


def test_a_missing_file_is_a_usage_error(sqlite_url: str, tmp_path: Path) -> None:
    result = run(sqlite_url, "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "No such file" in result.stderr


def test_table_output_is_quiet_without_a_terminal(sqlite_url: str, tmp_path: Path) -> None:
    good = "customer,occurred_at,channel\nACME,2018-01-01,phone\n"
    result = run(sqlite_url, "import", write(tmp_path, good), "--format", "table")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == [
        "rows", "imported", "duplicates", "changed", "rejected", "customers", "new_customers",
        "first_new_customers", "import"]
    assert result.stderr == f"created a new database at {sqlite_url}\n"  # and nothing else


def test_csv_output_is_one_summary_row(sqlite_url: str, tmp_path: Path) -> None:
    good = "customer,occurred_at,channel\nACME,2018-01-01,phone\n"
    result = run(sqlite_url, "import", write(tmp_path, good), "--format", "csv")
    header, values = result.stdout.splitlines()
    assert header == ("rows,imported,duplicates,changed,rejected,customers,new_customers,"
                      "first_new_customers,import")
    assert values.startswith('1,1,0,0,0,1,1,"[""ACME""]",i-')


def test_import_works_on_postgresql_too(pg_db_url: str, tmp_path: Path) -> None:
    result = run(pg_db_url, "import", write(tmp_path, MESSY), "--format", "json")
    assert summary(result)["imported"] == 4
    assert summary(run(pg_db_url, "import", write(tmp_path, MESSY), "--format",
                       "json"))["duplicates"] == 4
