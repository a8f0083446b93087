"""Hostile and malformed input through the real CLI: never a traceback, text kept exactly.

Property tests (hypothesis) drive ``touchlog contact log`` and ``touchlog import`` with
arbitrary unicode, SQL text, NUL characters, over-long fields, impossible dates and odd
amounts, and ``touchlog import`` with random bytes, other encodings and broken headers.
Every run ends either in a correct import, where each stored text field comes back from
``touchlog timeline REF --format json`` byte for byte, or in a clear error (exit 1, an
"Error: …" line) that recorded nothing. Example counts are bounded for CI; ``--runslow``
runs ten times as many.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchlog.cli.main import cli
from touchlog.domain.importing.csv_rows import COLUMNS

EXAMPLES, LONG_EXAMPLES = 25, 300


def examples(count: int, derandomize: bool) -> settings:
    return settings(max_examples=count, deadline=None, derandomize=derandomize,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ci_and_long(*strategies: Any, **named: Any) -> Any:
    """The property as a bounded, repeatable CI test, plus a long random one (``--runslow``)."""

    def register(body: Any) -> Any:
        ci = examples(EXAMPLES, True)(given(*strategies, **named)(body))
        long = examples(LONG_EXAMPLES, False)(given(*strategies, **named)(body))
        globals()[f"{body.__name__}_long"] = pytest.mark.slow(long)
        return ci

    return register
TEXT_FIELDS = ("purpose", "summary", "place", "actor")
SQL = ["'; DROP TABLE stored_events; --", "\" OR 1=1 --", "x'); DELETE FROM archive_customers;",
       "Robert'); DROP TABLE customers;--", "%s %s ?", "$1", "\\x00", "NULL", "' UNION SELECT 1"]
ODD = ["中文 ünïcode", "🎉👩‍👩‍👧", "\u202eRTL", "a\r\nb\rc\nd", "  padded  ", "\t", "ß" * 200,
       "é" * 201, "x" * 10_000, "y" * 10_001, "\x00", "a\x00b", "\ud800", "\ufeffBOM", "ﷺ"]
texts = st.one_of(st.text(max_size=40), st.sampled_from(SQL + ODD))
DATES = ["2018-02-30", "0000-01-01", "2018-13-01", "2018-01-01T25:00", "2018-01-01T10:00+19:00",
         "0001-01-01T00:00+05:00", "9999-12-31T23:00-05:00", "2018-1-1", "", "tomorrow",
         "2018-01-05 3:12:16", "2018-01-05T10:00:00.1234567", "2018-01-05T10:00Z"]
AMOUNTS = ["-1", "-0", "-0.00", "1e12", "1000000000000.01", "1e-13", "1e-999999", "NaN", "inf",
           "1E+5", "0.000000000001", "12,50", "1_000", "", "  7.5  ", "99999999999999999999"]


def stored_events(db: Path) -> int:
    """The customers' events stored (an import's own record aside)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM stored_events WHERE topic NOT LIKE "
                                    "'%:Import.%'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def invoke(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def no_crash(result: Result) -> None:
    """A clean exit: 0, or 1/2 with an "Error: …" message; a traceback is never a pass."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code:
        assert "Error: " in result.stderr, result.stderr


def timeline(db: Path, reference: str) -> list[dict[str, Any]]:
    result = invoke(db, "timeline", reference, "--format", "json")
    no_crash(result)
    assert result.exit_code == 0, result.stderr
    return [e for e in json.loads(result.stdout) if e["type"] == "contact"]


# What the properties share across their examples: the databases (``scratch``) and counts.
_shared: dict[str, Any] = {"tried": 0, "stored": 0}


def kept(value: str) -> str | None:
    """What the log keeps of a text field: blank means absent, anything else exactly."""
    return value if value.strip() else None


@pytest.fixture(scope="module", autouse=True)
def scratch() -> Iterator[None]:
    """The properties' two databases and their input file, in one folder removed at the
    module's end."""
    with tempfile.TemporaryDirectory(prefix="touchlog-hostile-") as folder:
        _shared.update(contact=Path(folder) / "contact.db", folder=Path(folder),
                       **{"import": Path(folder) / "import.db"})
        yield


@ci_and_long(customer=texts, fields=st.fixed_dictionaries({f: texts for f in TEXT_FIELDS}),
       at=st.one_of(st.just("2018-01-05T10:00"), st.sampled_from(DATES), st.text(max_size=20)),
       amount=st.one_of(st.just(""), st.sampled_from(AMOUNTS), st.decimals().map(str)))
