"""kill -9 of ``touchlog export`` and ``touchlog audit --export`` at chosen points: each
write boundary of their files (domain/storage/faults.py ``file_step``) and statements of
their reads, numbered by a traced run from the same database (tests/reliability/crashes.py).

Both replace a previous export (``--force``) with one that differs. After each kill the
data file is the complete previous file or the complete new one; its description (the
``.meta.json``, the manifest) is absent or describes the data file beside it; no temporary
file is left; and the command run again completes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.crashes import COMMAND, Point, killed, traced
from tests.reliability.databases import Databases, fill

FILE_STEPS = ("WRITE", "SYNC", "REMOVE", "PUBLISH")
SQL_POINTS = 3  # statements of the reads killed besides every file step (all: --runslow)


def kill_plan(trace: list[Point], at_most: Any) -> list[Point]:
    """Every write boundary, and some of the statements."""
    steps = [p for p in trace if p.statement.startswith(FILE_STEPS)]
    assert steps, "the traced run wrote no file"
    statements = [p for p in trace if p not in steps]
    return sorted([*steps, *at_most(statements, SQL_POINTS)], key=lambda p: p.number)


class Scenario:
    """A log, a previous export of it, one more contact, and the command that exports again."""

    def __init__(self, databases: Databases, folder: Path, touchlog: Any,
                 export: Callable[[str, Path], list[str]], target: str) -> None:
        self.databases, self.folder, self.touchlog = databases, folder, touchlog
        self.export, self.target = export, target
        self.start = databases.new()
        fill(self.start, customers=30)
        self.previous = self._run(self.start, folder / "previous", force=False)
        assert touchlog("--db", self.start, "contact", "log", "C0001", "--channel", "phone",
                        "--at", "2019-06-01", "--actor", "ann").returncode == 0
        self.new = self._run(databases.new(template=self.start), folder / "new", force=False)
        assert self.new[self.target] != self.previous[self.target]

    def _run(self, db: str, out: Path, *, force: bool) -> dict[str, bytes]:
        out.mkdir()
        result = self.touchlog("--db", db, *self.args(out), *(["--force"] if force else []))
        assert result.returncode == 0, result.stderr
        return contents(out)

    def args(self, out: Path) -> list[str]:
        return self.export(self.target, out)

    def prepared(self, out: Path) -> str:
        """A copy of the log and, in ``out``, the previous export."""
        out.mkdir()
        for name, data in self.previous.items():
            (out / name).write_bytes(data)
        return self.databases.new(template=self.start)


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def export_args(target: str, out: Path) -> list[str]:
    return ["export", "contacts", "--format", "csv", "-o", str(out / target)]


def audit_args(target: str, out: Path) -> list[str]:
    return ["audit", "C0001", "--export", str(out)]


def export_described(files: dict[str, bytes], data: str) -> None:
    meta = files.get(f"{data}.meta.json")
    if meta is not None:
        assert json.loads(meta)["rows"] == files[data].count(b"\n") - 1


def audit_described(files: dict[str, bytes], data: str) -> None:
    manifest = files.get("manifest.json")
    if manifest is not None:
        assert json.loads(manifest)["events_sha256"] == hashlib.sha256(files[data]).hexdigest()


@pytest.mark.parametrize("export, target, described", [
    (export_args, "contacts.csv", export_described),
    (audit_args, "events.jsonl", audit_described),
], ids=["export", "audit-export"])
def test_a_killed_export_leaves_the_previous_file_or_the_complete_new_one(
        databases: Databases, tmp_path: Path, touchlog: Any, at_most: Any,
        figures: Counter[str], export: Callable[[str, Path], list[str]], target: str,
        described: Callable[[dict[str, bytes], str], None]) -> None:
    scenario = Scenario(databases, tmp_path, touchlog, export, target)
    traced_out = tmp_path / "traced"
    trace = traced(["--db", scenario.prepared(traced_out), *scenario.args(traced_out),
                    "--force"], COMMAND, tmp_path)
    for n, point in enumerate(kill_plan(trace, at_most)):
        out = tmp_path / f"killed-{n}"
        db = scenario.prepared(out)
        killed(["--db", db, *scenario.args(out), "--force"], point, tmp_path)
        left = contents(out)
        assert left[target] in (scenario.previous[target], scenario.new[target]), point
        assert set(left) <= set(scenario.new), f"left behind at {point}: {sorted(left)}"
        if left[target] == scenario.previous[target]:
            assert left in (scenario.previous, {target: left[target]}), point
        described(left, target)
        rerun = touchlog("--db", db, *scenario.args(out), "--force")
        assert rerun.returncode == 0, rerun.stderr
        assert contents(out)[target] == scenario.new[target]
        databases.discard(db)
        kind = "export" if export is export_args else "audit --export"
        figures[f"kill -9 landed, {databases.kind}: {kind}"] += 1
