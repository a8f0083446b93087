"""Finding customers: ``customer list`` and ``customer search``, and the "did you mean" of
every command given a reference no customer has (docs/cli.md "Customer references")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.cli import ok, run
from touchlog.cli.main import cli
from touchlog.domain.identity import closest_references


def contact(db: str, reference: str, at: str, *extra: str) -> None:
    ok(db, "contact", "log", reference, "--channel", "phone", "--at", at, *extra)


@pytest.fixture
def customers(db_url: str) -> str:
    contact(db_url, "Cancity", "2018-01-05", "--stage", "expansion", "--actor", "ann")
    contact(db_url, "Kan-code", "2018-03-01")
    contact(db_url, "00002", "2019-06-01")
    ok(db_url, "customer", "set", "Cancity", "--name", "Can City Ltd",
       "--email", "Info@CanCity.example", "--owner", "ann")
    ok(db_url, "customer", "set", "Kan-code", "--name", "Kan Çode GmbH", "--owner", "bob")
    return db_url


def test_customer_list_shows_every_customer_by_reference(customers: str) -> None:
    listed = ok(customers, "customer", "list")

    assert [r["customer"] for r in listed] == ["00002", "Cancity", "Kan-code"]
    cancity = listed[1]
    assert cancity == {
        "customer": "Cancity", "name": "Can City Ltd", "email": "Info@CanCity.example",
        "phone": None, "owner": "ann", "stage": "expansion",
        "stage_since": "2018-01-05T00:00:00+00:00", "contacts": 1,
        "last_contact_at": "2018-01-05T00:00:00+00:00", "open_follow_ups": 0}


def test_customer_list_filters_by_stage_owner_search_and_since(customers: str) -> None:
    def refs(*args: str) -> list[str]:
        return [r["customer"] for r in ok(customers, "customer", "list", *args)]

    assert refs("--stage", "expansion") == ["Cancity"]
    assert refs("--owner", "bob") == ["Kan-code"]
    assert refs("--search", "cancity.EXAMPLE") == ["Cancity"]  # the email, case ignored
    assert refs("--search", "kan çode") == ["Kan-code"]  # the name, beyond ASCII
    assert refs("--search", "KAN-") == ["Kan-code"]  # the reference
    assert refs("--since", "2018-02-01") == ["00002", "Kan-code"]
    assert refs("--since", "2018-02-01", "--owner", "bob") == ["Kan-code"]
    assert refs("--reverse", "--limit", "2") == ["Kan-code", "Cancity"]
    assert [r["customer"] for r in ok(customers, "customer", "search", "can")] == ["Cancity"]


def test_customer_list_refuses_an_unknown_stage(customers: str) -> None:
    result = run(customers, "customer", "list", "--stage", "dating")
    assert result.exit_code == 1 and "unknown stage" in result.stderr


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_customer_list_renders_tables_and_csv(customers: str, fmt: str) -> None:
    result = run(customers, "customer", "list", "--format", fmt, "--wide")
    assert result.exit_code == 0 and "Can City Ltd" in result.stdout


def test_closest_references_forgive_case_punctuation_spaces_and_leading_zeros() -> None:
    known = ["Cancity", "Kan-code", "00002", "ACME Ltd", "Birch"]
    assert closest_references("cancity", known) == ["Cancity"]
    assert closest_references("Kan code", known) == ["Kan-code"]
    assert closest_references("2", known) == ["00002"]
    assert closest_references("ACME Ltf", known) == ["ACME Ltd"]
    assert closest_references("Zebra", known) == []


def commands_needing(reference: str, folder: Path) -> list[list[str]]:
    """Every command that needs an existing customer, naming it ``reference``."""
    return [
        ["timeline", reference], ["archive", reference], ["archive", reference, "--as-of",
                                                           "2019-01-01"],
        ["stage", "show", reference], ["stage", "history", reference],
        ["customer", "show", reference], ["audit", reference],
        ["audit", reference, "--export", str(folder)], ["verify", reference],
        ["followup", "schedule", reference, "--due", "2018-03-01", "--owner", "ann"],
        ["followup", "complete", reference, "f-1"],
        ["followup", "reschedule", reference, "f-1", "--due", "2018-03-02"],
        ["followup", "cancel", reference, "f-1", "--reason", "done"],
        ["stage", "set", reference, "commitment", "--reason", "grew", "--actor", "ann"],
        ["contact", "amend", "c-1", "--customer", reference, "--summary", "amended"],
        ["contact", "retract", "c-1", "--customer", reference, "--reason", "wrong"],
    ]


@pytest.mark.parametrize(("typed", "meant"), [("cancity", "'Cancity'"),
                                              ("Kan code", "'Kan-code'"),
                                              ("2", "'00002'")])
def test_every_command_given_an_unknown_reference_names_the_closest(
        customers: str, tmp_path: Path, typed: str, meant: str) -> None:
    for args in commands_needing(typed, tmp_path / "export"):
        result = run(customers, *args)
        assert result.exit_code == 1, (args, result.output)
        assert f"no customer {typed!r}; did you mean {meant}?" in result.stderr, args
        assert "Traceback" not in result.output
    assert len(ok(customers, "customer", "list")) == 3  # none of them registered anyone


def test_an_unknown_reference_with_nothing_close_says_so_plainly(customers: str) -> None:
    result = run(customers, "timeline", "Zebra")
    assert result.exit_code == 1 and result.stderr.strip() == "Error: no customer 'Zebra'"


# -- registering new customers: said, counted, refused on request ---------------------------


def test_contact_log_of_a_new_reference_says_it_registered_a_customer(customers: str) -> None:
    result = run(customers, "contact", "log", "CanCity", "--channel", "web", "--at",
                 "2018-02-01", "--format", "json")

    assert result.exit_code == 0, result.output
    assert ("registered a new customer 'CanCity'; did you mean 'Cancity'?"
            in result.stderr)
    again = run(customers, "contact", "log", "CanCity", "--channel", "web", "--at", "2018-02-02")
    assert again.exit_code == 0 and "registered" not in again.stderr  # it exists now
    known = run(customers, "contact", "log", "Cancity", "--channel", "web", "--at", "2018-02-02")
    assert known.exit_code == 0 and known.stderr == ""


def test_contact_log_existing_only_refuses_a_new_reference(customers: str) -> None:
    result = run(customers, "contact", "log", "cancity", "--channel", "web", "--at",
                 "2018-02-01", "--existing-only")

    assert result.exit_code == 1
    assert "no customer 'cancity'; did you mean 'Cancity'?" in result.stderr
    assert len(ok(customers, "customer", "list")) == 3  # nothing recorded
    fine = run(customers, "contact", "log", "Cancity", "--channel", "web", "--at",
               "2018-02-01", "--existing-only")
    assert fine.exit_code == 0, fine.output


def test_contact_log_existing_only_creates_no_database(tmp_path: Path) -> None:
    db = str(tmp_path / "none.db")
    result = run(db, "contact", "log", "ACME", "--channel", "web", "--at", "2018-02-01",
                 "--existing-only")
    assert result.exit_code == 1 and not Path(db).exists()


ROWS = ("customer,occurred_at,channel\nCancity,2018-02-01,phone\n2,2018-02-02,phone\n"
        "NEW-1,2018-02-03,email\nNEW-2,2018-02-03,email\n")


def import_of(db: str, tmp_path: Path, *options: str) -> Result:
    path = tmp_path / "rows.csv"
    path.write_text(ROWS)
    return run(db, "import", str(path), "--format", "json", *options)


def test_import_reports_and_names_the_new_customers(customers: str, tmp_path: Path) -> None:
    dry = json.loads(import_of(customers, tmp_path, "--dry-run").stdout)
    result = import_of(customers, tmp_path)

    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["new_customers"]) == (4, 3), summary
    assert summary["first_new_customers"] == ["2", "NEW-1", "NEW-2"]
    assert (dry["new_customers"], dry["first_new_customers"]) == (3, ["2", "NEW-1", "NEW-2"])
    again = json.loads(import_of(customers, tmp_path).stdout)
    assert (again["new_customers"], again["first_new_customers"]) == (0, [])


def test_import_existing_only_rejects_the_rows_of_unknown_customers(
        customers: str, tmp_path: Path) -> None:
    result = import_of(customers, tmp_path, "--existing-only", "--rejects",
                       str(tmp_path / "rejects.csv"))

    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["rejected"], summary["new_customers"]) == (1, 3, 0)
    assert ("rejected line 3: customer: no customer '2' (--existing-only); did you mean "
            "'00002'?") in result.stderr
    rejects = (tmp_path / "rejects.csv").read_text()
    assert "NEW-1" in rejects and "NEW-2" in rejects and "Cancity" not in rejects
    assert [r["customer"] for r in ok(customers, "customer", "list")] == [
        "00002", "Cancity", "Kan-code"]


def test_import_existing_only_strict_records_nothing(customers: str, tmp_path: Path) -> None:
    result = import_of(customers, tmp_path, "--existing-only", "--strict")
    assert result.exit_code == 1 and json.loads(result.stdout)["imported"] == 0
    assert ok(customers, "customer", "list", "--search", "cancity")[0]["contacts"] == 1


# -- safety: the demo and new databases --------------------------------------------------


def test_demo_refuses_a_database_that_holds_customers_unless_forced(customers: str) -> None:
    refused = run(customers, "demo", "--customers", "3")

    assert refused.exit_code == 1
    assert "already holds 3 customer(s)" in refused.stderr and "--force" in refused.stderr
    assert len(ok(customers, "customer", "list")) == 3  # nothing added
    forced = run(customers, "demo", "--customers", "3", "--force")
    assert forced.exit_code == 0, forced.output
    assert len(ok(customers, "customer", "list")) == 6


def test_demo_fills_a_new_database(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    result = run(db, "demo", "--customers", "3")
    assert result.exit_code == 0, result.output
    assert f"created a new database at {db}" in result.stderr


def test_a_write_that_creates_a_database_says_so_once(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(cli, ["contact", "log", "A", "--channel", "web", "--at",
                                     "2018-01-01"])
    second = CliRunner().invoke(cli, ["contact", "log", "A", "--channel", "web", "--at",
                                      "2018-01-02"])

    assert first.exit_code == 0 and second.exit_code == 0
    assert "created a new database at ./touchlog.db" in first.stderr
    assert "created a new database" not in second.stderr
    assert (tmp_path / "touchlog.db").exists()


def test_commands_that_create_nothing_say_nothing_of_it(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(ROWS)
    dry = run(str(tmp_path / "dry.db"), "import", str(path), "--dry-run")
    assert dry.exit_code == 0 and "created" not in dry.stderr
    assert not (tmp_path / "dry.db").exists()
    imported = run(str(tmp_path / "new.db"), "import", str(path))
    assert f"created a new database at {tmp_path / 'new.db'}" in imported.stderr
    # A server database is named explicitly, and exists before touchlog writes to it.
    contact(db_url, "A", "2018-01-01")
    on_server = run(db_url, "contact", "log", "A", "--channel", "web", "--at", "2018-01-02")
    assert on_server.exit_code == 0 and "created" not in on_server.stderr