def test_contact_log_stores_any_text_exactly_or_refuses_it_cleanly(
        customer: str, fields: dict[str, str], at: str, amount: str) -> None:
    db = _shared["contact"]
    before = stored_events(db)
    options = [a for f, v in fields.items() for a in (f"--{f}", v)]
    result = invoke(db, "contact", "log", customer, "--channel", "phone", "--at", at,
                    "--amount", amount, *options, "--format", "json")
    no_crash(result)
    _shared["tried"] += 1
    if result.exit_code == 2:  # a reference like "-0" reads as an option: a usage error
        assert customer.startswith("-") and "Usage:" in result.stderr, result.stderr
    if result.exit_code != 0:
        assert stored_events(db) == before  # refused: nothing written
        return
    _shared["stored"] += 1
    recorded = json.loads(result.stdout)
    [card] = [c for c in timeline(db, customer) if c["contact_id"] == recorded["contact_id"]]
    assert {f: card[f] for f in TEXT_FIELDS} == {f: kept(v) for f, v in fields.items()}
    assert recorded["customer"] == customer.strip()
    assert card["amount"] is None or "e" not in card["amount"].lower()


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


columns = st.lists(st.sampled_from(COLUMNS + ("occured_at", "Customer", "", "x" * 300)),
                   min_size=0, max_size=8)
row_values = st.one_of(texts, st.sampled_from(DATES + AMOUNTS + ["phone", "email", "pigeon"]))


