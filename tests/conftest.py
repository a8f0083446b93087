"""Shared pytest plumbing: throwaway PostgreSQL, per-test databases, store parametrisation."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple, NoReturn
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.reliability import figures
from tests.reliability.databases import KINDS, Databases, for_kind
from touchlog.domain.storage.keys import MASTER_KEY_ENV, init_master_key

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_URL_ENV = "TOUCHLOG_TEST_POSTGRES_URL"
TEST_DB = "touchlog_test"
START_TIMEOUT_S = 30
# --no-sync: a throwaway cluster never needs its files flushed to disk.
INITDB_OPTIONS = ("--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
# The one role the throwaway server asks for a password (SCRAM), so tests can prove that a
# password given in a URL is used; every other role is trusted.
PASSWORD_ROLE = "touchlog_password"

MISSING_BINARIES = (
    f"PostgreSQL server binaries not found at {PG_BIN}; PostgreSQL tests SKIPPED "
    f"(install postgresql-15 or set {PG_URL_ENV})"
)

# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_configure(config: pytest.Config) -> None:
    """One master key for the whole run (docs/privacy.md), so that no test's first write
    makes one beside its database and says so; tests of that default unset it."""
    if os.environ.get(MASTER_KEY_ENV):
        return
    folder = Path(tempfile.mkdtemp(prefix="touchlog-master-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    init_master_key(folder / "master.key")
    os.environ[MASTER_KEY_ENV] = str(folder / "master.key")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of a parallel run hands its reliability figures to the main process."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["figures"] = dict(figures.FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The main process of a parallel run adds up its workers' figures (pytest-xdist)."""
    figures.FIGURES.update(getattr(node, "workeroutput", {}).get("figures", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Ends the run with a line nobody can miss for each kind of test skipped only where
    the machine lacks something (PostgreSQL's binaries, chromium); the skips are read
    from the reports, which reach this process from every worker of a parallel run. Then
    the reliability figures."""
    said: set[str] = set()
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        if reason not in said and (reason == MISSING_BINARIES or "chromium" in reason):
            said.add(reason)
            terminalreporter.write_sep("!", reason, yellow=True, bold=True)
    figures.write(terminalreporter)


# --------------------------------------------------------------------------- cluster


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_db(url: str, dbname: str) -> str:
    return urlsplit(url)._replace(path=f"/{dbname}").geturl()


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


class _Cluster:
    """A PostgreSQL cluster living entirely inside one temp dir."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="touchlog-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.stopped = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # cwd inside the temp dir: the postgres user may not be allowed into the caller's cwd.
        return subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, check=False)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _fail(self, step: str, result: subprocess.CompletedProcess[str]) -> NoReturn:
        raise RuntimeError(
            f"PostgreSQL {step} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}\n--- server log tail ---\n{self._log_tail()}"
        )

    def start(self) -> None:
        if self.as_root:
            # The server refuses to run as root, so the postgres user must own its files.
            shutil.chown(self.root, user="postgres", group="postgres")
        init = self._run("initdb", "-D", str(self.data), "-U", "postgres", *INITDB_OPTIONS)
        if init.returncode != 0:
            self._fail("initdb", init)
        self._configure()
        wait = ("-w", "-t", str(START_TIMEOUT_S))
        started = self._run("pg_ctl", "start", *wait, "-D", str(self.data), "-l", str(self.log))
        if started.returncode != 0:
            self._fail("start", started)

    def _configure(self) -> None:
        # Durability is pointless for a throwaway cluster; these settings keep it fast and small.
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "max_connections": "50",
        }
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data / "postgresql.conf").open("a") as fh:
            fh.write(conf)
        hba = self.data / "pg_hba.conf"  # the first matching line decides
        hba.write_text(f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
                       + hba.read_text())

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------- fixtures


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def _skip_missing_binaries() -> NoReturn:
    pytest.skip(MISSING_BINARIES)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL 15 server with an empty `touchlog_test` database."""
    external = os.environ.get(PG_URL_ENV)
    if external:
        yield external
        return
    if not (PG_BIN / "pg_ctl").exists():
        _skip_missing_binaries()

    cluster = _Cluster()
    # pytest normally runs the finally below; atexit covers a hard interrupt mid-teardown.
    atexit.register(cluster.stop)
    # pg_ctl detaches the server, so a plain SIGTERM (CI timeout) would leak it; turn it
    # into an interrupt that pytest tears down normally. Leave any existing handler alone.
    sigterm_was_default = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if sigterm_was_default:
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        cluster.start()
        with _admin(cluster.url) as conn:
            conn.execute(f"CREATE DATABASE {TEST_DB}")
        yield _with_db(cluster.url, TEST_DB)
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)
        if sigterm_was_default:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def pg_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database for this test alone, dropped afterwards."""
    name = f"t_{secrets.token_hex(8)}"
    with _admin(postgres_url) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield _with_db(postgres_url, name)
    finally:
        with _admin(postgres_url) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class PasswordDB(NamedTuple):
    url: str  # with the user name, without the password
    password: str


@pytest.fixture
def pg_password_db(pg_db_url: str) -> PasswordDB:
    """``pg_db_url`` owned by a role the server admits only with its password."""
    if os.environ.get(PG_URL_ENV):
        pytest.skip(f"{PG_URL_ENV} names a server whose authentication the tests do not set")
    password = "S3cr3t/pa55:w@rd?&#"  # each of "/:@?&#" would break a naive parser
    parts = urlsplit(pg_db_url)
    with _admin(pg_db_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              (PASSWORD_ROLE,)).fetchone()
        conn.execute(f"{'ALTER' if exists else 'CREATE'} ROLE {PASSWORD_ROLE} LOGIN "
                     f"PASSWORD '{password}'")
        conn.execute(f"ALTER DATABASE {parts.path.lstrip('/')} OWNER TO {PASSWORD_ROLE}")
    return PasswordDB(parts._replace(netloc=f"{PASSWORD_ROLE}@{parts.netloc.split('@')[-1]}")
                      .geturl(), password)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return str(tmp_path / "touchlog.db")


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """Either store, so integration tests run against both."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_db_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(params=KINDS)
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """Throwaway databases of either kind (new, or copies of one another), dropped after."""
    made = for_kind(request, tmp_path)
    yield made
    made.discard_all()
