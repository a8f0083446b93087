"""Every kind of fact from a file (docs/import.md "Kinds of rows"), and follow-ups dated in
the past with ``--at``, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from click.testing import Result

from tests.cli import run

COLUMNS = ("kind,customer,occurred_at,channel,actor,contact_id,follow_up_id,at,due_at,owner,"
           "purpose,reason,to_stage,reason_category,name,email\n")
# One of each kind, in no particular order: the import applies them by customer and time.
MIXED = COLUMNS + (
    "follow_up_completed,ACME,,,bob,c-1,t-1,2017-03-10,,,,,,,,\n"
    ",ACME,2017-03-01T10:00,phone,bob,c-1,,,,,,,,,,\n"
    "follow_up_scheduled,ACME,,,,,t-1,2017-03-01T10:00,2017-03-08,,send the offer,,,,,\n"
    "profile,ACME,,,,,,,,ann,,,,,Acme Ltd,info@acme.example\n"
    "follow_up_scheduled,ACME,,,,,t-2,2017-03-02,2017-04-08,,demo,,,,,\n"
    "follow_up_rescheduled,ACME,,,,,t-2,2017-03-05,2017-04-15,,,on holiday,,,,\n"
    "follow_up_rescheduled,ACME,,,,,t-2,2017-03-20,2017-04-08,,,back early,,,,\n"
    "follow_up_cancelled,ACME,,,,,t-2,2017-04-01,,,,no longer needed,,,,\n"
    "stage_changed,ACME,,,,,,2017-05-01,,,,moved away,dissolution,moved_away,,\n"
    "contact,BOB,2017-02-01,email,ann,c-2,,,,,,,,,,\n"
    "retraction,BOB,,,,c-2,,,,,,wrong customer,,,,\n"
    "follow_up_scheduled,BOB,,,,,,2017-02-01,2017-02-10,ann,,,,,,\n"
)


def data(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write(tmp_path: Path, text: str, name: str = "in.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def imported(db: str, *args: str) -> dict[str, Any]:
    """Imports, then checks the log and every projection against it."""
    result = run(db, "import", *args, "--format", "json")
    assert run(db, "verify").exit_code == 0
    assert run(db, "verify", "--projections").exit_code == 0, "projections differ"
    return dict(json.loads(result.stdout))


def timeline(db: str, customer: str) -> list[tuple[str, str, str | None]]:
    entries = data(run(db, "timeline", customer, "--include-retracted", "--format", "json"))
    return [(e["type"], e["at"][:10], e.get("follow_up_id")) for e in entries]


def test_a_file_of_every_kind_records_each_fact_once_in_time_order(
        db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    first = imported(db_url, path)
    assert (first["imported"], first["duplicates"], first["rejected"]) == (12, 0, 0)
    assert first["kinds"] == {"follow_up_completed": 1, "contact": 2, "follow_up_scheduled": 3,
                              "profile": 1, "follow_up_rescheduled": 2,
                              "follow_up_cancelled": 1, "stage_changed": 1, "retraction": 1}
    again = imported(db_url, path)
    # The second reschedule moved t-2 back to its first due time: the first is still known.
    assert (again["imported"], again["duplicates"], again["rejected"]) == (0, 12, 0)

    assert timeline(db_url, "ACME") == [
        ("contact", "2017-03-01", None),
        ("follow_up_scheduled", "2017-03-01", "t-1"),
        ("follow_up_scheduled", "2017-03-02", "t-2"),
        ("follow_up_rescheduled", "2017-03-05", "t-2"),
        ("follow_up_completed", "2017-03-10", "t-1"),
        ("follow_up_rescheduled", "2017-03-20", "t-2"),
        ("follow_up_cancelled", "2017-04-01", "t-2"),
        ("stage_changed", "2017-05-01", None),
    ]
    acme = data(run(db_url, "customer", "show", "ACME", "--format", "json"))
    assert (acme["owner"], acme["name"], acme["email"]) == ("ann", "Acme Ltd",
                                                            "info@acme.example")
    assert acme["stage"] == "dissolution"
    bob = data(run(db_url, "customer", "show", "BOB", "--format", "json"))
    assert (bob["contacts"], bob["retracted_contacts"], len(bob["open_follow_ups"])) == (1, 1, 1)


def test_profile_rows_of_one_customer_are_one_update_so_a_rerun_adds_nothing(
        db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "customer,owner,name\nACME,ann,Acme\nACME,bob,\nGLOBEX,,Globex\n")
    first = imported(db_url, path, "--kind", "profile")
    assert (first["imported"], first["rejected"], first["customers"]) == (2, 0, 2)
    acme = data(run(db_url, "customer", "show", "ACME", "--format", "json"))
    assert (acme["owner"], acme["name"]) == ("bob", "Acme")
    again = imported(db_url, path, "--kind", "profile")
    assert (again["imported"], again["duplicates"]) == (0, 2)


def test_a_file_of_one_kind_refuses_another_kinds_columns(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    path = write(tmp_path, "customer,owner,channel\nACME,ann,phone\n")
    result = run(sqlite_url, "import", path, "--kind", "profile")
    assert result.exit_code == 1
    assert "unknown column(s) for kind profile; known columns: customer, owner, name, " \
        "email, phone, and attr.NAME for a declared attribute (got ['channel'])" \
        in result.stderr
    missing = run(sqlite_url, "import", write(tmp_path, "customer,at\nACME,2017-01-01\n"),
                  "--kind", "follow_up_completed")
    assert "missing required column(s) for kind follow_up_completed" in missing.stderr
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


REJECTED = COLUMNS + (
    "follow_up_scheduled,ACME,,,,,t-1,2017-03-01,2017-03-08,ann,,,,,,\n"
    "meeting,ACME,,,,,,,,,,,,,,\n"
    "follow_up_completed,ACME,,,,,t-9,2017-03-10,,,,,,,,\n"
    "follow_up_completed,ACME,,,,,t-1,2017-02-01,,,,,,,,\n"
    "follow_up_cancelled,ACME,,,,,t-1,2017-03-10,,,,,,,,\n"
    "follow_up_completed,ACME,,,,,t-1,2999-01-01,,,,,,,,\n"
    "follow_up_scheduled,ACME,,,,,t-3,2017-03-01,,ann,,,,,,\n"
    "retraction,ACME,,,,c-404,,,,,,typo,,,,\n"
    "stage_changed,ACME,,,,,,2017-03-01,,,,why,commitment,moved_away,,\n"
    "follow_up_scheduled,NEW,,,,,t-4,2017-03-01,2017-03-08,,,,,,,\n"
)


def test_rejects_name_line_field_and_reason_for_every_kind(
        db_url: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = run(db_url, "import", write(tmp_path, REJECTED), "--rejects", str(rejects),
                 "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["imported"] == 1
    errors = result.stderr
    assert "rejected line 3: kind: unknown kind; known: contact, follow_up_scheduled" in errors
    assert "rejected line 4: follow_up_id: no follow-up with this id for this customer" in errors
    assert "rejected line 5: follow_up_id: no follow-up with this id for this customer by " \
        "then" in errors  # the completion is dated before the scheduling
    assert "rejected line 6: reason: required for a follow_up_cancelled row" in errors
    assert "rejected line 7: at: a follow-up cannot be completed in the future" in errors
    assert "rejected line 8: due_at: required for a follow_up_scheduled row" in errors
    assert "rejected line 9: contact_id: no contact with this id for this customer" in errors
    assert "rejected line 10: reason_category: a reason category says why" in errors
    assert "rejected line 11: owner: a follow-up needs an owner" in errors
    with rejects.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted((int(r["line"]), r["field"]) for r in rows) == [
        (3, "kind"), (4, "follow_up_id"), (5, "follow_up_id"), (6, "reason"), (7, "at"),
        (8, "due_at"), (9, "contact_id"), (10, "reason_category"), (11, "owner")]
    assert rejects.read_text(encoding="utf-8").splitlines()[0] == COLUMNS.strip() + \
        ",line,field,reason"  # the input's reason column keeps its own values
    again = run(db_url, "import", str(rejects), "--format", "json")  # read back as it is
    assert (json.loads(again.stdout)["rejected"], json.loads(again.stdout)["imported"]) == (9, 0)
    assert run(db_url, "customer", "show", "NEW").exit_code == 1  # nothing of it recorded
    assert run(db_url, "verify", "--projections").exit_code == 0


def test_a_column_the_file_lacks_rejects_the_rows_of_the_kinds_that_need_it(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "kind,customer,at,owner\n"
                           "follow_up_scheduled,ACME,2017-03-01,ann\nprofile,ACME,,ann\n")
    result = run(sqlite_url, "import", path, "--format", "json")
    assert json.loads(result.stdout)["imported"] == 1
    assert ("rejected line 2: due_at: required for a follow_up_scheduled row (the file has no "
            "such column)") in result.stderr


MAPPING = """
[source]
timezone = "UTC"

