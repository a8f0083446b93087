"""A database received for an audit is hostile until verified: rows a forger adds, moves or
re-spells through plain SQL, with every hash recomputed as docs/audit.md describes, are breaks
of ``touchlog verify``, and no reader imports a module the database names.

Where PostgreSQL's column types make a forgery impossible (its ``uuid`` column keeps one
spelling of an id), the test says so instead of faking it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.raw_events import RawTable, relinked
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, ContactChanges
from touchlog.domain.errors import TouchlogError
from touchlog.domain.identity import customer_id
from touchlog.domain.settings import Settings
from touchlog.projections.audit.verify import verify_chains
from touchlog.projections.audit.verify_projections import DeterminismReport, verify_projections
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector
from touchlog.projections.queries.timeline import build_timeline, customer_events

PREFIX = "touchlog.domain.customer:Customer."
REGISTERED, LOGGED = PREFIX + "Registered", PREFIX + "ContactLogged"
ACME = customer_id("ACME")


@pytest.fixture
def log(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TouchpointLog]:
    """ACME: registered (1), a 100.00 purchase (2), amended to 120.00 (3), a profile (4);
    BETA: registered and one contact. Projected, so the reports exist."""
    monkeypatch.delenv("TOUCHLOG_REPORTING_DB", raising=False)
    app = TouchpointLog(Settings(db=db_url))
    bought = app.log_contact("ACME", Contact(occurred_at="2018-01-05T10:00", channel="store",
                                             actor="ann", amount="100.00"))
    app.log_contact("BETA", Contact(occurred_at="2018-01-06", channel="email", actor="bob"))
    app.amend_contact("ACME", bought.contact_id, ContactChanges(amount="120.00"))
    app.update_profile("ACME", {"name": "Acme Ltd"})
    project(app)
    yield app
    app.close()


def project(app: TouchpointLog) -> None:
    projector = Projector(app)
    try:
        projector.catch_up()
    finally:
        projector.close()


def problems(app: TouchpointLog, checkpoint: Path | None = None,
             reference: str | None = None) -> list[tuple[str, int, str]]:
    report, _ = verify_chains(app, reference, checkpoint=checkpoint)
    return [(b.customer_id, b.version, b.problem) for b in report.breaks]


def forged_purchase(raw: RawTable, uid: UUID, version: int, previous: str,
                    amount: str = "9999.00") -> dict[str, Any]:
    """ACME's purchase copied as a new contact, linked after ``previous``."""
    _, _, state = raw.events("ACME")[1]
    state = {**state, "contact_id": f"c-forged-{version}", "amount": amount}
    return relinked(previous, uid, version, LOGGED, state)


# ------------------------------------------------------------ ids in another spelling

