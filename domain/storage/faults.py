"""Fault injection for the crash tests: a chosen process SIGKILLs itself right before its
Nth SQL statement, or loses its PostgreSQL connections there, or writes down every statement
it runs (docs/reliability.md).

Inert unless ``TOUCHLOG_FAULTS`` is set; then ``install_from_environment`` (run when
``touchlog.domain`` is imported, so in every touchlog process and every process one spawns
or forks) hooks the database clients. The variable holds comma-separated ``key=value``:

- ``process=NAME``: the process concerned, by ``multiprocessing.current_process().name``
  (default ``MainProcess``: the command itself);
- ``kill=N``: SIGKILL it right before its Nth statement (counted from 1);
- ``disconnect=N``: right before its Nth statement, if that goes to PostgreSQL, end every
  other connection to that database on the server (``pg_terminate_backend``, waiting for
  each to end), as a server restart or an administrator would: the statement, and every
  pooled connection's next one, meets a closed connection; the process lives on;
- ``group=1``: SIGKILL its whole process group instead, if the command leads that group
  (else the process alone);
- ``marker=PATH``: written just before the kill or disconnection:
  ``N<TAB>database<TAB>statement head``;
- ``trace=PATH``: every statement appended as such a line.

A statement is one that the process's main thread sends: on SQLite each statement sqlite3
runs (BEGIN and COMMIT included, and each row of an ``executemany``), on PostgreSQL each
statement a psycopg cursor's ``execute`` or ``executemany`` sends (each row of the latter),
each ``COPY`` (one statement, whatever its rows) and each command psycopg sends by itself
(BEGIN, COMMIT, ROLLBACK). Other threads are not
counted: psycopg's pool opens its connections in threads of its own, at moments that
differ from run to run.

A file touchlog writes for a user (domain/storage/files.py) counts as statements too, one
at each of its write boundaries (``file_step``), with ``file`` for the database:
``WRITE name`` (its temporary file is made), ``SYNC name`` (everything written, before the
sync), ``REMOVE name`` (a companion's previous version is removed) and ``PUBLISH name``
(before it is put in place).
"""

from __future__ import annotations

import os
from typing import Any

ENV = "TOUCHLOG_FAULTS"
_sent: Any = None  # when installed: counts a statement (database, statement)


def install_from_environment() -> None:
    """Installs the hooks ``TOUCHLOG_FAULTS`` asks for; nothing at all when it is unset."""
    value = os.environ.get(ENV)
    if value:
        _install(_Plan(value))


class _Plan:
    """What ``TOUCHLOG_FAULTS`` asks for, and how many statements the process has run."""

    def __init__(self, value: str) -> None:
        fields = dict(item.partition("=")[::2] for item in value.split(",") if item)
        unknown = set(fields) - {"process", "kill", "disconnect", "group", "marker", "trace"}
        if unknown:
            raise ValueError(f"{ENV}: unknown keys {sorted(unknown)} in {value!r}")
        self.process = fields.get("process", "MainProcess")
        self.kill = int(fields["kill"]) if "kill" in fields else None
        self.disconnect = int(fields["disconnect"]) if "disconnect" in fields else None
        self.group = fields.get("group", "0") == "1"
        self.marker = fields.get("marker")
        self.trace = fields.get("trace")
        self.count = 0
        self.acting = False  # the disconnection's own statements are not counted

    def statement(self, database: str, sql: str, connection: Any = None) -> None:
        """Counts a statement of the process (``connection``: its psycopg connection); traces
        it, and kills or disconnects as planned."""
        if self.acting:
            return
        self.count += 1
        line = f"{self.count}\t{database}\t{_head(sql)}\n".encode()
        if self.trace:
            _append(self.trace, line)
        if self.count in (self.kill, self.disconnect) and self.marker:
            _append(self.marker, line)
        if self.count == self.kill:
            _die(self.group)
        if self.count == self.disconnect and connection is not None:
            self.acting = True
            try:
                _disconnect_all(connection)
            finally:
                self.acting = False


