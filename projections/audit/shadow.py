"""Shadow tables: the projections rebuilt from the log beside the live ones, then thrown away.

The projections' SQL names its tables unqualified, so a shadow is simply another reporting
database: on SQLite a temporary file in a temporary folder next to the live database, on
PostgreSQL a temporary schema (``touchlog_shadow_<random>``) of the same database, reached
through the connection's ``search_path``. Both are removed when the shadow is closed, also
after an error. A process killed mid-way can leave one behind: a ``.touchlog-shadow-*``
folder or a ``touchlog_shadow_*`` schema is never used again and may be deleted.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from touchlog.domain.storage.location import locate
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

SCHEMA_PREFIX = "touchlog_shadow_"
FOLDER_PREFIX = ".touchlog-shadow-"


@contextmanager
def shadow_db(live: ReportingDB) -> Iterator[ReportingDB]:
    """An empty reporting database of the live one's kind, removed on exit."""
    if live.dialect == "sqlite":
        with _sqlite_shadow(live) as shadow:
            yield shadow
    else:
        with _postgres_shadow(live) as shadow:
            yield shadow


@contextmanager
def _sqlite_shadow(live: ReportingDB) -> Iterator[ReportingDB]:
    path = locate(live.url).path
    assert path is not None
    try:  # beside the live file: same disk, so enough room for a copy of the tables
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=path.resolve().parent))
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    try:
        shadow = ReportingDB(str(folder / "shadow.db"))
        try:
            yield shadow
        finally:
            shadow.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _postgres_shadow(live: ReportingDB) -> Iterator[ReportingDB]:
    schema = SCHEMA_PREFIX + secrets.token_hex(6)
    live.execute(f"CREATE SCHEMA {schema}")
    try:
        shadow = ReportingDB(with_search_path(live.url, schema))
        try:
            yield shadow
        finally:
            shadow.close()
    finally:
        live.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def with_search_path(url: str, schema: str) -> str:
    """The PostgreSQL URL with libpq ``options`` that make ``schema`` the only search path."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    options = " ".join([*(v for k, v in query if k == "options"), f"-csearch_path={schema}"])
    query = [(k, v) for k, v in query if k != "options"] + [("options", options)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def replay_to(log: TouchpointLog, db: ReportingDB, targets: dict[str, int]) -> dict[str, int]:
    """Applies to ``db`` each projection's events up to its target position, no further.

    ``db`` is a fresh shadow: its reader-only indexes are dropped first (a rebuild does the
    same) because nothing but the comparison, in key order, ever reads it. Returns the
    position each projection reached; it falls short of its target only when the log no
    longer holds the events the target names.
    """
    projector = Projector(log, db=db)
    with db.transaction():
        db.drop_reader_indexes(targets)
    by_target: dict[int, list[str]] = {}
    for name, target in targets.items():
        by_target.setdefault(target, []).append(name)
    for target, names in by_target.items():
        if target > 0:
            projector.catch_up(names, upto=target)
    reached = db.positions()
    return {name: reached[name] for name in targets}