SPELLINGS: dict[str, Callable[[UUID], Any]] = {
    "upper case": lambda u: u.hex.upper(),
    "hyphenated": str,
    "braced": lambda u: "{" + str(u) + "}",
    "urn": lambda u: u.urn,
    "bytes": lambda u: u.bytes,
    "not an id": lambda u: "not-a-customer-id",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_an_event_stored_under_another_spelling_of_the_id_is_a_break(
        sqlite_url: str, spelling: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite keeps ids as text, so any spelling can be stored; only the one touchlog writes
    (32 lower-case hex digits) belongs to a chain. A forged purchase under another spelling
    is a break, with or without a checkpoint, and no report counts it."""
    monkeypatch.delenv("TOUCHLOG_REPORTING_DB", raising=False)
    with TouchpointLog(Settings(db=sqlite_url)) as app:
        app.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="store",
                                        amount="100.00"))
        project(app)
        checkpoint = tmp_path / "heads.json"
        assert problems(app, checkpoint) == []
        raw = RawTable(sqlite_url)
        head = raw.events("ACME")[-1][2]["link"]
        raw_id = SPELLINGS[spelling](ACME)
        raw.insert(raw_id, 3, LOGGED, forged_purchase(raw, ACME, 3, head))

        report, status = verify_chains(app, checkpoint=checkpoint)

        assert [(b.version, b.problem) for b in report.breaks] == [(3, "non_canonical_id")]
        assert status == "kept"
        with pytest.raises(TouchlogError, match="cannot read"):
            project(app)
        reports = ReportingDB(sqlite_url)  # the forged row was not counted
        assert reports.query("SELECT total_amount FROM archive_customers") == [
            {"total_amount": "100.00"}]
        reports.close()


def test_postgres_stores_every_spelling_of_an_id_as_the_one_uuid(pg_db_url: str) -> None:
    """On PostgreSQL the column is ``uuid``: another spelling cannot be stored, it becomes
    the same id, so the forged row is simply the customer's next event (an appended event
    with a recomputed link is what no chain can tell from an honest one)."""
    with TouchpointLog(Settings(db=pg_db_url)) as app:
        app.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="store"))
        raw = RawTable(pg_db_url)
        head = raw.events("ACME")[-1][2]["link"]
        raw.insert(ACME.hex.upper(), 3, LOGGED, forged_purchase(raw, ACME, 3, head))

        stored = raw.execute("SELECT DISTINCT originator_id::text FROM {table}")

        assert stored == [(str(ACME),)]
        assert problems(app) == []


def test_a_history_rewritten_under_the_real_id_fails_its_checkpoint_whatever_else_is_kept(
        sqlite_url: str, tmp_path: Path) -> None:
    """The forger keeps the original events under another spelling of the id (so that they
    still hold the checkpointed links) and writes a forged chain, every link recomputed, in
    their place under the real id."""
    with TouchpointLog(Settings(db=sqlite_url)) as app:
        app.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="store",
                                        amount="100.00"))
        app.update_profile("ACME", {"name": "Acme Ltd"})
        checkpoint = tmp_path / "heads.json"
        assert problems(app, checkpoint) == []
        raw = RawTable(sqlite_url)
        originals = raw.events("ACME")
        previous = ""
        for version, topic, state in originals:
            forged = {**state, "amount": "1.00"} if topic == LOGGED else state
            forged = relinked(previous, ACME, version, topic, forged)
            raw.set_state("ACME", version, _canonical(forged))
            previous = forged["link"]
        for version, topic, state in originals:  # after the forged rows in the log
            raw.insert(ACME.hex.upper(), version, topic, state)

        found = problems(app, checkpoint)

        assert (ACME.hex, 3, "rewritten") in found
        assert sorted(v for _, v, p in found if p == "non_canonical_id") == [1, 2, 3]


def _canonical(state: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


# ------------------------------------------------------------ the log's order


def test_an_amendment_moved_ahead_of_its_contact_in_the_log_is_a_break(
        log: TouchpointLog, db_url: str) -> None:
    raw = RawTable(db_url)
    raw.swap_positions(raw.position("ACME", 2), raw.position("ACME", 3))

    assert problems(log) == [(ACME.hex, 3, "out_of_order")]
    assert problems(log, reference="ACME") == [(ACME.hex, 3, "out_of_order")]
    assert problems(log, reference="BETA") == []


def test_events_of_different_customers_may_interleave_in_any_order(
        log: TouchpointLog, db_url: str) -> None:
    raw = RawTable(db_url)
    raw.swap_positions(raw.position("ACME", 2), raw.position("BETA", 1))

    assert problems(log) == []


# ------------------------------------------------------------ registrations


def test_a_second_stream_registering_an_existing_reference_is_a_break(
        log: TouchpointLog, db_url: str) -> None:
    """A chain of its own, every link right, whose registration names ACME: its purchases
    would be added to ACME's reports. Only ACME's own id may register ACME."""
    raw = RawTable(db_url)
    impostor = uuid.UUID("0badc0de-0000-4000-8000-000000000000")
    stored_id = impostor if raw.postgres else impostor.hex
    registration = relinked("", impostor, 1, REGISTERED, raw.events("ACME")[0][2])
    raw.insert(stored_id, 1, REGISTERED, registration)
    raw.insert(stored_id, 2, LOGGED, forged_purchase(raw, impostor, 2, registration["link"]))

    assert problems(log) == [(impostor.hex, 1, "foreign_registration")]
    with pytest.raises(TouchlogError, match="cannot read"):
        project(log)


@pytest.mark.parametrize("where", ["registration at version 2", "version 1 not a registration"])
def test_a_registration_out_of_its_place_is_a_break(
        log: TouchpointLog, db_url: str, where: str) -> None:
    raw = RawTable(db_url)
    impostor = uuid.UUID("0badc0de-0000-4000-8000-000000000001")
    stored_id = impostor if raw.postgres else impostor.hex
    first = relinked("", impostor, 1, LOGGED if where.startswith("version 1") else REGISTERED,
                     raw.events("ACME")[1 if where.startswith("version 1") else 0][2])
    raw.insert(stored_id, 1, LOGGED if where.startswith("version 1") else REGISTERED, first)
    if where.startswith("registration"):
        second = relinked(first["link"], impostor, 2, REGISTERED, raw.events("ACME")[0][2])
        raw.insert(stored_id, 2, REGISTERED, second)

    assert (impostor.hex, 1 if where.startswith("version 1") else 2,
            "foreign_registration") in problems(log)


# ------------------------------------------------------------ topics


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module on the import path that leaves a file behind when imported."""
    marker = tmp_path / "imported"
    (tmp_path / "touchlog_probe_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\nclass Thing:\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("touchlog_probe_module", None)


def test_an_event_whose_topic_names_another_module_is_reported_never_imported(
        log: TouchpointLog, db_url: str, probe: Path) -> None:
    raw = RawTable(db_url)
    topic = "touchlog_probe_module:Thing"
    _, _, state = raw.events("ACME")[3]
    previous = raw.events("ACME")[2][2]["link"]
    raw.execute("UPDATE {table} SET topic = ?, state = ? WHERE originator_id = ? AND "
                "originator_version = 4",
                (topic, _canonical(relinked(previous, ACME, 4, topic, state)), raw.key("ACME")))

    readers: dict[str, Callable[[], object]] = {
        "verify": lambda: problems(log),
        "timeline": lambda: build_timeline(customer_events(log, "ACME")),
        "customer": lambda: log.customer("ACME"),
        "history": lambda: log.history("ACME"),
        "verify --projections": lambda: verify_projections(log),
        "rebuild": lambda: Projector(log).rebuild(),
        "contact log": lambda: log.log_contact("ACME", Contact(occurred_at="2018-02-01",
                                                               channel="phone")),
    }
    outcomes = {}
    for name, read in readers.items():
        try:
            outcomes[name] = read()
        except TouchlogError as e:
            outcomes[name] = str(e)

    assert not probe.exists()
    assert outcomes.pop("verify") == [(ACME.hex, 4, "unreadable")]
    # The relinked event sits at the tables' position, so they no longer fit the log.
    compared = outcomes.pop("verify --projections")
    assert isinstance(compared, DeterminismReport), compared
    assert {d.problem for d in compared.differences} == {"event_differs"}  # each projection
    for name, outcome in outcomes.items():
        assert isinstance(outcome, str) and "cannot read" in outcome, (name, outcome)
        assert "touchlog_probe_module:Thing" in outcome, name


def test_a_registration_naming_another_aggregate_class_is_never_imported(
        log: TouchpointLog, db_url: str, probe: Path) -> None:
    raw = RawTable(db_url)
    _, _, state = raw.events("ACME")[0]
    forged = relinked("", ACME, 1, REGISTERED,
                      {**state, "originator_topic": "touchlog_probe_module:Thing"})
    raw.set_state("ACME", 1, _canonical(forged))

    with pytest.raises(TouchlogError, match="cannot read"):
        log.customer("ACME")
    assert not probe.exists()
    assert (ACME.hex, 1, "foreign_registration") in problems(log)


# ------------------------------------------------------------ values no run writes


@pytest.mark.parametrize("field, value", [
    ("occurred_at", "infinity"), ("occurred_at", "2018-01-05"), ("occurred_at", 5),
    ("occurred_at", None), ("contact_id", None), ("amount", [1]), ("amount", "NaN"),
    ("amount", "-5"), ("rating", 9), ("rating", True), ("stage_signal", "nirvana"),
    ("extra_field", "x"),
])
def test_an_event_holding_a_value_no_run_writes_is_a_break_and_no_crash(
        log: TouchpointLog, db_url: str, field: str, value: Any) -> None:
    """Even with every link recomputed, a state no command records is an invalid_state
    break. Readers never fail with a traceback on it: the timeline names an instant it
    cannot place; a rebuild projects the value as stored or stops with a clear error."""
    raw = RawTable(db_url)
    previous = ""
    for version, topic, state in raw.events("ACME"):
        changed = {**state, field: value} if version == 2 else state
        forged = relinked(previous, ACME, version, topic, changed)
        raw.set_state("ACME", version, _canonical(forged))
        previous = forged["link"]

    assert problems(log) == [(ACME.hex, 2, "invalid_state")]
    if field == "occurred_at":
        with pytest.raises(TouchlogError, match="cannot read the event at version 2"):
            build_timeline(customer_events(log, "ACME"))
    else:
        _clear_error_or_nothing(lambda: build_timeline(customer_events(log, "ACME")))
    projector = Projector(log)
    try:
        _clear_error_or_nothing(projector.rebuild)
    finally:
        projector.close()


def _clear_error_or_nothing(read: Callable[[], object]) -> None:
    """Runs a reader: it may succeed or stop with touchlog's own error, nothing else."""
    try:
        read()
    except TouchlogError:
        pass


@pytest.mark.parametrize("state", [b"not json", b"[1, 2]", b'{"link": 5}'])
def test_a_state_that_is_no_event_is_an_unreadable_event_not_a_crash(
        log: TouchpointLog, db_url: str, state: bytes) -> None:
    RawTable(db_url).set_state("ACME", 3, state)

    with pytest.raises(TouchlogError, match="cannot read"):
        build_timeline(customer_events(log, "ACME"))
    with pytest.raises(TouchlogError, match="cannot read"):
        Projector(log).rebuild()
    assert (ACME.hex, 3, "unreadable") in problems(log)


def test_events_without_their_registration_are_unreadable_for_the_reports(
        log: TouchpointLog, db_url: str) -> None:
    RawTable(db_url).delete("ACME", 1)

    assert problems(log) == [(ACME.hex, 1, "missing_events")]
    with pytest.raises(TouchlogError, match="no registration of its customer comes before"):
        Projector(log).rebuild()


def test_a_second_copy_of_a_version_in_a_table_without_its_key_is_a_break(
        sqlite_url: str) -> None:
    """SQLite only: the table is rebuilt without its primary key so that a customer's
    version can be stored twice (a second chain under the one id)."""
    with TouchpointLog(Settings(db=sqlite_url)) as app:
        app.log_contact("ACME", Contact(occurred_at="2018-01-05", channel="store",
                                        amount="100.00"))
        raw = RawTable(sqlite_url)
        raw.execute("CREATE TABLE copied AS SELECT * FROM {table}")
        raw.execute("DROP TABLE {table}")
        raw.execute("CREATE TABLE {table} (originator_id TEXT, originator_version INTEGER, "
                    "topic TEXT, state BLOB)")
        raw.execute("INSERT INTO {table} SELECT * FROM copied ORDER BY rowid")
        _, _, registration = raw.events("ACME")[0]
        raw.insert(ACME.hex, 2, LOGGED, forged_purchase(raw, ACME, 2, registration["link"]))

        assert (ACME.hex, 2, "duplicate_version") in problems(app)
