"""``touchlog audit`` and ``touchlog verify`` from the command line."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.cli import run
from touchlog.domain.identity import customer_id

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def log_contact(db: str, at: str, summary: str) -> None:
    result = run(db, "contact", "log", "ACME", "--channel", "phone", "--at", at,
                 "--actor", "ann", "--summary", summary, "--format", "json")
    assert result.exit_code == 0, result.output


def independent_snippet() -> str:
    """The Python block under "Checking an export with independent code" in docs/audit.md."""
    section = DOCS.read_text(encoding="utf-8").split("### Checking an export")[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_verify_exits_zero_on_an_intact_log(db_url: str) -> None:
    log_contact(db_url, "2018-01-05T10:00", "first call")

    result = run(db_url, "verify", "--format", "json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) | {"checkpoint": None} == {
        "intact": True, "customers": 1, "events": 2, "breaks": [], "checkpoint": None}


def test_verify_exits_one_listing_a_changed_event(sqlite_url: str) -> None:
    log_contact(sqlite_url, "2018-01-05T10:00", "first call")
    with sqlite3.connect(sqlite_url) as conn:
        # The actor is in the clear (the summary is sealed: docs/privacy.md).
        conn.execute("UPDATE stored_events SET state = replace(state, '\"ann\"', '\"bob\"') "
                     "WHERE originator_version = 2")

    result = run(sqlite_url, "verify", "--format", "json")

    assert result.exit_code == 1
    breaks = json.loads(result.output)["breaks"]
    assert [(b["customer"], b["version"], b["problem"]) for b in breaks] == [
        ("ACME", 2, "content_changed")]
    assert "Traceback" not in result.output


def test_verify_against_a_checkpoint_catches_a_truncated_tail(
        sqlite_url: str, tmp_path: Path) -> None:
    log_contact(sqlite_url, "2018-01-05T10:00", "first call")
    log_contact(sqlite_url, "2018-01-06T10:00", "second call")
    heads = tmp_path / "heads.json"
    assert run(sqlite_url, "verify", "--checkpoint", str(heads)).exit_code == 0
    with sqlite3.connect(sqlite_url) as conn:
        conn.execute("DELETE FROM stored_events WHERE originator_version = 3")

    result = run(sqlite_url, "verify", "--checkpoint", str(heads), "--format", "table")

    assert result.exit_code == 1
    assert "truncated" in result.output and "ACME" in result.output
    assert json.loads(heads.read_text())["heads"][customer_id("ACME").hex]["version"] == 3


def test_audit_shows_a_backdated_contact_as_of_its_day_but_not_before_it_was_known(
        sqlite_url: str) -> None:
    log_contact(sqlite_url, "2018-01-10T10:00", "on time")
    time.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    log_contact(sqlite_url, "2018-01-03T09:00", "typed in late")

    now = run(sqlite_url, "audit", "ACME", "--as-of", "2018-01-05", "--format", "json")
    earlier = run(sqlite_url, "audit", "ACME", "--as-of", "2018-01-05", "--known-at", before,
                  "--format", "json")

    assert now.exit_code == 0 and earlier.exit_code == 0, now.output + earlier.output
    assert [c["summary"] for c in json.loads(now.output)["contacts"]] == ["typed in late"]
    assert json.loads(earlier.output)["contacts"] == []
    assert json.loads(earlier.output)["versions"] == [1]


def test_audit_table_names_the_versions_used(sqlite_url: str) -> None:
    log_contact(sqlite_url, "2018-01-10T10:00", "on time")

    result = run(sqlite_url, "audit", "ACME", "--as-of", "2018-02-01", "--format", "table")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[2].startswith("audit ")
    assert "[1,2]" in result.output


def test_audit_of_an_unknown_customer_fails_without_a_traceback(sqlite_url: str) -> None:
    log_contact(sqlite_url, "2018-01-10T10:00", "on time")

    result = run(sqlite_url, "audit", "NOBODY", "--as-of", "2018-02-01")

    assert result.exit_code == 1
    assert "no customer 'NOBODY'" in result.output


def test_the_documented_independent_snippet_verifies_an_export(
        sqlite_url: str, tmp_path: Path) -> None:
    log_contact(sqlite_url, "2018-01-10T10:00", "Grüße, 東京 \u2028 \"quoted\"")
    log_contact(sqlite_url, "2018-01-11T10:00", "second")
    folder = tmp_path / "export"
    exported = run(sqlite_url, "audit", "ACME", "--export", str(folder), "--format", "json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["intact"] is True

    checked = subprocess.run([sys.executable, "-c", independent_snippet(), str(folder)],
                             capture_output=True, text=True, check=False, cwd=tmp_path)

    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("intact: 3 events")


def test_the_independent_snippet_rejects_an_edited_export(
        sqlite_url: str, tmp_path: Path) -> None:
    log_contact(sqlite_url, "2018-01-10T10:00", "first")
    folder = tmp_path / "export"
    run(sqlite_url, "audit", "ACME", "--export", str(folder))
    events = folder / "events.jsonl"
    events.write_text(events.read_text().replace('"ann"', '"bob"'))  # a clear field
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["events_sha256"] = hashlib.sha256(events.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))

    checked = subprocess.run([sys.executable, "-c", independent_snippet(), str(folder)],
                             capture_output=True, text=True, check=False)

    assert checked.returncode != 0
    assert "version 2: content does not match its link" in checked.stderr


def test_export_refuses_a_folder_that_is_not_empty(sqlite_url: str, tmp_path: Path) -> None:
    log_contact(sqlite_url, "2018-01-10T10:00", "first")
    (tmp_path / "old.txt").write_text("keep me")

    result = run(sqlite_url, "audit", "ACME", "--export", str(tmp_path))

    assert result.exit_code == 1
    assert "not empty" in result.output
