"""A crash mid catch-up, a follower process, and reading the tables without touchlog
(plain sqlite3 or psycopg, in a process that imports nothing of touchlog)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from touchlog.cli.main import cli
from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings
from touchlog.projections.engine.runner import Projector

CATCH_UP = """
import sys
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings
from touchlog.projections.engine.runner import Projector
log = TouchpointLog(Settings(db=sys.argv[1]))
Projector(log, batch_size=50).catch_up()
"""


def fill(log: TouchpointLog, customers: int, per_customer: int) -> None:
    entries = [ContactEntry(f"C{c}", Contact(occurred_at=f"2018-01-{d + 1:02d}",
                                             channel="phone", amount=f"{d}.25"))
               for c in range(customers) for d in range(per_customer)]
    log.log_contacts(entries)


def test_killed_catch_up_resumes_to_the_rows_of_a_clean_rebuild(tmp_path: Path) -> None:
    """The catch-up is killed right before the COMMIT of its 30th batch, found by a traced
    run of the same catch-up on a copy of the same log (TOUCHLOG_FAULTS)."""
    db, copy, trace, marker = (tmp_path / name for name in
                               ("t.db", "copy.db", "trace.txt", "marker.txt"))
    with TouchpointLog(Settings(db=str(db))) as log:
        fill(log, 400, 20)
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    traced = catch_up(copy, f"trace={trace}")
    assert traced.returncode == 0
    commits = [int(line.split("\t")[0]) for line in trace.read_text().splitlines()
               if line.split("\t")[2].startswith("COMMIT")]
    killed = catch_up(db, f"kill={commits[30]},marker={marker}")
    assert killed.returncode == -signal.SIGKILL and marker.exists()
    with TouchpointLog(Settings(db=str(db))) as log:
        projector = Projector(log)
        assert 0 < projector.db.positions()["followups"] < 8400  # really killed mid-way
        projector.catch_up()
        resumed = projector.snapshot()
        projector.rebuild()
        assert projector.snapshot() == resumed
        projector.close()


def catch_up(db: Path, faults: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", CATCH_UP, str(db)], check=False,
                          env={**os.environ, "TOUCHLOG_FAULTS": faults}, timeout=300)


PLAIN_SQL = """
import json, sys
from datetime import datetime, timezone
from decimal import Decimal

url = sys.argv[1]
if url.startswith("postgresql://"):
    import psycopg
    conn = psycopg.connect(url)
else:
    import sqlite3
    conn = sqlite3.connect(url)

def plain(value):  # timestamptz and numeric as the JSON contract writes them
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return format(value, "f") if isinstance(value, Decimal) else value

def rows(sql):
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, map(plain, row))) for row in cursor.fetchall()]

print(json.dumps({
    "archive": rows("SELECT a.customer, stage, contacts, total_amount, last_contact_at, "
                    "average_rating FROM archive_customers a JOIN stage_current s "
                    "ON s.customer = a.customer ORDER BY a.customer"),
    "channels": rows("SELECT customer, channel, contacts FROM archive_channels "
                     "ORDER BY customer, channel"),
    "stage_history": rows("SELECT customer, seq, from_stage, to_stage, entered_at, left_at, "
                          "duration_seconds, reason FROM stage_history ORDER BY customer, seq"),
    "followups": rows("SELECT customer, follow_up_id, due_at, owner, purpose FROM "
                      "followup_items WHERE status = 'open' ORDER BY due_at, customer"),
    "touchlog_imported": any(m.startswith("touchlog") for m in sys.modules),
}))
"""


def cli_json(db: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def only(rows: list[dict[str, Any]], keys: str) -> list[dict[str, Any]]:
    return [{k: r[k] for k in keys.split()} for r in rows]


def test_plain_sql_client_reads_the_same_answers_as_the_cli(db_url: str) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        fill(log, 3, 4)
        log.log_contact("C1", Contact(occurred_at="2018-02-01", channel="meeting",
                                      stage_signal="expansion"),
                        follow_up=FollowUpPlan(due_at="2018-02-10T12:30:00+00:00", owner="ann"))
        log.change_stage("C2", "dissolution", "lost", "ann", at="2018-03-01T00:00:00+00:00")
    archive = cli_json(db_url, "archive")
    history = [row for ref in ("C0", "C1", "C2") for row in
               cli_json(db_url, "stage", "history", ref)]
    scheduled = [i for i in cli_json(db_url, "followups", "--as-of", "2018-01-01")
                 if i["kind"] == "scheduled"]
    out = subprocess.run([sys.executable, "-I", "-c", PLAIN_SQL, db_url], capture_output=True,
                         text=True, check=True, env={"PATH": os.environ["PATH"]})
    plain = json.loads(out.stdout)
    assert not plain["touchlog_imported"]
    assert plain["archive"] == only(
        archive, "customer stage contacts total_amount last_contact_at average_rating")
    assert plain["channels"] == [{"customer": r["customer"], "channel": c, "contacts": n}
                                 for r in archive for c, n in sorted(r["channels"].items())]
    assert plain["stage_history"] == only(
        history, "customer seq from_stage to_stage entered_at left_at duration_seconds reason")
    assert plain["followups"] == only(scheduled, "customer follow_up_id due_at owner purpose")
    assert plain["archive"][0]["total_amount"] == "7.00"  # 0.25 + 1.25 + 2.25 + 3.25, exactly
    assert len(plain["stage_history"]) == 5 and len(plain["followups"]) == 1


@pytest.mark.postgres
def test_follow_on_postgres_applies_new_contacts_and_stops_on_sigterm(pg_db_url: str) -> None:
    with TouchpointLog(Settings(db=pg_db_url)) as log:
        fill(log, 1, 1)
        touchlog = str(Path(sys.executable).with_name("touchlog"))
        follower = subprocess.Popen([touchlog, "--db", pg_db_url, "projections", "run",
                                     "--follow"], stderr=subprocess.PIPE, text=True)
        try:  # the contact is applied whether it is written before the follower is up or after
            writer = [sys.executable, "-c", "import sys\n"
                      "from touchlog.domain.application import TouchpointLog\n"
                      "from touchlog.domain.contact import Contact\n"
                      "from touchlog.domain.settings import Settings\n"
                      "with TouchpointLog(Settings(db=sys.argv[1])) as log:\n"
                      "    log.log_contact('NEW', Contact(occurred_at='2018-01-09',"
                      " channel='email'))\n", pg_db_url]
            subprocess.run(writer, check=True)
            projector = Projector(log)
            deadline = time.monotonic() + 300  # a guard against a hang, never a race
            while time.monotonic() < deadline and not projector.db.query(
                    "SELECT 1 FROM archive_customers WHERE customer = 'NEW'"):
                time.sleep(0.1)
            assert projector.db.query("SELECT contacts FROM archive_customers "
                                      "WHERE customer = 'NEW'") == [{"contacts": 1}]
            projector.close()
        finally:
            follower.send_signal(signal.SIGTERM)
            _, err = follower.communicate(timeout=20)
        assert follower.returncode == 0, err
        assert "stopped" in err
