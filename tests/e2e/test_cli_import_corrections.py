"""Corrections at scale end to end, on SQLite and PostgreSQL: a contact id stored with other
content (``--on-change``, ``contact log --id``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import Result

from tests.cli import run
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings

HEADER = "customer,occurred_at,channel,contact_id,amount,summary\n"
ROWS = ["ACME,2018-01-05,phone,c-1,10.00,first", "ACME,2018-01-06,email,c-2,20.00,second",
        "BETA,2018-01-07,phone,c-3,30.00,third"]


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


def test_the_same_file_again_after_a_correction_is_a_duplicate(db_url: str,
                                                               tmp_path: Path) -> None:
    path = csv_file(tmp_path, "a.csv", ROWS)
    data(run(db_url, "import", path))
    data(run(db_url, "contact", "amend", "c-2", "--customer", "ACME", "--amount", "21.00"))
    again = data(run(db_url, "import", path, "--format", "json"))
    assert (again["duplicates"], again["changed"]) == (3, 0)
    assert amounts(db_url, "ACME")["c-2"] == ("21.00", "second")


PLAIN = ["ACME,2018-01-05,phone,,10.00,first", "ACME,2018-01-06,email,,20.00,second",
         "BETA,2018-01-07,phone,,30.00,third"]


def live(db: str, customer: str) -> list[tuple[str | None, str | None]]:
    rows = data(run(db, "timeline", customer, "--format", "json"))
    return sorted(((row["amount"], row["summary"]) for row in rows if row["type"] == "contact"),
                  key=str)


def stored(db: str) -> int:
    with TouchpointLog(Settings.load(db=db), create=False) as log:
        return int(log.recorder.max_notification_id() or 0)


def test_undo_retracts_what_an_import_added_and_a_reimport_restores_it(
        db_url: str, tmp_path: Path) -> None:
    data(run(db_url, "contact", "log", "ACME", "--channel", "meeting", "--at", "2017-12-01"))
    path = csv_file(tmp_path, "plain.csv", PLAIN)
    first = data(run(db_url, "import", path, "--format", "json"))
    before = (live(db_url, "ACME"), live(db_url, "BETA"))
    undone = data(run(db_url, "imports", "undo", first["import"], "--reason", "wrong file",
                      "--format", "json"))
    assert (undone["retracted"], undone["cancelled"], undone["already_undone"]) == (3, 0, False)
    assert any("customer(s) it registered stay registered" in s for s in undone["not_undone"])
    assert live(db_url, "ACME") == [(None, None)] and live(db_url, "BETA") == []
    verified(db_url)
    count = stored(db_url)
    again = run(db_url, "imports", "undo", first["import"], "--reason", "wrong file",
                "--format", "json")
    assert json.loads(again.stdout)["retracted"] == 0 and "undone already" in again.stderr
    assert stored(db_url) == count  # idempotent: nothing new recorded
    record = data(run(db_url, "imports", "show", first["import"], "--format", "json"))
    assert record["status"] == "undone" and record["undone"]["reason"] == "wrong file"
    reimported = data(run(db_url, "import", path, "--format", "json"))
    assert (reimported["imported"], reimported["duplicates"]) == (3, 0)
    assert (live(db_url, "ACME"), live(db_url, "BETA")) == before
    assert data(run(db_url, "import", path, "--format", "json"))["duplicates"] == 3
    verified(db_url)


def test_undo_cancels_the_follow_ups_the_import_scheduled(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("customer,occurred_at,channel,actor,follow_up_due\n"
                    "ACME,2018-01-05,phone,ann,2018-02-01\nACME,2018-01-06,phone,ann,\n")
    first = data(run(db_url, "import", str(path), "--format", "json"))
    undone = data(run(db_url, "imports", "undo", first["import"], "--reason", "x",
                      "--format", "json"))
    assert (undone["retracted"], undone["cancelled"]) == (2, 1)
    [cancelled] = events(db_url, "ACME", "FollowUpCancelled")
    assert cancelled.reason == "x"
    assert cancelled.source == {"undo": first["import"]}
    verified(db_url)


def test_an_import_amended_since_is_undone_only_with_force(db_url: str, tmp_path: Path) -> None:
    first = data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS), "--format", "json"))
    data(run(db_url, "contact", "amend", "c-2", "--customer", "ACME", "--amount", "21.00"))
    refused = run(db_url, "imports", "undo", first["import"], "--reason", "x")
    assert refused.exit_code == 1 and "c-2 (ACME)" in refused.stderr
    assert "--force" in refused.stderr and live(db_url, "BETA") == [("30.00", "third")]
    forced = data(run(db_url, "imports", "undo", first["import"], "--reason", "x", "--force",
                      "--format", "json"))
    assert (forced["retracted"], forced["amended_since"]) == (3, ["c-2"])
    verified(db_url)


def test_replaces_equals_undo_then_import(db_url: str, tmp_path: Path) -> None:
    wrong = csv_file(tmp_path, "wrong.csv", PLAIN)
    right = csv_file(tmp_path, "right.csv", [PLAIN[0], "ACME,2018-01-06,email,,25.00,second",
                                              PLAIN[2]])
    first = data(run(db_url, "import", wrong, "--format", "json"))
    replaced = data(run(db_url, "import", right, "--replaces", first["import"],
                        "--format", "json"))
    assert replaced["replaced"]["retracted"] == 3 and replaced["imported"] == 3
    assert data(run(db_url, "imports", "show", replaced["import"], "--format",
                    "json"))["replaces"] == first["import"]
    after_replace = (live(db_url, "ACME"), live(db_url, "BETA"))
    verified(db_url)
    other = str(tmp_path / "other.db")
    undone = data(run(other, "import", wrong, "--format", "json"))
    data(run(other, "imports", "undo", undone["import"], "--reason", "x"))
    data(run(other, "import", right))
    assert (live(other, "ACME"), live(other, "BETA")) == after_replace
    assert after_replace[0] == [("10.00", "first"), ("25.00", "second")]


def test_replaces_an_unknown_import_is_refused_before_reading_the_file(
        db_url: str, tmp_path: Path) -> None:
    data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS)))
    refused = run(db_url, "import", csv_file(tmp_path, "b.csv", PLAIN), "--replaces", "i-no")
    assert refused.exit_code == 1 and "no import with id 'i-no'" in refused.stderr
    assert live(db_url, "BETA") == [("30.00", "third")]


def test_bulk_amend_from_a_file_rejects_like_the_import_and_runs_exactly_once(
        db_url: str, tmp_path: Path) -> None:
    data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS)))
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("contact_id,amount,summary,reason\nc-1,11.00,,typo\nc-2,,second?,\n"
                     "c-9,1.00,,\nc-3,abc,,\n")
    result = run(db_url, "contact", "amend", "--from", str(fixes), "--format", "json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["amended"], summary["rejected"]) == (4, 2, 2)
    assert "line 4: contact_id: no contact with id 'c-9'" in result.stderr
    assert "line 5: amount:" in result.stderr
    assert amounts(db_url, "ACME") == {"c-1": ("11.00", "first"), "c-2": ("20.00", "second?")}
    [amendment, _] = events(db_url, "ACME", "ContactAmended")
    assert (amendment.reason, amendment.source) == ("typo", {"import": summary["import"],
                                                             "line": 2})
    again = json.loads(run(db_url, "contact", "amend", "--from", str(fixes),
                           "--format", "json").stdout)
    assert (again["amended"], again["unchanged"]) == (0, 2)
    assert len(events(db_url, "ACME", "ContactAmended")) == 2
    verified(db_url)


def test_bulk_retract_from_a_file_needs_a_reason_and_runs_exactly_once(
        db_url: str, tmp_path: Path) -> None:
    data(run(db_url, "import", csv_file(tmp_path, "a.csv", ROWS)))
    invalid = tmp_path / "invalid.csv"
    invalid.write_text("contact_id,customer,reason\nc-1,ACME,test data\nc-3,,\n")
    refused = run(db_url, "contact", "retract", "--from", str(invalid), "--format", "json")
    assert refused.exit_code == 1 and "line 3: reason: a retraction needs a reason" \
        in refused.stderr
    done = data(run(db_url, "contact", "retract", "--from", str(invalid), "--reason", "dup",
                    "--format", "json"))
    assert (done["retracted"], done["unchanged"]) == (1, 1)
    assert live(db_url, "ACME") == [("20.00", "second")] and live(db_url, "BETA") == []
    bad = tmp_path / "bad.csv"
    bad.write_text("contact_id,amount\nc-2,1.00\n")
    unknown = run(db_url, "contact", "retract", "--from", str(bad))
    assert unknown.exit_code == 1 and "unknown columns" in unknown.stderr
    verified(db_url)


def test_verify_covers_an_imports_record(sqlite_url: str, tmp_path: Path) -> None:
    import sqlite3

    data(run(sqlite_url, "import", csv_file(tmp_path, "a.csv", ROWS)))
    with sqlite3.connect(sqlite_url) as conn:
        conn.execute("UPDATE stored_events SET state = replace(state, 'a.csv', 'b.csv') "
                     "WHERE topic LIKE '%:Import.ImportStarted'")
    result = run(sqlite_url, "verify", "--format", "json")
    assert result.exit_code == 1
    assert "import i-" in result.stdout and "content_changed" in result.stdout
