"""The logged contacts a SQLite touchlog file holds, read with the sqlite3 module alone: the
kill tests read the file while an import runs, and after it was killed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

LOGGED = "FROM stored_events WHERE topic LIKE '%ContactLogged'"


def logged_states(db: Path) -> list[dict[str, Any]]:
    """The state of every ContactLogged event in the file."""
    with sqlite3.connect(db, timeout=30) as conn:
        return [json.loads(state) for (state,) in conn.execute(f"SELECT state {LOGGED}")]


def logged_so_far(db: Path, timeout: float) -> int:
    """How many ContactLogged events the file holds; 0 while it has no event table yet or
    the lock is not free within ``timeout`` seconds (a batch is being written)."""
    try:
        with sqlite3.connect(db, timeout=timeout) as conn:
            return int(conn.execute(f"SELECT COUNT(*) {LOGGED}").fetchone()[0])
    except sqlite3.Error:
        return 0
