"""Tampering with the stored events through plain SQL is caught, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.raw_events import RawTable
from touchlog.domain.application import TouchpointLog
from touchlog.domain.chain import chain_link
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.identity import customer_id
from touchlog.domain.settings import Settings
from touchlog.projections.audit.checkpoint import read_checkpoint
from touchlog.projections.audit.verify import verify_chains

# --------------------------------------------------------------------------- the log


@pytest.fixture
def log(db_url: str) -> Iterator[TouchpointLog]:
    """Two customers; ACME has a six-event chain, BETA a short one."""
    app = TouchpointLog(Settings(db=db_url))
    app.log_contact("ACME", Contact(occurred_at="2018-01-05T10:00", channel="phone",
                                    actor="ann", stage_signal="exploration"),
                    follow_up=FollowUpPlan(due_at="2018-02-01"))  # versions 1-3
    app.change_stage("ACME", "exploration", "qualified", "ann", at="2018-01-20")  # 4
    app.log_contact("BETA", Contact(occurred_at="2018-01-06", channel="email", actor="bob"))
    app.change_stage("ACME", "expansion", "second order", "ann", at="2018-03-01")  # 5
    app.update_profile("ACME", {"name": "Acme Ltd"})  # 6
    yield app
    app.close()


def problems(app: TouchpointLog, checkpoint: Path | None = None) -> list[tuple[str, int, str]]:
    report, _ = verify_chains(app, checkpoint=checkpoint)
    return [(b.customer, b.version, b.problem) for b in report.breaks]


def test_an_untouched_log_verifies_intact(log: TouchpointLog) -> None:
    report, _ = verify_chains(log)
    assert report.intact
    assert (report.customers, report.events) == (2, 8)


def test_a_state_changed_with_plain_sql_is_named_by_customer_and_version(
        log: TouchpointLog, db_url: str) -> None:
    raw = RawTable(db_url)
    state = orjson.loads(raw.state("ACME", 2))
    state["actor"] = "mallory"
    raw.set_state("ACME", 2, orjson.dumps(state, option=orjson.OPT_SORT_KEYS))

    assert problems(log) == [("ACME", 2, "content_changed")]


def test_a_deleted_middle_event_is_reported_as_a_version_gap(
        log: TouchpointLog, db_url: str) -> None:
    RawTable(db_url).delete("ACME", 3)

    report, _ = verify_chains(log)

    assert [(b.customer, b.version, b.problem) for b in report.breaks] == [
        ("ACME", 3, "missing_events")]
    assert "version 3 missing" in report.breaks[0].detail


def test_two_swapped_events_break_the_chain_at_both(log: TouchpointLog, db_url: str) -> None:
    RawTable(db_url).swap_versions("ACME", 2, 3)

    found = problems(log)

    assert ("ACME", 2, "content_changed") in found
    assert ("ACME", 3, "content_changed") in found
    assert all(customer == "ACME" for customer, _, _ in found)


def test_a_truncated_tail_passes_alone_but_is_caught_against_a_checkpoint(
        log: TouchpointLog, db_url: str, tmp_path: Path) -> None:
    checkpoint = tmp_path / "heads.json"
    assert problems(log, checkpoint) == []  # the first run writes the heads
    RawTable(db_url).delete("ACME", 6)
    RawTable(db_url).delete("ACME", 5)

    assert problems(log) == []  # a shorter chain is still a valid chain
    report, kept = verify_chains(log, checkpoint=checkpoint)

    assert [(b.customer, b.version, b.problem) for b in report.breaks] == [
        ("ACME", 5, "truncated")]
    assert kept == "kept"
    assert problems(log, checkpoint) == [("ACME", 5, "truncated")]  # evidence not overwritten


def test_a_rewritten_and_relinked_last_event_is_caught_against_a_checkpoint(
        log: TouchpointLog, db_url: str, tmp_path: Path) -> None:
    checkpoint = tmp_path / "heads.json"
    verify_chains(log, checkpoint=checkpoint)
    raw = RawTable(db_url)
    state = orjson.loads(raw.state("ACME", 6))
    previous = orjson.loads(raw.state("ACME", 5))["link"]
    state.pop("link")
    state["changes"] = {"name": "Someone Else"}
    topic = "touchlog.domain.customer:Customer.ProfileUpdated"
    state["link"] = chain_link(previous, customer_id("ACME"), 6, topic, state)
    raw.set_state("ACME", 6, orjson.dumps(state, option=orjson.OPT_SORT_KEYS))

    assert problems(log) == []  # a forger who recomputes links fools the chain alone
    assert problems(log, checkpoint) == [("ACME", 6, "rewritten")]


def test_a_checkpoint_advances_when_the_log_only_grew(
        log: TouchpointLog, tmp_path: Path) -> None:
    checkpoint = tmp_path / "heads.json"
    assert verify_chains(log, checkpoint=checkpoint)[1] == "written"
    log.update_profile("ACME", {"name": "Acme Group"})

    report, status = verify_chains(log, checkpoint=checkpoint)

    assert report.intact and status == "advanced"
    assert read_checkpoint(checkpoint)[customer_id("ACME").hex].version == 7  # type: ignore[index]


def test_one_customer_is_verified_alone(log: TouchpointLog, db_url: str) -> None:
    RawTable(db_url).delete("BETA", 1)

    assert verify_chains(log, "ACME")[0].intact
    assert not verify_chains(log, "BETA")[0].intact