[[records]]
name = "task"
kind = "follow_up_scheduled"
when = { column = "Type", in = ["Task"] }
[records.fields]
customer = "{Account}"
follow_up_id = "{Task ID}"
at = { column = "Created", formats = ["%d.%m.%Y"] }
due_at = { column = "Due", formats = ["%d.%m.%Y"] }
owner = "{Owner}"
purpose = "{Subject}"

[[records]]
name = "done"
kind = "follow_up_completed"
when = [{ column = "Type", in = ["Task"] }, { column = "Status", in = ["Completed"] }]
[records.fields]
customer = "{Account}"
follow_up_id = "{Task ID}"
at = { column = "Closed", formats = ["%d.%m.%Y"] }
actor = "{Owner}"

[[records]]
name = "activity"
kind = { column = "Type", map = { Call = "contact", Stage = "stage_changed", Task = "contact" } }
when = { column = "Type", not_in = ["Task"] }
id = "{Task ID}"
[records.fields]
customer = "{Account}"
occurred_at = { column = "Created", formats = ["%d.%m.%Y"] }
at = { column = "Created", formats = ["%d.%m.%Y"] }
channel = "phone"
to_stage = "{Subject}"
reason = "{Status}"
"""
EXPORT = ("Task ID;Type;Account;Created;Due;Closed;Status;Owner;Subject\n"
          "T1;Task;ACME;02.01.2017;09.01.2017;08.01.2017;Completed;ann;call back\n"
          "T2;Task;ACME;03.01.2017;10.02.2017;;Open;ann;demo\n"
          "T3;Call;ACME;04.01.2017;;;;ann;\n"
          "T4;Stage;ACME;05.01.2017;;;qualified;ann;exploration\n")


def test_a_mapping_gives_each_record_its_kind_constant_or_from_a_column(
        db_url: str, tmp_path: Path) -> None:
    mapping = write(tmp_path, MAPPING, "crm.toml")
    export = write(tmp_path, EXPORT.replace(";", ","), "crm.csv")
    first = imported(db_url, export, "--mapping", mapping, "--delimiter", ",")
    assert (first["imported"], first["rejected"]) == (5, 0)
    assert first["records"] == {"task": 2, "done": 1, "activity": 2}
    assert timeline(db_url, "ACME") == [
        ("follow_up_scheduled", "2017-01-02", "T1"),
        ("follow_up_scheduled", "2017-01-03", "T2"),
        ("contact", "2017-01-04", None),
        ("stage_changed", "2017-01-05", None),
        ("follow_up_completed", "2017-01-08", "T1"),
    ]
    again = imported(db_url, export, "--mapping", mapping, "--delimiter", ",")
    assert (again["imported"], again["duplicates"]) == (0, 5)


def test_a_mapping_with_an_unknown_kind_is_refused_before_reading(
        sqlite_url: str, tmp_path: Path) -> None:
    mapping = write(tmp_path, '[[records]]\nkind = "meeting"\n[records.fields]\n'
                              'customer = "{a}"\n', "bad.toml")
    result = run(sqlite_url, "import", write(tmp_path, "a\nACME\n"), "--mapping", mapping)
    assert result.exit_code == 1
    assert "records.contact.kind: unknown record kind 'meeting'" in result.stderr


def test_follow_up_history_dated_in_the_past_shows_in_its_time(db_url: str) -> None:
    def followup(*args: str) -> Result:
        return run(db_url, "followup", *args, "--format", "json")

    assert run(db_url, "customer", "set", "ACME", "--owner", "ann").exit_code == 0
    assert followup("schedule", "ACME", "--id", "f-1", "--due", "2017-05-20",
                    "--at", "2017-05-01").exit_code == 0
    assert followup("reschedule", "ACME", "f-1", "--due", "2017-06-20",
                    "--at", "2017-05-10").exit_code == 0
    assert followup("complete", "ACME", "f-1", "--at", "2017-06-01").exit_code == 0
    assert timeline(db_url, "ACME")[-3:] == [
        ("follow_up_scheduled", "2017-05-01", "f-1"),
        ("follow_up_rescheduled", "2017-05-10", "f-1"),
        ("follow_up_completed", "2017-06-01", "f-1")]

    def open_at(moment: str) -> list[tuple[str, str]]:
        state = data(run(db_url, "audit", "ACME", "--as-of", moment, "--format", "json"))
        return [(f["follow_up_id"], f["due_at"][:10]) for f in state["open_follow_ups"]]

    assert open_at("2017-04-30") == []
    assert open_at("2017-05-05") == [("f-1", "2017-05-20")]
    assert open_at("2017-05-15") == [("f-1", "2017-06-20")]
    assert open_at("2017-06-02") == []
    assert followup("schedule", "ACME", "--id", "f-2", "--due", "2017-07-01",
                    "--at", "2017-06-01").exit_code == 0
    assert followup("cancel", "ACME", "f-2", "--reason", "moved", "--at",
                    "2017-06-05").exit_code == 0
    assert timeline(db_url, "ACME")[-1] == ("follow_up_cancelled", "2017-06-05", "f-2")
    assert run(db_url, "verify", "--projections").exit_code == 0


def test_a_follow_up_dated_in_the_future_or_before_its_scheduling_is_refused(
        sqlite_url: str) -> None:
    run(sqlite_url, "customer", "set", "ACME", "--owner", "ann")
    future = run(sqlite_url, "followup", "schedule", "ACME", "--id", "f-1", "--due",
                 "2999-01-02", "--at", "2999-01-01")
    assert future.exit_code == 1
    assert "a follow-up cannot be scheduled in the future (its due time may be)" in \
        future.stderr
    assert "Traceback" not in future.output
    run(sqlite_url, "followup", "schedule", "ACME", "--id", "f-1", "--due", "2999-01-02",
        "--at", "2017-01-01")
    for command, extra, done in (("complete", (), "completed"),
                                 ("cancel", ("--reason", "x"), "cancelled"),
                                 ("reschedule", ("--due", "2999-02-01"), "rescheduled")):
        result = run(sqlite_url, "followup", command, "ACME", "f-1", *extra, "--at",
                     "2999-01-01")
        assert result.exit_code == 1
        assert f"a follow-up cannot be {done} in the future" in result.stderr
        early = run(sqlite_url, "followup", command, "ACME", "f-1", *extra, "--at",
                    "2016-12-31")
        assert f"it cannot be {done} before" in early.stderr
    assert data(run(sqlite_url, "customer", "show", "ACME", "--format", "json"))[
        "open_follow_ups"][0]["due_at"].startswith("2999-01-02")


def test_every_fact_an_import_records_names_its_import_and_line(
        db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    made = imported(db_url, path)
    entries = data(run(db_url, "timeline", "ACME", "--sources", "--format", "json"))
    recorded = [e for e in entries if e["type"] == "contact"
                or e["type"].startswith("follow_up_")]
    assert len(recorded) == 7
    # Each names the import and the line of MIXED its row is on (the header is line 1).
    lines = {line.split(",")[0] or "contact": n
             for n, line in enumerate(MIXED.splitlines(), 1) if line.startswith(
                 ("follow_up_completed,ACME", ",ACME", "follow_up_cancelled,ACME"))}
    for entry in recorded:
        assert entry["source"].startswith(f"{made['import']} line "), entry
        if entry["type"] in lines:
            assert entry["source"] == f"{made['import']} line {lines[entry['type']]}", entry
