"""``touchlog export``: typed Parquet, the follow-up queue, archive channels, standard output."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact, FollowUpPlan
from touchlog.domain.settings import Settings

UTC_MICROSECONDS = pa.timestamp("us", tz="UTC")


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "t.db")
    with TouchpointLog(Settings(db=path)) as log:
        log.log_contact("ACME", Contact(occurred_at="2018-01-05T10:00", channel="store",
                                        amount="999.69", actor="ann"),
                        follow_up=FollowUpPlan(due_at="2018-02-01", owner="bob",
                                               purpose="call back"))
        log.log_contact("ACME", Contact(occurred_at="2018-01-06", channel="phone",
                                        amount="13990.93", actor="ann"))
        log.log_contact("GLOBEX", Contact(occurred_at="2018-01-07", channel="phone"))
    return path


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, "export", *args])


def test_parquet_types_instants_amounts_flags_and_empty_columns(db: str, tmp_path: Path) -> None:
    out = tmp_path / "contacts.parquet"
    assert run(db, "contacts", "--format", "parquet", "-o", str(out)).exit_code == 0
    table = pq.read_table(out)
    types = {field.name: field.type for field in table.schema}
    assert types["occurred_at"] == UTC_MICROSECONDS and types["recorded_at"] == UTC_MICROSECONDS
    assert types["amount"] == pa.decimal128(38, 12)
    assert types["amount_value"] == pa.float64()
    assert types["retracted"] == pa.bool_() and types["deliberate"] == pa.bool_()
    assert types["rating"] == pa.int64()
    assert types["retraction_reason"] == pa.string()  # empty in every row, still typed
    rows = sorted(table.to_pylist(), key=lambda r: r["occurred_at"])
    assert rows[0]["occurred_at"] == datetime(2018, 1, 5, 10, tzinfo=UTC)
    assert [r["amount"] for r in rows] == [Decimal("999.69"), Decimal("13990.93"), None]
    assert rows[0]["retracted"] is False


def test_parquet_of_an_empty_table_keeps_every_column_type(tmp_path: Path) -> None:
    path = str(tmp_path / "empty.db")
    TouchpointLog(Settings(db=path)).close()
    out = tmp_path / "archive.parquet"
    result = run(path, "archive", "--format", "parquet", "-o", str(out))
    assert result.exit_code == 0, result.output
    types = {field.name: field.type for field in pq.read_table(out).schema}
    assert types["total_amount"] == pa.decimal128(38, 12)
    assert types["last_contact_at"] == UTC_MICROSECONDS
    assert types["average_rating"] == pa.float64()


def test_the_follow_up_queue_exports_as_followups_lists_it(db: str, tmp_path: Path) -> None:
    listed = CliRunner().invoke(cli, ["--db", db, "followups", "--format", "json"])
    out = tmp_path / "queue.jsonl"
    result = run(db, "followup-queue", "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert exported == json.loads(listed.stdout)
    assert {(r["customer"], r["kind"]) for r in exported} == {
        ("ACME", "scheduled"), ("ACME", "cadence"), ("GLOBEX", "cadence")}
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["position"] == 6 and meta["projections"]["followups"] == 6
    parquet = tmp_path / "queue.parquet"
    assert run(db, "followup-queue", "--format", "parquet", "-o", str(parquet)).exit_code == 0
    assert pq.read_table(parquet).schema.field("due_at").type == UTC_MICROSECONDS


def test_archive_channels_export_counts_live_contacts_per_channel(db: str, tmp_path: Path) -> None:
    out = tmp_path / "channels.csv"
    assert run(db, "archive-channels", "--format", "csv", "-o", str(out)).exit_code == 0
    rows = [(r["customer"], r["channel"], r["contacts"]) for r in csv.DictReader(out.open())]
    assert rows == [("ACME", "phone", "1"), ("ACME", "store", "1"), ("GLOBEX", "phone", "1")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_dash_writes_to_standard_output_and_no_file(db: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    fmt: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(db, "archive", "--format", fmt, "-o", "-")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists() and not (tmp_path / "-.meta.json").exists()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in result.stdout.splitlines()]
    else:
        rows = pq.read_table(pa.BufferReader(result.stdout_bytes)).to_pylist()
    assert [r["customer"] for r in rows] == ["ACME", "GLOBEX"]
    assert "2 rows of archive" in result.stderr


def test_a_computed_export_refuses_since_position(db: str, tmp_path: Path) -> None:
    result = run(db, "followup-queue", "--format", "csv", "-o", str(tmp_path / "q.csv"),
                 "--since-position", "2")
    assert result.exit_code == 1
    assert "only the table exports take --since-position" in result.stderr
    assert not (tmp_path / "q.csv").exists()


def test_the_meta_file_says_whether_an_export_holds_personal_data(
        db: str, tmp_path: Path) -> None:
    full, without = tmp_path / "full.csv", tmp_path / "without.csv"
    assert run(db, "followup-queue", "--format", "csv", "-o", str(full)).exit_code == 0
    result = run(db, "followup-queue", "--format", "csv", "-o", str(without), "--no-personal")
    assert result.exit_code == 0, result.output
    meta = json.loads(Path(f"{full}.meta.json").read_text())
    assert (meta["personal_data"], meta["personal_columns"]) == (True, ["purpose"])
    meta = json.loads(Path(f"{without}.meta.json").read_text())
    assert (meta["personal_data"], meta["left_out"]) == (False, ["purpose"])
    assert "call back" in full.read_text() and "call back" not in without.read_text()
    assert "purpose" not in next(csv.reader(io.StringIO(without.read_text())))


def test_an_export_of_a_table_without_personal_columns_says_it_holds_none(
        db: str, tmp_path: Path) -> None:
    out = tmp_path / "channels.csv"
    assert run(db, "archive-channels", "--format", "csv", "-o", str(out)).exit_code == 0
    assert json.loads(Path(f"{out}.meta.json").read_text())["personal_data"] is False
