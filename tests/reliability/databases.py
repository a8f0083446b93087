"""Throwaway databases of one kind for a test: new empty ones, copies of one another, and
logs filled with contacts.

The crash tests start every kill from a copy of the same database, so that the command runs
the statements its traced run ran.
"""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from touchlog.domain.application import ContactEntry, TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings

# The ``params`` of a fixture that gives a test each kind in turn.
KINDS = [pytest.param("sqlite", id="sqlite"),
         pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


class Databases:
    """Databases made in ``folder`` (SQLite files) or, given its URL, on a PostgreSQL server;
    ``discard_all`` drops every one made."""

    def __init__(self, folder: Path, server: str | None = None) -> None:
        self.folder = folder
        self.server = server
        self.kind = "postgres" if server else "sqlite"
        self.made: list[str] = []

    def new(self, *, template: str | None = None) -> str:
        """A new database: empty (a SQLite file not yet created), or a copy of ``template``
        (to which nothing may be connected)."""
        name = f"t_{secrets.token_hex(6)}"
        if self.server is None:
            url = str(self.folder / f"{name}.db")
            if template is not None:
                # The key store (docs/privacy.md) goes with its log.
                for suffix in ("", ".keys"):
                    if suffix and not Path(template + suffix).exists():
                        continue
                    with closing(sqlite3.connect(template + suffix)) as source, \
                            closing(sqlite3.connect(url + suffix)) as target:
                        source.backup(target)
        else:
            copying = f" TEMPLATE {template.rsplit('/', 1)[1]}" if template else ""
            self._admin(f"CREATE DATABASE {name}{copying}")
            url = f"{self.server.rsplit('/', 1)[0]}/{name}"
        self.made.append(url)
        return url

    def discard(self, url: str) -> None:
        if self.server is None:
            for suffix in ("", "-wal", "-shm", ".keys", ".keys-journal"):
                Path(url + suffix).unlink(missing_ok=True)
        else:
            self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def discard_all(self) -> None:
        for url in self.made:
            self.discard(url)

    def _admin(self, statement: str) -> None:
        import psycopg

        assert self.server is not None
        with psycopg.connect(self.server, autocommit=True) as admin:
            admin.execute(statement)


def for_kind(request: pytest.FixtureRequest, folder: Path) -> Databases:
    """Databases of the kind a ``KINDS`` fixture parameter names."""
    server = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Databases(folder, server)


def fill(db: str, customers: int) -> int:
    """Records 20 contacts of each customer, with amounts, stage signals and follow-ups (26
    events a customer), in one transaction; projects nothing. Returns the log's head."""
    stages = ("exploration", "expansion", "commitment", "dissolution", "")
    with TouchpointLog(Settings(db=db)) as log:
        log.log_contacts([
            ContactEntry(f"C{c:04d}", Contact(
                occurred_at=f"2018-{d % 12 + 1:02d}-{c % 28 + 1:02d}T{d:02d}:00",
                channel=("phone", "store", "email")[d % 3], actor="ann", amount=f"{d}.{c % 100}",
                rating=d % 5 + 1, stage_signal=stages[(c + d) % 5] or None),
                FollowUpPlan(due_at=f"2019-01-{d + 1:02d}") if d % 4 == 0 else None)
            for c in range(customers) for d in range(20)])
        return int(log.recorder.max_notification_id() or 0)
