"""The benchmark harness runs end to end at a tiny size and records every measurement."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from touchlog.projections.reports.catalogue import REPORTS

REPO = Path(__file__).resolve().parents[2]
# Measurement -> the numbers in it that must be positive.
EXPECTED = {
    "raw": ("insert_rows_per_s", "read_decode_rows_per_s", "state_bytes_avg"),
    "import": ("contacts_per_s", "ratio_to_raw_insert", "peak_rss_mb", "total_s"),
    "rebuild": ("events", "events_per_s", "ratio_to_raw_read"),
    "timeline_process": ("median_s",),
    "verify": ("seconds", "events", "events_per_s"),
    "reports": (),
}
QUERY_NUMBERS = ("n", "p50_ms", "p99_ms")
# Measured on SQLite only: the mapped import against the plain one.
MAPPED = ("contacts_per_s", "import_time_ratio_to_plain", "total_time_ratio_to_plain")


def run_harness(tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "300", "--queries", "20",
         "--timeline-runs", "2", "--mapped-rounds", "1", "--json", str(out), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "import contacts/s" in done.stdout  # the table
    return dict(json.loads(out.read_text()))


def assert_complete(result: dict[str, Any], kind: str) -> None:
    assert result["run"]["db_kind"] == kind
    assert result["run"]["contacts"] == 300
    assert result["data"]["contacts"] == 300 and result["data"]["events"] > 300
    assert result["machine"]["cores"] and result["machine"]["python"]
    m = result["measurements"]
    for name, keys in EXPECTED.items():
        for key in keys:
            assert m[name][key] > 0, (name, key, m[name])
    for query in ("timeline", "archive", "followups"):
        for key in QUERY_NUMBERS:
            assert m["queries"][query][key] > 0, (query, key)
    if kind == "sqlite":
        for key in MAPPED:
            assert m["mapped"][key] > 0, ("mapped", key, m["mapped"])
    else:
        assert "mapped" not in m
    # Each measurement's conditions: the CPU of its processes, how busy the machine was.
    measured = {"timeline_process" if n == "timeline" else n for n in m}
    assert set(result["conditions"]) == measured
    for name, found in result["conditions"].items():
        assert found["wall_s"] > 0 and found["cpu_s"] >= 0, name
        assert 0 <= found["busy_others"] <= found["busy"] <= 1, name
    assert result["conditions"]["import"]["cpu_s"] >= m["import"]["import_cpu_s"]
    assert {name for name in m["reports"]} == {*REPORTS, "html", "customers_pass"}
    assert all(m["reports"][name]["median_s"] > 0 for name in REPORTS)
    # the floor beside them: one pass over every customer
    assert m["reports"]["customers_pass"]["rows"] == result["run"]["customers"] > 0
    assert m["reports"]["html"]["bytes"] > 0
    # Without --compare no growth ratios; the mapped import's ratio on SQLite only; the
    # browser's load time where chromium is.
    assert len(result["targets"]) == (8 if kind == "sqlite" else 7) + len(REPORTS) + (
        m["reports"]["html"]["load_s"] is not None)


def test_harness_records_every_measurement_on_sqlite(tmp_path: Path) -> None:
    result = run_harness(tmp_path)
    assert_complete(result, "sqlite")
    assert {t["pass"] for t in result["targets"]} <= {True, False}
    # Compared with a run (here itself): a growth ratio per report, judged against 10, and
    # the customers' pass beside them, shown but not judged.
    from benchmarks.report import compare, table, targets

    (tmp_path / "other.json").write_text(json.dumps(result))
    result["comparison"] = compare(result, tmp_path / "other.json")
    assert result["comparison"]["customers pass 300/300"] == 1.0
    result["targets"] = targets(result)
    judged = {t["target"]: t["limit"] for t in result["targets"]}
    assert judged["report rfm 300/300"] == "<= 10"
    assert not any(name.startswith("customers pass") for name in judged)
    assert "customers pass 300/300" in table(result)


def test_a_run_compared_with_a_kept_one_times_the_reports_on_both(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    first = run_harness(tmp_path, "--only", "reports", "--keep", str(kept))
    assert first["run"]["db"] == str(kept / "touchlog.db")
    (tmp_path / "first.json").write_text(json.dumps(first))
    second = run_harness(tmp_path, "--only", "reports", "--compare",
                         str(tmp_path / "first.json"))
    reports = second["measurements"]["reports"]
    assert second["run"]["db"] is None  # not kept: nothing to compare with later
    for name in (*REPORTS, "customers_pass"):
        # the kept database timed in this run, alternately with its own
        assert reports[name]["other_median_s"] > 0, name
    own = reports["rfm"]
    assert second["comparison"]["report rfm 300/300"] == pytest.approx(
        own["median_s"] / own["other_median_s"])
    assert "other_median_s" not in first["measurements"]["reports"]["rfm"]


@pytest.mark.postgres
def test_harness_records_every_measurement_on_postgres_and_drops_its_database(
        tmp_path: Path, postgres_url: str) -> None:
    result = run_harness(tmp_path, "--db", postgres_url)
    assert_complete(result, "postgres")
    assert result["machine"]["postgres"]
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute("SELECT datname FROM pg_database "
                            "WHERE datname LIKE 'touchlog_bench_%'").fetchall()
    assert left == []


def test_import_stages_times_the_recorder_and_the_follower(tmp_path: Path) -> None:
    """``python -m benchmarks.import_stages``: both writing processes' stages, each timed
    where it ran (the follower is made to start at once)."""
    from benchmarks.generate import write_csv

    source = tmp_path / "contacts.csv"
    write_csv(source, 300)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.import_stages", str(source), str(tmp_path / "s.db")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TOUCHLOG_BATCHING": "follow_imports_from=1,alongside=50"})
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout[done.stdout.index("import of 300 contacts"):]
    recorder, follower = table.split("\ntouchlog-follower: ")
    calls = {m[1]: int(m[2].replace(",", "")) for m in re.finditer(
        r"^ +(\S.*?) +[\d.]+ s +[\d.]+ µs +\(([\d,]+)×\)$", recorder, re.MULTILINE)}
    assert calls["pass 1: read, parse (with the parsing helper), spool"] == 1
    assert calls["pass 2: record the spool"] == 1
    assert calls["events: make, seal, chain, apply"] > 300  # a contact's, a follow-up's
    assert calls["seal personal fields"] > 300
    assert "decode, open sealed fields" in follower
    assert "apply: read, compute, write, commit" in follower
