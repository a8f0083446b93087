"""``touchlog projections`` and ``touchlog export`` through the real CLI."""

from __future__ import annotations

import builtins
import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from touchlog.cli.main import cli
from touchlog.domain.application import TouchpointLog
from touchlog.domain.contact import Contact
from touchlog.domain.settings import Settings


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "t.db")
    with TouchpointLog(Settings(db=path)) as log:
        for day in (5, 6):
            log.log_contact("ACME", Contact(occurred_at=f"2018-01-0{day}", channel="phone",
                                            amount="1.10"))
    return path


def run(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    return result.exit_code, result.output


def test_status_shows_lag_until_run_catches_up(db: str) -> None:
    _, out = run(db, "projections", "status", "--format", "json")
    assert {s["lag"] for s in json.loads(out)} == {3}
    code, out = run(db, "projections", "run")
    assert code == 0 and "applied 3 events" in out
    _, out = run(db, "projections", "status", "--format", "json")
    assert {s["lag"] for s in json.loads(out)} == {0}


@pytest.mark.parametrize("name", [None, "archive", "stages", "followups"])
def test_rebuild_one_or_all_projections(db: str, name: str | None) -> None:
    code, out = run(db, "projections", "rebuild", *([name] if name else []))
    assert code == 0 and "from 3 events" in out


def test_rebuild_of_an_unknown_projection_exits_1(db: str) -> None:
    code, out = run(db, "projections", "rebuild", "nope")
    assert code == 1 and "unknown projection" in out


def test_queries_on_a_missing_database_exit_1(tmp_path: Path) -> None:
    assert run(str(tmp_path / "missing.db"), "projections", "status")[0] == 1


@pytest.mark.parametrize("name", ["contacts", "archive", "stage-history", "followups"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_rows_and_the_position_they_reflect(db: str, tmp_path: Path, name: str,
                                                          fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    code, text = run(db, "export", name, "--format", fmt, "-o", str(out))
    assert code == 0, text
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["position"] == 3 and meta["export"] == name
    assert out.exists()


def test_export_since_position_gives_only_rows_changed_after_it(db: str, tmp_path: Path) -> None:
    out = tmp_path / "c.csv"
    run(db, "export", "contacts", "--format", "csv", "-o", str(out), "--since-position", "2")
    rows = list(csv.DictReader(out.open()))
    assert [r["occurred_at"] for r in rows] == ["2018-01-06T00:00:00+00:00"]
    assert rows[0]["amount"] == "1.10" and rows[0]["retracted"] == "false"


def test_export_jsonl_keeps_amounts_exact(db: str, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    run(db, "export", "archive", "--format", "jsonl", "-o", str(out))
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["total_amount"] == "2.20"


def test_export_parquet_without_pyarrow_says_how_to_install(
        db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    code, out = run(db, "export", "archive", "--format", "parquet", "-o", str(tmp_path / "p"))
    assert code == 1 and "pip install 'touchlog[parquet]'" in out


def test_export_usage_errors_exit_2(db: str, tmp_path: Path) -> None:
    assert run(db, "export", "nope", "--format", "csv", "-o", str(tmp_path / "x"))[0] == 2
    assert run(db, "export", "archive", "--format", "xml", "-o", str(tmp_path / "x"))[0] == 2
    assert run(db, "export", "archive", "--format", "csv")[0] == 2
