"""Shadow tables: the projections rebuilt from the log beside the live ones, then thrown away.

The projections' SQL names its tables unqualified, so a shadow is simply another reporting
database, made by the live one's dialect (``Dialect.shadow``): on SQLite a temporary file
in a temporary folder next to the live database, on PostgreSQL a temporary schema
(``touchlog_shadow_<random>``) of the same database, reached through the connection's
``search_path``. Both are removed when the shadow is closed, also after an error. A process
killed mid-way can leave one behind: the next shadow on SQLite removes such a
``.touchlog-shadow-PID-*`` folder (domain/storage/scratch.py); a
``touchlog_shadow_*`` schema is never used again and may be deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog


@contextmanager
def shadow_db(live: ReportingDB) -> Iterator[ReportingDB]:
    """An empty reporting database of the live one's kind, removed on exit."""
    with live.dialect.shadow(live) as url:
        shadow = ReportingDB(url)
        try:
            yield shadow
        finally:
            shadow.close()


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
