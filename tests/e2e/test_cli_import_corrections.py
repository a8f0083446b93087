"""Corrections at scale end to end, on SQLite and PostgreSQL: a contact id stored with other
content (``--on-change``, ``contact log --id``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings

HEADER = "customer,occurred_at,channel,contact_id,amount,summary\n"
ROWS = ["ACME,2018-01-05,phone,c-1,10.00,first", "ACME,2018-01-06,email,c-2,20.00,second",
        "BETA,2018-01-07,phone,c-3,30.00,third"]


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args])


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def csv_file(tmp_path: Path, name: str, rows: list[str]) -> str:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return str(path)


def amounts(db: str, customer: str) -> dict[str, str]:
    rows = data(run(db, "timeline", customer, "--format", "json"))
    return {row["contact_id"]: (row["amount"], row["summary"]) for row in rows}


def events(db: str, customer: str, kind: str) -> list[Any]:
    with TouchpointLog(Settings.load(db=db), create=False) as log:
        return [e for e in log.history(customer) if type(e).__name__ == kind]


def verified(db: str) -> None:
    assert run(db, "verify").exit_code == 0
    assert run(db, "verify", "--projections").exit_code == 0


def corrected(tmp_path: Path) -> str:
    return csv_file(tmp_path, "corrected.csv", [
        "ACME,2018-01-05,phone,c-1,10.00,first", "ACME,2018-01-06,email,c-2,25.00,second!",
        "BETA,2018-01-07,phone,c-3,30.00,third"])


def test_a_changed_row_is_rejected_by_default_naming_the_fields(db_url: str,
                                                                tmp_path: Path) -> None:
    data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS), "--format", "json"))
    result = run(db_url, "import", corrected(tmp_path), "--format", "json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["duplicates"], summary["changed"],
            summary["rejected"]) == (0, 2, 1, 1)
    assert "line 3: summary, amount: contact 'c-2' is already stored with a different " \
        "summary, amount (summary stored 'second', given 'second!'; amount stored '20.00', " \
        "given '25.00')" in result.stderr
    assert amounts(db_url, "ACME")["c-2"] == ("20.00", "second")


def test_a_corrected_reimport_with_amend_records_one_amendment_per_changed_row(
        db_url: str, tmp_path: Path) -> None:
    data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS)))
    summary = data(run(db_url, "import", corrected(tmp_path), "--on-change", "amend",
                       "--format", "json"))
    assert (summary["imported"], summary["duplicates"], summary["changed"],
            summary["rejected"]) == (0, 2, 1, 0)
    assert amounts(db_url, "ACME") == {"c-1": ("10.00", "first"), "c-2": ("25.00", "second!")}
    again = data(run(db_url, "import", corrected(tmp_path), "--on-change", "amend",
                     "--format", "json"))
    assert (again["duplicates"], again["changed"]) == (3, 0)  # exactly once
    [amendment] = events(db_url, "ACME", "ContactAmended")
    assert amendment.changes == {"summary": "second!", "amount": "25.00"}
    verified(db_url)


def test_skip_keeps_what_is_stored_and_counts_the_row_changed(db_url: str,
                                                               tmp_path: Path) -> None:
    data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS)))
    summary = data(run(db_url, "import", corrected(tmp_path), "--on-change", "skip",
                       "--format", "json"))
    assert (summary["changed"], summary["rejected"]) == (1, 0)
    assert amounts(db_url, "ACME")["c-2"] == ("20.00", "second")


def test_contact_log_with_a_stored_id_and_other_content_exits_1_unless_amend(
        db_url: str) -> None:
    args = ["contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05", "--id", "c-1"]
    data(run(db_url, *args, "--amount", "10.00", "--format", "json"))
    same = data(run(db_url, *args, "--amount", "10.00", "--format", "json"))
    assert same["logged"] is False
    other = run(db_url, *args, "--amount", "12.00")
    assert other.exit_code == 1
    assert "contact 'c-1' is already stored with a different amount" in other.stderr
    assert "--amend" in other.stderr and "Traceback" not in other.stderr
    amended = data(run(db_url, *args, "--amount", "12.00", "--amend", "--format", "json"))
    assert amended["amended"] == ["amount"]
    assert amounts(db_url, "ACME")["c-1"] == ("12.00", None)
    verified(db_url)


def test_every_import_is_recorded_with_its_file_actor_and_counts(db_url: str,
                                                                  tmp_path: Path) -> None:
    import hashlib

    path = csv_file(tmp_path, "a.csv", ROWS)
    summary = data(run(db_url, "import", path, "--actor", "ann", "--format", "json"))
    [listed] = data(run(db_url, "imports", "list", "--format", "json"))
    assert listed["import"] == summary["import"]
    assert (listed["file"], listed["actor"], listed["status"]) == (path, "ann", "finished")
    assert listed["file_sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert (listed["rows"], listed["imported"], listed["mapping_sha256"]) == (3, 3, None)
    assert data(run(db_url, "imports", "show", summary["import"], "--format", "json")) == listed
    [contact] = events(db_url, "BETA", "ContactLogged")
    assert contact.source == {"import": summary["import"], "line": 4}
    unknown = run(db_url, "imports", "show", "i-nothing")
    assert unknown.exit_code == 1 and "no import with id 'i-nothing'" in unknown.stderr
    verified(db_url)


def test_the_timeline_names_the_import_and_line_of_each_contact(db_url: str,
                                                                 tmp_path: Path) -> None:
    summary = data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS)))
    run(db_url, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-02-01")
    rows = data(run(db_url, "timeline", "ACME", "--sources", "--format", "json"))
    assert [r.get("source") for r in rows if r["type"] == "contact"] == [
        f"{summary['import']} line 2", f"{summary['import']} line 3", None]
    assert "source" not in data(run(db_url, "timeline", "ACME", "--format", "json"))[0]