@ci_and_long(extra=columns, rows=st.lists(st.lists(row_values, min_size=3, max_size=9), max_size=6),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-8", "latin-1", "utf-16"]))
def test_import_of_any_csv_is_exact_or_a_clean_refusal(
        extra: list[str], rows: list[list[str]], encoding: str) -> None:
    db, path = _shared["import"], _shared["folder"] / "in.csv"  # each example's in turn
    header = ["customer", "occurred_at", "channel", *extra]
    text = csv_text(header, rows)
    try:
        path.write_bytes(text.encode(encoding, errors="surrogatepass"))
    except UnicodeEncodeError:
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        encoding = "utf-8"
    before = stored_events(db)
    result = invoke(db, "import", str(path), "--format", "json")
    no_crash(result)
    _shared["tried"] += 1
    if result.exit_code != 0 and not result.stdout:  # refused as a whole: nothing written
        assert result.exit_code == 1 and stored_events(db) == before, result.stderr
        return
    _shared["stored"] += 1
    summary = json.loads(result.stdout)
    refused = {int(m) for m in re.findall(r"^rejected line (\d+):", result.stderr, re.M)}
    assert summary["rejected"] == len(refused)
    assert summary["imported"] + summary["duplicates"] + summary["rejected"] == summary["rows"]
    for line, values in _data_rows(path, encoding):
        if line in refused:
            continue
        by_column = dict(zip(header, values, strict=False))
        cards = timeline(db, by_column["customer"])
        wanted = {f: kept(by_column[f]) for f in TEXT_FIELDS if f in by_column}
        assert any({f: c[f] for f in wanted} == wanted for c in cards), (line, wanted)


def _data_rows(path: Path, encoding: str) -> list[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as source:
        reader = csv.reader(source)
        next(reader)
        found, line = [], reader.line_num + 1
        for values in reader:
            if any(v.strip() for v in values):
                found.append((line, values))
            line = reader.line_num + 1
        return found


@ci_and_long(data=st.binary(max_size=2_000))
def test_import_of_random_bytes_never_crashes(data: bytes) -> None:
    db, path = _shared["import"], _shared["folder"] / "in.csv"
    path.write_bytes(b"customer,occurred_at,channel,summary\n" + data if data[:1] == b"+"
                     else data)
    result = invoke(db, "import", str(path), "--format", "json")
    no_crash(result)
    _shared["tried"] += 1


def _file(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    return str(path)


GOOD = "customer,occurred_at,channel,summary\nACME,2018-01-05,phone,café ☕\n"
FILES = {
    "latin-1": (GOOD.encode("latin-1", errors="replace"), "not UTF-8"),
    "utf-16 with BOM": (GOOD.encode("utf-16"), "not UTF-8"),
    "missing required column": (b"customer,channel\nACME,phone\n", "missing required"),
    "duplicated column": (b"customer,occurred_at,channel,channel\nA,2018-01-01,phone,phone\n",
                          "duplicated column"),
    "NUL in the header": (b"custo\x00mer,occurred_at,channel\nA,2018-01-01,phone\n", "unknown"),
    "empty file": (b"", "empty"),
    "10,000 unknown columns": (
        ("customer,occurred_at,channel," + ",".join(f"c{i}" for i in range(10_000))
         + "\n").encode(), "unknown column"),
    "1 MB field": (b"customer,occurred_at,channel,summary\nA,2018-01-01,phone,"
                   + b"x" * 1_000_000 + b"\n", "field larger than field limit"),
}


@pytest.mark.parametrize("name", FILES)
def test_a_broken_file_is_refused_as_a_whole_and_nothing_is_recorded(
        name: str, tmp_path: Path, figures: Counter[str]) -> None:
    content, reason = FILES[name]
    db = tmp_path / "t.db"
    result = invoke(db, "import", _file(tmp_path, content))
    no_crash(result)
    assert result.exit_code == 1 and reason in result.stderr, result.stderr
    assert len(result.stderr) < 2_000, "the message must stay readable"
    assert stored_events(db) == 0
    figures["hostile input: inputs tried"] += 1


ROWS = {
    "NUL in a value": ("ACME,2018-01-01,phone,a\x00b", "summary", "NUL"),
    "2018-02-30": ("ACME,2018-02-30,phone,x", "occurred_at", "not a real date"),
    "year 0": ("ACME,0000-01-01,phone,x", "occurred_at", "not a real date"),
    "negative amount": ("ACME,2018-01-01,phone,x,-5", "amount", "negative"),
    "huge amount": ("ACME,2018-01-01,phone,x,1e13", "amount", "larger than the limit"),
    "tiny amount": ("ACME,2018-01-01,phone,x,1e-999999", "amount", "decimal point"),
    "10,000 values": ("ACME,2018-01-01,phone,x," + ",".join("v" * 10_000), "row", "more values"),
    "summary over 10,000": ("ACME,2018-01-01,phone," + "s" * 10_001, "summary", "longer than"),
    "place over 200": ("ACME,2018-01-01,phone,x,,," + "p" * 201, "place", "longer than"),
}


@pytest.mark.parametrize("name", ROWS)
def test_a_bad_row_is_rejected_whole_and_the_good_rows_are_imported_exactly(
        name: str, tmp_path: Path, figures: Counter[str]) -> None:
    row, field, reason = ROWS[name]
    header = "customer,occurred_at,channel,summary,amount,purpose,place\n"
    good = "GOOD,2018-01-01,phone,\"it's; DROP TABLE x;--\r\n中文\",1054.00,,\n"
    db = tmp_path / "t.db"
    result = invoke(db, "import", _file(tmp_path, (header + row + "\n" + good).encode()))
    no_crash(result)
    assert result.exit_code == 1
    assert f"rejected line 2: {field}: " in result.stderr and reason in result.stderr
    assert json.loads(result.stdout)["imported"] == 1
    assert stored_events(db) == 2  # GOOD's registration and contact; nothing of the bad row
    [card] = timeline(db, "GOOD")
    assert (card["summary"], card["amount"]) == ("it's; DROP TABLE x;--\r\n中文", "1054.00")
    figures["hostile input: inputs tried"] += 1


@pytest.mark.parametrize("field,limit", [("purpose", 200), ("place", 200), ("actor", 200),
                                         ("summary", 10_000)])
def test_text_over_its_limit_is_refused_never_truncated(field: str, limit: int,
                                                        tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    at_limit = "é" * limit
    ok = invoke(db, "contact", "log", "A", "--channel", "phone", "--at", "2018-01-01",
                f"--{field}", at_limit, "--format", "json")
    assert ok.exit_code == 0, ok.output
    assert timeline(db, "A")[0][field] == at_limit
    events = stored_events(db)
    for size in (limit + 1, 1_000_000):
        refused = invoke(db, "contact", "log", "A", "--channel", "phone", "--at", "2018-01-02",
                         f"--{field}", "é" * size)
        no_crash(refused)
        assert refused.exit_code == 1 and f"longer than {limit} characters" in refused.stderr
        assert len(refused.stderr) < 500
    assert stored_events(db) == events


def test_undecodable_argument_bytes_are_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    command = [sys.executable, "-c", "from touchlog.cli.main import main; main()",
               "--db", str(db), "contact", "log", "A", "--channel", "phone", "--at",
               "2018-01-01"]
    for argument in (b"--summary=caf\xe9", b"--place=\xff\xfe", b"--actor=\xed\xa0\x80"):
        result = subprocess.run([*command, argument], capture_output=True, check=False)
        assert b"Traceback" not in result.stderr and result.returncode == 1, result.stderr
        assert result.stderr.startswith(b"Error: ") and b"UTF-8" in result.stderr
    assert stored_events(db) == 0


def test_zz_record_the_number_of_generated_inputs(figures: Counter[str]) -> None:
    assert _shared["tried"] >= 3 * EXAMPLES  # the three properties above really ran
    assert _shared["stored"] >= EXAMPLES // 4, "too few inputs were valid to check round trips"
    figures["hostile input: inputs tried"] += _shared["tried"]


def test_a_contact_near_the_end_of_time_does_not_break_the_followup_queue(
        tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    logged = CliRunner().invoke(cli, ["--db", db, "contact", "log", "Y", "--channel", "phone",
                                      "--at", "9999-12-31T23:00", "--actor", "ann"])
    assert logged.exit_code == 0, logged.output
    result = CliRunner().invoke(cli, ["--db", db, "followups", "--format", "json"])
    assert result.exit_code == 0, repr(result.exception)
    assert json.loads(result.output) == []  # its next cadence date is past the calendar


def test_the_rejects_file_reads_back_as_written(tmp_path: Path) -> None:
    data, rejects = tmp_path / "in.csv", tmp_path / "rejects.csv"
    data.write_bytes(b'customer,occurred_at,channel,summary\r\n,2018-01-01,phone,"a\rb"\r\n')
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "import", str(data),
                                      "--rejects", str(rejects)])
    assert result.exit_code == 1
    with rejects.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    assert [(r["summary"], r["line"]) for r in rows] == [("a\rb", "2")]
