"""A crash mid catch-up, a follower process, and reading the tables without touchlog."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact
from touchlog.domain.settings import Settings
from touchlog.projections.queries import Queries
from touchlog.projections.runner import Projector

CATCH_UP = """
import sys
from touchlog.domain.application import TouchpointLog
from touchlog.domain.settings import Settings
from touchlog.projections.runner import Projector
log = TouchpointLog(Settings(db=sys.argv[1]))
Projector(log, batch_size=50).catch_up()
"""


def fill(log: TouchpointLog, customers: int, per_customer: int) -> None:
    entries = [ContactEntry(f"C{c}", Contact(occurred_at=f"2018-01-{d + 1:02d}",
                                             channel="phone", amount=f"{d}.25"))
               for c in range(customers) for d in range(per_customer)]
    log.log_contacts(entries)


def test_killed_catch_up_resumes_to_the_rows_of_a_clean_rebuild(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    with TouchpointLog(Settings(db=db)) as log:
        fill(log, 400, 20)
        proc = subprocess.Popen([sys.executable, "-c", CATCH_UP, db])
        projector = Projector(log)
        deadline = time.monotonic() + 30
        while projector.db.positions()["followups"] < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 0 < projector.db.positions()["followups"] < 8400  # really killed mid-way
        projector.catch_up()
        resumed = projector.snapshot()
        projector.rebuild()
        assert projector.snapshot() == resumed
        projector.close()


PLAIN_SQL = """
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute("SELECT customer, contacts, total_amount, last_contact_at, stage "
                    "FROM archive_customers ORDER BY customer").fetchall()
print(json.dumps([list(r) for r in rows]))
"""


def test_plain_sqlite_client_reads_the_same_answers_as_the_queries(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    with TouchpointLog(Settings(db=db)) as log:
        fill(log, 3, 4)
        queries = Queries(log)
        expected = [[r["customer"], r["contacts"], r["total_amount"], r["last_contact_at"],
                     r["stage"]] for r in queries.archive()]
        queries.close()
    out = subprocess.run([sys.executable, "-I", "-c", PLAIN_SQL, db], capture_output=True,
                         text=True, check=True, env={"PATH": os.environ["PATH"]})
    assert json.loads(out.stdout) == expected
    assert expected[0][2] == "7.00"  # 0.25 + 1.25 + 2.25 + 3.25, exactly


@pytest.mark.postgres
def test_follow_on_postgres_applies_new_contacts_and_stops_on_sigterm(pg_db_url: str) -> None:
    with TouchpointLog(Settings(db=pg_db_url)) as log:
        fill(log, 1, 1)
        touchlog = str(Path(sys.executable).with_name("touchlog"))
        follower = subprocess.Popen([touchlog, "--db", pg_db_url, "projections", "run",
                                     "--follow"], stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.5)
            writer = [sys.executable, "-c", "import sys\n"
                      "from touchlog.domain.application import TouchpointLog\n"
                      "from touchlog.domain.contact import Contact\n"
                      "from touchlog.domain.settings import Settings\n"
                      "with TouchpointLog(Settings(db=sys.argv[1])) as log:\n"
                      "    log.log_contact('NEW', Contact(occurred_at='2018-01-09',"
                      " channel='email'))\n", pg_db_url]
            subprocess.run(writer, check=True)
            projector = Projector(log)
            deadline = time.monotonic() + 20
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