def file_step(step: str, path: str | os.PathLike[str]) -> None:
    """A write boundary of a file (``WRITE``, ``SYNC``, ``REMOVE``, ``PUBLISH``); a kill
    point like a statement when ``TOUCHLOG_FAULTS`` is set, nothing otherwise."""
    if _sent is not None:
        _sent("file", f"{step} {os.path.basename(path)}")


def _head(sql: str) -> str:
    """A statement's first words: ``BEGIN``, ``INSERT INTO stored_events``,
    ``UPDATE projection_tracking``, ``DELETE FROM archive_customers``."""
    words = sql.split(None, 3)[:3]
    wanted = 3 if words and words[0].upper() in ("INSERT", "DELETE", "CREATE", "DROP") else 2
    return " ".join(word.split("(")[0] for word in words[:wanted])


def _append(path: str, line: bytes) -> None:
    # Unbuffered: a forked child inherits no half-written buffer, a kill loses no line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _die(group: bool) -> None:
    import multiprocessing
    import signal

    command = os.getpid() if multiprocessing.parent_process() is None else os.getppid()
    if group and os.getpgid(0) == command:  # never a group the command does not lead
        os.killpg(command, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _disconnect_all(connection: Any) -> None:
    """Ends every other session of ``connection``'s database, and waits until each has."""
    import psycopg

    info = connection.info
    with psycopg.connect(host=info.host, port=info.port, dbname=info.dbname, user=info.user,
                         password=info.password or None, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _install(plan: _Plan) -> None:
    import multiprocessing
    import threading

    global _sent

    def sent(database: str, sql: str, connection: Any = None) -> None:
        if (threading.current_thread() is threading.main_thread()
                and multiprocessing.current_process().name == plan.process):
            plan.statement(database, sql, connection)

    _sent = sent
    _hook_sqlite(sent)
    _hook_psycopg(sent)


def _hook_sqlite(sent: Any) -> None:
    import sqlite3

    connect = sqlite3.connect

    def connect_traced(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(database, *args, **kwargs)
        name = os.path.basename(os.fsdecode(database))
        connection.set_trace_callback(lambda sql: sent(name, sql))
        return connection

    sqlite3.connect = connect_traced  # type: ignore[assignment]  # every caller, the library's too


def _hook_psycopg(sent: Any) -> None:
    import psycopg

    def by_cursor(cursor: Any, query: Any) -> None:
        sent(cursor.connection.info.dbname, bytes(query.query).decode(), cursor.connection)

    def by_connection(connection: Any, command: Any) -> None:
        """A statement given as text, bytes or a psycopg ``sql`` composition."""
        if not isinstance(command, str | bytes):
            command = command.as_bytes(connection)
        sent(connection.info.dbname, command if isinstance(command, str) else command.decode(),
             connection)

    def by_copy(cursor: Any, statement: Any) -> None:
        by_connection(cursor.connection, statement)

    _before(psycopg.Cursor, "_maybe_prepare_gen", by_cursor)  # each execute, each row
    _before(psycopg.Cursor, "copy", by_copy)  # each COPY, as one statement
    _before(psycopg.Connection, "_exec_command", by_connection)  # BEGIN, COMMIT, ROLLBACK


def _before(cls: type, name: str, call: Any) -> None:
    """Makes the class that defines ``cls.name`` call ``call(self, first argument)`` first."""
    owner = next((c for c in cls.__mro__ if name in vars(c)), None)
    if owner is None:
        raise RuntimeError(f"{ENV}: psycopg has no {cls.__name__}.{name} to hook any more")
    original = vars(owner)[name]

    def hooked(self: Any, first: Any, *args: Any, **kwargs: Any) -> Any:
        call(self, first)
        return original(self, first, *args, **kwargs)

    setattr(owner, name, hooked)
