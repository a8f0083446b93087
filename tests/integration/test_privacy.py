"""Personal data sealed per customer, and erased on request, with the log still verifiable
(docs/privacy.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.raw_events import RawTable
from tests.sql_client import sql
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.errors import CustomerErased, InvalidInput, StoreError
from touchlog.domain.identity import customer_id
from touchlog.domain.sealing import ERASED, UNAVAILABLE
from touchlog.domain.settings import Settings
from touchlog.domain.storage.keys import MASTER_KEY_ENV, init_master_key
from touchlog.projections.audit.erasure import erase_customer
from touchlog.projections.audit.history_export import export_history
from touchlog.projections.audit.verify import verify_chains
from touchlog.projections.audit.verify_projections import verify_projections
from touchlog.projections.engine.runner import Projector
from touchlog.projections.engine.schema import ALL_TABLES
from touchlog.projections.queries.export import export
from touchlog.projections.queries.reads import Queries
from touchlog.projections.queries.timeline import build_timeline, customer_events

PERSON = "P-1"
OTHER = "P-2"
# The test person's personal values: none may survive the erasure anywhere.
SECRETS = ("Zoe Quartermaine", "zoe.q@example.org", "+44 7700 900123", "asked about Quartz",
           "Zoe likes the blue model", "Quartermaine Hall", "Zoe moved her order",
           "call Zoe back", "Zoe changed her mind", "Zoe's complaint")
OTHERS = ("Olaf Otterbein", "olaf@example.org", "Olaf's visit")


def record(log: TouchpointLog, reference: str, values: tuple[str, ...]) -> None:
    """A customer with every kind of personal field, and facts that reports count."""
    name, email, phone, purpose, summary, place, *rest = (values * 4)[:10]
    log.update_profile(reference, {"name": name, "email": email, "phone": phone,
                                   "owner": "ann"})
    first = log.log_contact(reference, Contact(
        occurred_at="2026-01-05T10:00", channel="phone", purpose=purpose, summary=summary,
        place=place, actor="ann", amount="120.50", rating=4, stage_signal="exploration"),
        follow_up=FollowUpPlan(due_at="2026-02-01", purpose=rest[1]))
    second = log.log_contact(reference, Contact(
        occurred_at="2026-01-09T10:00", channel="store", summary=summary, actor="bob",
        amount="80.00", stage_signal="expansion"))
    log.retract_contact(reference, second.contact_id, rest[0], actor="ann")
    log.change_stage(reference, "commitment", rest[2], "ann", at="2026-01-20T00:00")
    log.amend_contact(reference, first.contact_id, _changes(purpose=rest[3]),
                      reason=rest[3], actor="ann")


def _changes(**values: Any) -> Any:
    from touchlog.domain.contact import ContactChanges

    return ContactChanges(**values)


def projected(log: TouchpointLog) -> dict[str, list[dict[str, Any]]]:
    projector = Projector(log)
    try:
        projector.catch_up()
        return projector.snapshot()
    finally:
        projector.close()


@pytest.fixture
def log(db_url: str, tmp_path: Path) -> Any:
    os.chdir(tmp_path)  # the certificate's default folder
    with TouchpointLog(Settings(db=db_url)) as app:
        record(app, PERSON, SECRETS)
        record(app, OTHER, OTHERS)
        yield app


def test_personal_values_are_stored_sealed_and_read_back_plain(log: TouchpointLog,
                                                               db_url: str) -> None:
    stored = b"".join(bytes(s) for (s,) in RawTable(db_url).execute(
        "SELECT state FROM {table}"))
    assert not [s for s in SECRETS if s.encode() in stored]
    assert b'"sealed:1:' in stored
    assert log.customer(PERSON).profile["name"] == SECRETS[0]
    rows = projected(log)["archive_contacts"]
    assert {r["summary"] for r in rows if r["customer"] == PERSON} == {SECRETS[4]}
    assert verify_chains(log)[0].intact


def test_after_erasure_no_file_or_table_holds_the_persons_values_nor_its_key(
        log: TouchpointLog, db_url: str, tmp_path: Path) -> None:
    projected(log)
    uid = customer_id(PERSON)
    raw_key = log.keyring.store.load([uid])[(uid, 1)]
    assert isinstance(raw_key, bytes)
    [(_, _, wrapped)] = log.keyring.store._select([uid.hex])  # as the key store holds it
    export_history(log, PERSON, tmp_path / "before-export")  # sealed values only
    assert SECRETS[4].encode() in _contents(db_url, tmp_path)  # the projections, plain
    erase_customer(log, PERSON, "gdpr-17", "REQ-1", by="dpo")
    export_history(log, PERSON, tmp_path / "audit-export")
    (tmp_path / "exports").mkdir()
    queries = Queries(log)
    try:
        for name in ("contacts", "stage-history", "followups", "followup-queue"):
            export(queries, name, "csv", tmp_path / "exports" / f"{name}.csv")
    finally:
        queries.close()
    forbidden = [s.encode() for s in SECRETS] + [raw_key, base64.b64encode(raw_key),
                                                 bytes(wrapped)]
    everything = _contents(db_url, tmp_path)
    everything += b"".join(p.read_bytes() for folder in ("before-export", "audit-export",
                                                         "exports")
                           for p in (tmp_path / folder).iterdir())
    assert [f for f in forbidden if f in everything] == []
    assert OTHERS[0] in json.dumps(projected(log))  # the other customer is untouched


def _contents(db_url: str, folder: Path) -> bytes:
    """The bytes of the event, reporting and key databases."""
    if db_url.startswith("postgresql"):
        return _postgres_contents(db_url)
    files = [p for p in folder.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"touchlog.db", "touchlog.db.keys"}
    return b"".join(p.read_bytes() for p in files)


def _postgres_contents(url: str) -> bytes:
    """The files of every table of the database (events, reporting, key store) and of
    their TOAST tables, as the server wrote them (after a checkpoint), and every row."""
    tables = sql(url, "SELECT table_schema, table_name FROM information_schema.tables "
                      "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                      "AND table_type = 'BASE TABLE'")
    assert ("touchlog_keys", "customer_keys") in tables
    sql(url, "CHECKPOINT")
    [(data,)] = sql(url, "SHOW data_directory")
    out = b""
    for schema, table in tables:
        for row in sql(url, f"SELECT * FROM {schema}.{table}"):
            out += repr(row).encode() + b"".join(bytes(v) for v in row
                                                 if isinstance(v, bytes | memoryview))
        for (path,) in sql(url, f"SELECT pg_relation_filepath(oid) FROM pg_class WHERE oid IN "
                                f"('{schema}.{table}'::regclass, (SELECT reltoastrelid FROM "
                                f"pg_class WHERE oid = '{schema}.{table}'::regclass))"):
            if path is not None:
                out += b"".join(p.read_bytes() for p in Path(data).glob(f"{path}*"))
    return out


def test_reports_are_equal_after_erasure_apart_from_personal_columns(
        log: TouchpointLog) -> None:
    before = projected(log)
    erase_customer(log, PERSON, "pipl-47", "REQ-2")
    after = projected(log)
    personal = {t.name: set(t.personal) for t in ALL_TABLES}
    made_up = ("registered", "stage signal of contact")  # the reasons of derived stays
    for table, rows in before.items():
        expected = [{k: (ERASED if k in personal.get(table, ()) and v is not None
                         and r.get("customer") == PERSON and not str(v).startswith(made_up)
                         else v)
                     for k, v in r.items() if k != "position"} for r in rows]
        assert [{k: v for k, v in r.items() if k != "position"}
                for r in after[table]] == expected, table
    assert verify_projections(log).intact
    assert verify_chains(log)[0].intact


DUPLICATE = "P-9"  # the same person, recorded twice, then merged into PERSON
DUPLICATE_SECRETS = ("Zoe Q. Dup", "zoe.dup@example.org", "+44 7700 900999",
                     "asked twice about Quartz", "Zoe again, under another number",
                     "Quartermaine Lodge", "Zoe's second order moved", "call Zoe on 999",
                     "Zoe's second change of mind", "Zoe's second complaint")


@pytest.mark.parametrize("asked_for", [PERSON, DUPLICATE])
def test_erasing_a_customer_erases_those_merged_into_it(
        log: TouchpointLog, db_url: str, tmp_path: Path, asked_for: str) -> None:
    """A customer merged into another keeps its own stream and key: erasing either
    reference erases both streams, destroys both keys and certifies both."""
    record(log, DUPLICATE, DUPLICATE_SECRETS)
    log.merge(DUPLICATE, PERSON, "the same person", actor="ann")
    projected(log)
    ids = [customer_id(PERSON), customer_id(DUPLICATE)]
    raw_keys = [log.keyring.store.load([uid])[(uid, 1)] for uid in ids]
    assert all(isinstance(k, bytes) for k in raw_keys)
    raw_keys += [bytes(w) for _, _, w in log.keyring.store._select([u.hex for u in ids])]
    made = erase_customer(log, asked_for, "gdpr-17", "REQ-M", certificate=tmp_path / "c.json")
    assert made["customer_id"] == str(ids[0])
    assert [m["customer_id"] for m in made["merged_customers"]] == [str(ids[1])]
    assert made["keys_destroyed_now"] == 2
    assert [log.keyring.store.load([uid])[(uid, 1)] for uid in ids] == [None, None]
    export_history(log, PERSON, tmp_path / "audit-export")
    timeline = json.dumps(build_timeline(customer_events(log, PERSON)), default=str)
    forbidden = [s.encode() for s in (*SECRETS, *DUPLICATE_SECRETS)]
    forbidden += [k for raw in raw_keys for k in (raw, base64.b64encode(raw))]
    everything = _contents(db_url, tmp_path) + timeline.encode() + b"".join(
        p.read_bytes() for p in (tmp_path / "audit-export").iterdir())
    assert [f for f in forbidden if f in everything] == []
    with pytest.raises(CustomerErased):
        log.log_contact(DUPLICATE, Contact(occurred_at="2026-03-01T10:00", channel="phone"))
    assert verify_chains(log)[0].intact and verify_projections(log).intact
    again = erase_customer(log, PERSON, "gdpr-17", "REQ-M", certificate=tmp_path / "d.json")
    assert (again["chain"], again["keys_destroyed_now"]) == (made["chain"], 0)


def test_the_certificate_holds_no_personal_data_and_names_the_verified_head(
        log: TouchpointLog, tmp_path: Path) -> None:
    made = erase_customer(log, PERSON, "gdpr-17", "REQ/3", by="dpo",
                          certificate=tmp_path / "cert.json")
    document = json.loads((tmp_path / "cert.json").read_text())
    report = verify_chains(log, PERSON)[0]
    head = report.heads[customer_id(PERSON).hex]
    assert document["chain"] == {"intact": True, "head_version": head.version,
                                 "head_link": head.link}
    assert made["sha256"] == document["sha256"] == hashlib.sha256(orjson.dumps(
        {k: v for k, v in document.items() if k != "sha256"},
        option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert document["request"] == "REQ/3" and document["basis"] == "gdpr-17"
    assert document["events_covered"]["to_version"] == head.version - 1
    text = (tmp_path / "cert.json").read_text()
    assert not [s for s in (*SECRETS, PERSON) if s in text]


def test_flipping_a_byte_of_an_erased_customers_event_fails_verify(
        log: TouchpointLog, db_url: str) -> None:
    erase_customer(log, PERSON, "gdpr-17", "REQ-4")
    raw = RawTable(db_url)
    state = raw.state(PERSON, 2)  # the profile: sealed values, its key destroyed
    at = state.index(b"sealed:1:") + 12
    flipped = state[:at] + bytes([state[at] ^ 1]) + state[at + 1:]
    raw.set_state(PERSON, 2, flipped)
    report = verify_chains(log)[0]
    assert [(b.version, b.problem) for b in report.breaks] == [(2, "content_changed")]


def test_an_erased_customer_takes_nothing_new_until_a_new_relationship_starts(
        log: TouchpointLog) -> None:
    erase_customer(log, PERSON, "gdpr-17", "REQ-5")
    contact = Contact(occurred_at="2026-03-01T10:00", channel="phone", purpose="new talk",
                      actor="ann")
    with pytest.raises(CustomerErased, match="renew"):
        log.log_contact(PERSON, contact)
    with pytest.raises(CustomerErased):
        log.update_profile(PERSON, {"name": "Zoe again"})
    log.renew_relationship(PERSON, by="ann")
    log.log_contact(PERSON, contact)
    purposes = [r["purpose"] for r in projected(log)["archive_contacts"]
                if r["customer"] == PERSON]
    assert sorted(purposes, key=str) == sorted([ERASED, None, "new talk"], key=str)
    uid = customer_id(PERSON)
    keys = log.keyring.store.load([uid])
    assert keys[(uid, 1)] is None and isinstance(keys[(uid, 2)], bytes)
    assert verify_projections(log).intact and verify_chains(log)[0].intact


def test_a_legal_hold_makes_erase_refuse_until_it_is_lifted(log: TouchpointLog) -> None:
    log.place_hold(PERSON, "litigation 2026/114", by="legal")
    with pytest.raises(InvalidInput, match="legal hold stands"):
        erase_customer(log, PERSON, "gdpr-17", "REQ-6")
    assert SECRETS[0] == log.customer(PERSON).profile["name"]  # nothing erased
    log.lift_hold(PERSON, "case closed", by="legal")
    erase_customer(log, PERSON, "gdpr-17", "REQ-6")
    kinds = [type(e).__name__ for e in log.history(PERSON)][-3:]
    assert kinds == ["HoldPlaced", "HoldLifted", "Erased"]


def test_erase_refuses_a_customer_whose_chain_does_not_verify(log: TouchpointLog,
                                                             db_url: str) -> None:
    raw = RawTable(db_url)
    state = raw.state(PERSON, 3)
    raw.set_state(PERSON, 3, state.replace(b'"phone"', b'"store"'))
    with pytest.raises(StoreError, match="does not verify"):
        erase_customer(log, PERSON, "gdpr-17", "REQ-7")
    assert not log.customer(PERSON).erased


def test_erase_run_again_certifies_the_same_erasure(log: TouchpointLog,
                                                   tmp_path: Path) -> None:
    first = erase_customer(log, PERSON, "gdpr-17", "REQ-8", certificate=tmp_path / "a.json")
    again = erase_customer(log, PERSON, "gdpr-17", "REQ-8", certificate=tmp_path / "b.json")
    assert first["chain"] == again["chain"]
    assert (first["keys_destroyed_now"], again["keys_destroyed_now"]) == (1, 0)


def test_reading_with_another_master_key_shows_a_marker_and_writing_is_refused(
        log: TouchpointLog, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_master_key(tmp_path / "other.key")
    monkeypatch.setenv(MASTER_KEY_ENV, str(tmp_path / "other.key"))
    with TouchpointLog(Settings(db=db_url), create=False) as other:
        assert other.customer(PERSON).profile["name"] == UNAVAILABLE
        with pytest.raises(StoreError, match="another one"):
            other.update_profile(PERSON, {"phone": "+1 555"})
        assert verify_chains(other)[0].intact  # no key needed


def test_a_sqlite_log_without_a_master_key_makes_one_beside_it_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV)
    db = tmp_path / "fresh.db"
    with TouchpointLog(Settings(db=str(db))) as app:
        app.update_profile("C1", {"name": "Ann Example"})
        app.update_profile("C2", {"name": "Bo Example"})
    said = capsys.readouterr().err
    assert said.count("made the master key") == 1 and str(db) + ".master-key" in said
    for suffix in (".master-key", ".keys"):
        assert (tmp_path / f"fresh.db{suffix}").stat().st_mode & 0o777 == 0o600
    with TouchpointLog(Settings(db=str(db))) as app:
        assert app.customer("C1").profile["name"] == "Ann Example"
    assert "master key" not in capsys.readouterr().err


def test_a_postgresql_log_without_a_master_key_refuses_personal_data(
        pg_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV)
    with TouchpointLog(Settings(db=pg_db_url)) as app:
        app.register("C1")  # nothing personal: no key needed
        with pytest.raises(StoreError, match="keys init"):
            app.update_profile("C1", {"name": "Ann Example"})
        assert [type(e).__name__ for e in app.history("C1")] == ["Registered"]


def test_no_file_touchlog_writes_may_replace_the_key_store_or_the_master_key(
        sqlite_url: str) -> None:
    from touchlog.domain.errors import FileWriteError
    from touchlog.projections.engine.runner import protected_databases

    protected = protected_databases(Settings(db=sqlite_url))
    assert protected.what(Path(sqlite_url + ".keys")) == "key store"
    assert protected.what(Path(os.environ[MASTER_KEY_ENV])) == "master key"
    with TouchpointLog(Settings(db=sqlite_url)) as log, \
            pytest.raises(FileWriteError, match="key store"):
        record(log, PERSON, SECRETS)
        erase_customer(log, PERSON, "gdpr-17", "REQ-10", certificate=Path(sqlite_url + ".keys"))
