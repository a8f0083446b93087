"""The projection runner against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.histories import play
from touchlog.domain.application import TouchpointLog
from touchlog.domain.attributes import declarations
from touchlog.domain.contact import Contact, ContactChanges, FollowUpPlan
from touchlog.domain.settings import Settings
from touchlog.domain.storage.events import notifications
from touchlog.projections.engine import runner
from touchlog.projections.engine.batching import BATCHING_ENV, Batching, batching
from touchlog.projections.engine.reporting_db import ReportingDB
from touchlog.projections.engine.runner import Projector
from touchlog.projections.queries.reads import Queries
from touchlog.projections.readmodels.changes import decode

STAGES = ["discovery", "exploration", "expansion", "commitment", "dissolution"]


def contact(day: int, **fields: object) -> Contact:
    return Contact(occurred_at=f"2018-01-{day:02d}T09:00:00+00:00", channel="phone",
                   **fields)  # type: ignore[arg-type]


def seed(log: TouchpointLog) -> None:
    log.update_profile("ACME", {"owner": "ann"})
    first = log.log_contact("ACME", contact(5, amount="1000.00", rating=4, actor="bob"))
    log.log_contact("ACME", contact(6, amount="54.00", rating=5, stage_signal="exploration"),
                    follow_up=FollowUpPlan(due_at="2018-01-20T00:00:00+00:00", owner="ann"))
    log.amend_contact("ACME", first.contact_id, ContactChanges(channel="email"))
    wrong = log.log_contact("GLOBEX", contact(7, amount="5.00", actor="cy"))
    log.retract_contact("GLOBEX", wrong.contact_id, "test entry")


def test_catch_up_serves_archive_and_followups(db_url: str) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        seed(log)
        queries = Queries(log)
        acme, globex = queries.archive()
        assert acme["total_amount"] == "1054.00" and acme["channels"] == {"email": 1, "phone": 1}
        assert (globex["contacts"], globex["total_amount"], globex["last_contact_at"]) == (
            0, "0", None)
        items = queries.followups(as_of="2018-01-15")
        assert [(i["kind"], i["status"], i["due_at"]) for i in items] == [
            ("cadence", "overdue", "2018-01-13T09:00:00+00:00"),
            ("scheduled", "upcoming", "2018-01-20T00:00:00+00:00")]
        queries.close()


def test_rebuild_gives_the_rows_incremental_processing_gave(db_url: str) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        projector = Projector(log, batch_size=2)
        log.update_profile("ACME", {"owner": "ann"})
        projector.catch_up()
        seed(log)
        projector.catch_up()
        incremental = projector.snapshot()
        projector.rebuild()
        assert projector.snapshot() == incremental
        assert all(s["lag"] == 0 for s in projector.status())
        projector.close()


def test_a_batch_whose_position_moved_meanwhile_rolls_back(db_url: str) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        seed(log)
        first, second = Projector(log), Projector(log)
        first.catch_up()
        before = first.snapshot()
        # a stale processor replaying from the start
        second._commit("archive", 0, decode(notifications(log, 0, 100)))
        assert first.snapshot() == before
        first.close()
        second.close()


def test_batching_takes_the_counts_the_environment_gives(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(BATCHING_ENV, raising=False)
    assert batching() == Batching()
    monkeypatch.setenv(BATCHING_ENV, " events=7 , parallel_rebuild_from=1")
    assert batching() == Batching(events=7, parallel_rebuild_from=1)
    with TouchpointLog(Settings(db=str(tmp_path / "t.db"))) as log:
        assert Projector(log).batch_size == 7


def test_a_long_rebuild_shares_the_archive_with_a_helper_process(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BATCHING_ENV, "parallel_rebuild_from=1")
    monkeypatch.setattr(runner, "available_cores", lambda: 2)
    with TouchpointLog(Settings(db=db_url)) as log:
        for i in range(12):
            seed_one(log, f"C{i}")
        seed(log)
        projector = Projector(log, batch_size=7)
        projector.catch_up()
        incremental = projector.snapshot()
        calls: list[tuple[list[str], int]] = []
        catch_up = projector.catch_up

        def spied(names: list[str] | None = None, upto: int | None = None) -> int:
            read = catch_up(names, upto)
            calls.append((list(names or []), read))
            return read
        monkeypatch.setattr(projector, "catch_up", spied)
        assert projector.rebuild() == log.recorder.max_notification_id()
        assert projector.snapshot() == incremental
        # this process applied the others; the helper had applied the archive to the end
        assert calls == [(["stages", "followups"], log.recorder.max_notification_id()),
                         (["archive", "stages", "followups"], 0)]
        projector.close()


@pytest.mark.parametrize("meanwhile", ["emptied", "other rows"])
def test_a_batch_read_while_its_tables_changed_is_prepared_again_in_its_transaction(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meanwhile: str) -> None:
    with TouchpointLog(Settings(db=db_url)) as log:
        log.update_profile("ACME", {"owner": "ann"})
        projector = Projector(log)
        projector.catch_up()
        seed(log)
        # The first read sees the tables as they were halfway through someone's rebuild:
        # emptied (preparing fails), or with other rows (preparing gives wrong rows).
        elsewhere = ReportingDB(str(tmp_path / "meanwhile.db"))
        if meanwhile == "other rows":
            elsewhere.execute(
                "INSERT INTO archive_customers (customer, customer_id) SELECT 'STALE', ?",
                [projector.db.query("SELECT customer_id FROM archive_customers")[0]
                 ["customer_id"]])
        archive = projector.projections["archive"]
        read = archive.read
        reads = [lambda db, batch: read(elsewhere, batch), read]
        monkeypatch.setattr(archive, "read", lambda db, batch: reads.pop(0)(db, batch))
        projector.catch_up()
        assert not reads
        monkeypatch.undo()
        incremental = projector.snapshot()
        assert "STALE" not in str(incremental)
        projector.rebuild()
        assert projector.snapshot() == incremental
        elsewhere.close()
        projector.close()


def test_two_processors_at_once_apply_each_event_once(pg_db_url: str) -> None:
    with TouchpointLog(Settings(db=pg_db_url)) as log:
        for i in range(30):
            seed_one(log, f"C{i}")
        workers = [Projector(TouchpointLog(Settings(db=pg_db_url)), batch_size=5)
                   for _ in range(2)]
        threads = [threading.Thread(target=w.catch_up) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        concurrent = workers[0].snapshot()
        workers[0].rebuild()
        assert workers[0].snapshot() == concurrent
        for w in workers:
            w.close()
            w.log.close()


def seed_one(log: TouchpointLog, ref: str) -> None:
    log.log_contact(ref, contact(3, amount="1.50", stage_signal="expansion"),
                    follow_up=FollowUpPlan(due_at="2018-02-01T00:00:00+00:00", owner="ann"))
    log.change_stage(ref, "dissolution", "lost", "ann", at="2018-01-10T00:00:00+00:00")
    log.log_contact(ref, contact(12, stage_signal="exploration"))


OPS = st.lists(st.tuples(
    st.sampled_from(["log", "amend", "retract", "stage", "follow", "owner", "catch_up",
                     "merge"]),
    st.sampled_from(["A", "B", "C"]), st.integers(1, 28), st.sampled_from(STAGES),
    st.sampled_from([None, "12.50", "3"]), st.sampled_from([None, 1, 5]),
), min_size=1, max_size=25)


ATTRIBUTES: dict[str, Any] = {
    "contact_attributes": declarations(
        {"campaign": {"type": "text", "personal": True}, "quantity": "int"}, "t"),
    "customer_attributes": declarations({"sector": "text", "employees": "int"}, "t")}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_rebuild_equals_incremental_on_random_histories(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with TouchpointLog(Settings(db=str(Path(tmp) / "t.db"), **ATTRIBUTES)) as log:
            projector = Projector(log, batch_size=3)
            play(apply, log, projector, ops)
            incremental = projector.snapshot()
            projector.rebuild()
            assert projector.snapshot() == incremental
            # Each projection alone opens only the sealed values its rows hold
            # (``kept_sealed``): what it writes is the same, and never a sealed value.
            for name in projector.projections:
                projector.rebuild([name])
            assert projector.snapshot() == incremental
            assert "sealed:" not in repr(incremental)
            # The aggregate reads a merged customer as the stages projection does.
            for row in incremental["stage_current"]:
                customer = log.customer(row["customer"])
                assert (customer.stage.value, customer.stage_since) == (row["stage"],
                                                                        row["since"])
            projector.close()


def apply(log: TouchpointLog, projector: Projector, ids: dict[str, list[str]], op: str,
          ref: str, day: int, stage: str, amount: str | None, rating: int | None) -> None:
    known = ids.get(ref, [])
    if op == "log":  # any day: contacts arrive backdated as often as not
        signal = stage if rating == 5 else None
        attributes = {"campaign": f"c{day % 3}", "quantity": str(day)} if day % 2 else {}
        r = log.log_contact(ref, contact(day, amount=amount, rating=rating, actor=f"a{day % 3}",
                                         stage_signal=signal, purchase=day % 4 == 0,
                                         attributes=attributes, summary=f"said {day}",
                                         person=f"Pat {day}"))
        ids.setdefault(ref, []).append(r.contact_id)
    elif op == "amend" and known:
        log.amend_contact(ref, known[day % len(known)], ContactChanges(
            occurred_at=f"2018-02-{day:02d}T00:00:00+00:00", amount=amount, rating=rating,
            purchase=day % 3 == 0, attributes={"campaign": "" if day % 2 else f"c{day}"},
            purpose=f"amended {day}"))
    elif op == "retract" and known:
        log.retract_contact(ref, known[day % len(known)], f"invalid {day}")
    elif op == "stage":
        log.change_stage(ref, stage, "decided", "ann", at=f"2018-03-{day:02d}T00:00:00+00:00")
    elif op == "follow":
        log.schedule_follow_up(ref, FollowUpPlan(due_at=f"2018-04-{day:02d}", owner="bo",
                                                 purpose=f"call {day}"))
    elif op == "owner":
        log.update_profile(ref, {"owner": f"o{day % 2}" if day % 3 else None,
                                 "name": f"Name {day}"},
                           attributes={"sector": f"s{day % 2}" if day % 5 else "",
                                       "employees": str(day)})
    elif op == "catch_up":
        projector.catch_up()
    elif op == "merge":  # refused (into itself, into one merged away, …) as often as not
        log.merge(ref, "ABC"[day % 3], "one customer", actor="ann")


def test_statistics_are_the_same_whether_computed_in_memory_or_in_sql(db_url: str) -> None:
    """A customer registered in the batch gets its statistics from memory; one seen before
    from SQL. Both round the exact average half up (107/40 = 2.675 -> 2.68, where rounding
    the float gives 2.67) and sum amounts exactly, on both databases."""
    tie = [3] * 27 + [2] * 13  # 107/40
    big = "999999999999.999999999999"
    with TouchpointLog(Settings(db=db_url)) as log:
        projector = Projector(log)
        for day, rating in enumerate(tie, start=1):
            log.log_contact("ACME", contact(day % 28 + 1, rating=rating, amount=big,
                                            summary=str(day)))
        projector.catch_up()  # ACME is registered in this batch: computed in memory
        log.log_contact("GLOBEX", contact(1, rating=3, amount=big))
        projector.catch_up()
        for day, rating in enumerate(tie[1:], start=2):
            log.log_contact("GLOBEX", contact(day % 28 + 1, rating=rating, amount=big,
                                              summary=str(day)))
        projector.catch_up()  # GLOBEX was seen before: recomputed in SQL
        queries = Queries(log)
        for reference in ("ACME", "GLOBEX"):
            [row] = queries.archive(reference)
            assert (row["average_rating"], row["total_amount"]) == (
                2.68, "39999999999999.999999999960"), reference
        live = projector.snapshot()
        projector.rebuild()
        assert projector.snapshot() == live
        queries.close()
        projector.close()


def test_projections_follow_in_a_second_process_while_events_are_recorded(db_url: str) -> None:
    import multiprocessing
    import time

    from touchlog.projections.engine.processes import projecting_alongside

    with TouchpointLog(Settings(db=db_url)) as log:
        projector = Projector(log)  # creates the reporting tables, as the import's does
        with projecting_alongside(log):
            [follower] = multiprocessing.active_children()
            seed(log)
            deadline = time.monotonic() + 300  # a guard against a hang, never a race
            while max(s["lag"] for s in projector.status()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [s["lag"] for s in projector.status()] == [0, 0, 0]  # applied by the follower
        assert not follower.is_alive() and follower.exitcode == 0
        assert Queries(log).archive("ACME")[0]["total_amount"] == "1054.00"
        live = projector.snapshot()
        projector.rebuild()
        assert projector.snapshot() == live
        projector.close()
