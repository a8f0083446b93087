"""``touchlog import`` of the files people have: delimiters, encodings, time zones, other
formats, mapping errors, the summary of rejections, and rejects files imported again."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from touchlog.cli.main import cli

HEADER = "customer,occurred_at,channel,summary"


def run(db: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, ["--db", db, *args])


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def events(db: str, customer: str) -> list[dict[str, object]]:
    result = run(db, "timeline", customer, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return [e for e in json.loads(result.stdout) if e["type"] == "contact"]


def assert_refused(result: Result, *words: str) -> None:
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize(("separator", "option", "hint"), [
    (";", ";", "looks ';'-separated"), ("\t", "tab", "looks tab-separated")])
def test_a_file_read_with_the_wrong_delimiter_gets_a_hint_and_imports_with_the_right_one(
        sqlite_url: str, tmp_path: Path, separator: str, option: str, hint: str) -> None:
    path = write(tmp_path, "in.csv", f"customer{separator}occurred_at{separator}channel\n"
                 f"ACME{separator}2018-01-05{separator}phone\n")
    assert_refused(run(sqlite_url, "import", path), "unknown column", hint, "--delimiter")
    assert not Path(sqlite_url).exists()
    result = run(sqlite_url, "import", path, "--delimiter", option, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 1


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "gb18030", "utf-8-sig"])
def test_a_file_in_another_encoding_imports_with_encoding(
        sqlite_url: str, tmp_path: Path, encoding: str) -> None:
    text = "Müller café" if encoding != "gb18030" else "接触管理 Müller"
    path = write(tmp_path, "in.csv", f"{HEADER}\nACME,2018-01-05,phone,{text}\n", encoding)
    if encoding != "utf-8-sig":
        assert_refused(run(sqlite_url, "import", path), "not UTF-8 text", "--encoding")
    result = run(sqlite_url, "import", path, "--encoding", encoding)
    assert result.exit_code == 0, result.stderr
    assert events(sqlite_url, "ACME")[0]["summary"] == text


def test_an_unknown_encoding_or_delimiter_is_a_usage_error(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", f"{HEADER}\nA,2018-01-05,phone,x\n")
    assert "unknown encoding" in run(sqlite_url, "import", path, "--encoding", "x-1").stderr
    assert "one character" in run(sqlite_url, "import", path, "--delimiter", ";;").stderr


def test_times_without_an_offset_are_read_in_the_time_zone_asked_for(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "customer,occurred_at,channel,follow_up_due,actor\n"
                 "A,2018-01-05T10:00,phone,2018-07-01,ann\n"
                 "A,2018-07-05 10:00:00,phone,,ann\n"
                 "A,2018-07-06T10:00+00:00,phone,,ann\n")
    result = run(sqlite_url, "import", path, "--tz", "Europe/Berlin")
    assert result.exit_code == 0, result.stderr
    # Berlin: UTC+1 in winter, UTC+2 in summer; a time with an offset keeps it.
    assert [e["occurred_at"] for e in events(sqlite_url, "A")] == [
        "2018-01-05T09:00:00+00:00", "2018-07-05T08:00:00+00:00", "2018-07-06T10:00:00+00:00"]
    due = run(sqlite_url, "followups", "--format", "json")
    assert json.loads(due.stdout)[0]["due_at"] == "2018-06-30T22:00:00+00:00"


def test_the_time_zone_of_touchlog_toml_applies_unless_tz_says_otherwise(
        tmp_path: Path) -> None:
    config = tmp_path / "touchlog.toml"
    config.write_text('[import]\ntimezone = "Asia/Shanghai"\n')
    env = {"TOUCHLOG_CONFIG": str(config)}
    path = write(tmp_path, "in.csv", "customer,occurred_at,channel\nA,2018-01-05T10:00,phone\n")
    db = str(tmp_path / "one.db")
    assert run(db, "import", path, env=env).exit_code == 0
    assert events(db, "A")[0]["occurred_at"] == "2018-01-05T02:00:00+00:00"
    other = str(tmp_path / "two.db")
    assert run(other, "import", path, "--tz", "UTC", env=env).exit_code == 0
    assert events(other, "A")[0]["occurred_at"] == "2018-01-05T10:00:00+00:00"


def test_a_time_the_clocks_skipped_is_rejected_and_an_unknown_zone_refused(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "customer,occurred_at,channel\n"
                 "A,2018-03-25T02:30,phone\nA,2018-03-25T03:30,phone\n")
    assert_refused(run(sqlite_url, "import", path, "--tz", "Mars/Base"), "unknown time zone")
    assert not Path(sqlite_url).exists()
    result = run(sqlite_url, "import", path, "--tz", "Europe/Berlin")
    assert_refused(result, "rejected line 2: occurred_at: that time does not exist in "
                   "Europe/Berlin")
    assert [e["occurred_at"] for e in events(sqlite_url, "A")] == ["2018-03-25T01:30:00+00:00"]


def mapping(tmp_path: Path, text: str) -> str:
    path = tmp_path / "map.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


VISITS = """
[source]
format = "{format}"
{extra}
[[records]]
name = "visit"
[records.fields]
customer = "{{cust}}"
occurred_at = "{{at}}"
channel = {{ column = "src", map = {{ g = "web", mail = "email" }}{default} }}
"""


def visits(tmp_path: Path, fmt: str = "csv", extra: str = "", default: str = "") -> str:
    return mapping(tmp_path, VISITS.format(format=fmt, extra=extra, default=default))


def test_a_bad_mapping_is_refused_with_every_problem_and_records_nothing(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "cust,at,src\nA,2018-01-05,g\n")
    bad = mapping(tmp_path, VISITS.format(format="csv", extra="", default="")
                  .replace('"{at}"', '{ column = "at", formats = ["%Q"] }')
                  .replace("[records.fields]", '[records.fields]\nmood = "x"'))
    assert_refused(run(sqlite_url, "import", path, "--mapping", bad), "2 problems",
                   "records.visit.fields.occurred_at.formats[1]", "records.visit.fields.mood")
    assert not Path(sqlite_url).exists()


def test_a_mapping_naming_a_column_the_file_lacks_is_refused_before_any_row(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "cust;at;src\nA;2018-01-05;g\n")
    assert_refused(run(sqlite_url, "import", path, "--mapping", visits(tmp_path)),
                   "no column 'cust' in the file", "looks ';'-separated")
    assert not Path(sqlite_url).exists()


def test_values_a_map_without_default_does_not_list_refuse_the_file_with_their_counts(
        sqlite_url: str, tmp_path: Path) -> None:
    rows = "".join(f"A,2018-01-0{n},{src}\n" for n, src in
                   enumerate(["g", "nytimes", "nytimes", "bing", "nytimes"], 1))
    path = write(tmp_path, "in.csv", "cust,at,src\n" + rows)
    result = run(sqlite_url, "import", path, "--mapping", visits(tmp_path))
    assert_refused(result, "records.visit.fields.channel.map", "'nytimes' (3 rows)",
                   "'bing' (1 row)", "nothing was imported")
    assert not Path(sqlite_url).exists()


def test_rejections_are_summarised_by_field_and_reason_naming_the_channels_once(
        sqlite_url: str, tmp_path: Path) -> None:
    rows = "".join(f"A,2018-01-{n:02},{src}\n" for n, src in
                   enumerate(["g", "nytimes", "nytimes", "nytimes", "g"], 1))
    path = write(tmp_path, "in.csv", "cust,at,src\n" + rows + "A,yesterday,g\n")
    result = run(sqlite_url, "import", path, "--mapping",
                 visits(tmp_path, default=', default = "{src}"'), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["imported"] == 2
    assert ("rejected line 3: channel: unknown channel (got 'nytimes') "
            "[record 'visit', channel from {src}]") in result.stderr
    assert "  channel 'nytimes': unknown channel: 3 rows" in result.stderr
    assert "  occurred_at: expected an ISO 8601 date or datetime: 1 row" in result.stderr
    assert result.stderr.count("advertising") == 1  # the known channels, once


def test_a_rejects_file_from_a_mapped_import_is_corrected_and_imported_as_it_is(
        sqlite_url: str, tmp_path: Path) -> None:
    log = write(tmp_path, "log.txt", "A 2018-01-05 g\nB 2018-01-06 mail\nC someday g\n")
    spec = visits(tmp_path, "whitespace", 'header = false\ncolumns = ["cust", "at", "src"]')
    rejects = tmp_path / "rejects.csv"
    first = run(sqlite_url, "import", log, "--mapping", spec, "--rejects", str(rejects))
    assert first.exit_code == 1
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert rows == [{"cust": "C", "at": "someday", "src": "g", "line": "3",
                     "field": "occurred_at",
                     "reason": "expected an ISO 8601 date or datetime (got 'someday')"}]
    fixed = rejects.read_text(encoding="utf-8").replace("someday", "2018-01-07")
    rejects.write_text(fixed, encoding="utf-8")
    again = run(sqlite_url, "import", str(rejects), "--mapping", spec, "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["imported"] == 1
    assert [e["occurred_at"] for e in events(sqlite_url, "C")] == ["2018-01-07T00:00:00+00:00"]


def test_a_rejects_file_of_the_plain_contract_is_imported_again_as_it_is(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", f"{HEADER}\nA,2018-01-05,phone,x\nB,2018-01-06,pigeon,y\n")
    rejects = tmp_path / "rejects.csv"
    run(sqlite_url, "import", path, "--rejects", str(rejects))
    rejects.write_text(rejects.read_text(encoding="utf-8").replace("pigeon", "email"),
                       encoding="utf-8")
    again = run(sqlite_url, "import", str(rejects), "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert [e["channel"] for e in events(sqlite_url, "B")] == ["email"]


def test_tsv_with_a_preamble_and_json_lines_read_through_mappings(
        sqlite_url: str, tmp_path: Path) -> None:
    tsv = write(tmp_path, "in.tsv", "Exported 2018-02-01\n\ncust\tat\tsrc\nA\t2018-01-05\tg\n")
    result = run(sqlite_url, "import", tsv, "--mapping",
                 visits(tmp_path, "tsv", "skip_rows = 2"), "--format", "json")
    assert result.exit_code == 0, result.stderr
    lines = write(tmp_path, "in.jsonl", '{"cust": "B", "at": "2018-01-06", "src": "mail"}\n'
                  '{"cust": "B", "at": \n' '["not", "an object"]\n'
                  '{"cust": "B", "at": "2018-01-07", "src": "g", "extra": {"a": 1}}\n')
    result = run(sqlite_url, "import", lines, "--mapping", visits(tmp_path, "jsonl"))
    assert result.exit_code == 1
    assert "rejected line 2: row: not JSON" in result.stderr
    assert "rejected line 3: row: a JSON Lines row must be an object" in result.stderr
    assert [e["channel"] for e in events(sqlite_url, "B")] == ["email", "web"]
    assert [e["channel"] for e in events(sqlite_url, "A")] == ["web"]


def test_an_xlsx_workbook_reads_through_a_mapping(sqlite_url: str, tmp_path: Path) -> None:
    from datetime import datetime

    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Visits"
    sheet.append(["cust", "at", "src"])
    sheet.append([2, datetime(2018, 1, 5, 10, 30), "g"])  # a number and a real date cell
    book.save(tmp_path / "in.xlsx")
    spec = visits(tmp_path, "xlsx", 'sheet = "Visits"\ntimezone = "Europe/Berlin"')
    result = run(sqlite_url, "import", str(tmp_path / "in.xlsx"), "--mapping", spec)
    assert result.exit_code == 0, result.stderr
    assert [e["occurred_at"] for e in events(sqlite_url, "2")] == ["2018-01-05T09:30:00+00:00"]
    wrong = visits(tmp_path, "xlsx", 'sheet = "Sheet9"')
    assert_refused(run(sqlite_url, "import", str(tmp_path / "in.xlsx"), "--mapping", wrong),
                   "no such worksheet", "Visits")


def test_strict_with_a_mapping_records_nothing_when_a_row_is_bad(
        sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "cust,at,src\nA,2018-01-05,g\nB,never,g\n")
    result = run(sqlite_url, "import", path, "--mapping", visits(tmp_path), "--strict")
    assert_refused(result, "nothing was imported (--strict)")
    assert not Path(sqlite_url).exists()


def test_a_long_line_refuses_a_json_lines_file_as_it_does_csv(
        sqlite_url: str, tmp_path: Path) -> None:
    from touchlog.domain.importing.csv_rows import MAX_ROW_CHARACTERS

    lines = write(tmp_path, "in.jsonl", '{"cust": "A", "at": "2018-01-05", "src": "g"}\n'
                  + '{"cust": "' + "x" * MAX_ROW_CHARACTERS + '"}\n')
    assert_refused(run(sqlite_url, "import", lines, "--mapping", visits(tmp_path, "jsonl")),
                   "a row longer than 1,048,576 characters", "line 2")
    assert not Path(sqlite_url).exists()


def test_the_rejects_file_never_replaces_the_mapping(sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "cust,at,src\nA,never,g\n")
    spec = visits(tmp_path)
    before = Path(spec).read_text()
    result = run(sqlite_url, "import", path, "--mapping", spec, "--rejects", spec, "--force")
    assert_refused(result, "it is the mapping file")
    assert Path(spec).read_text() == before


def test_a_missing_mapping_file_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "cust,at,src\nA,2018-01-05,g\n")
    assert_refused(run(sqlite_url, "import", path, "--mapping", str(tmp_path / "no.toml")),
                   "no.toml: file: cannot read")
