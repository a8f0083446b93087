"""The import's spool reads back what the models make, in application order, with the
occurrences of identical rows counted as over the whole file, whatever the file's order."""

from __future__ import annotations

import csv
import io
import os
import select
import tempfile
from contextlib import ExitStack
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.row_oracle import RawRow, parse_row
from touchlog.domain.application import ContactEntry, card_entry
from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing import parallel
from touchlog.domain.importing import pipeline as importer
from touchlog.domain.importing import spool as spool_module
from touchlog.domain.importing.csv_rows import by_column, read_lists
from touchlog.domain.settings import Settings

SETTINGS = Settings()
HEADER = ["customer", "occurred_at", "channel", "contact_id", "amount", "stage", "actor",
          "follow_up_due", "follow_up_owner"]
ROWS = st.tuples(st.sampled_from(["ACME", "BOB", "Zed", "été"]),
                 st.sampled_from(["2018-01-01", "2018-01-01T00:00:00", "2018-01-02 10:00:00",
                                  "2017-12-31T23:00:00-01:00", "soon"]),
                 st.sampled_from(["phone", "store", "pigeon"]),
                 st.sampled_from(["", "", "", "", "x1", "c-0"]),
                 st.sampled_from(["", "", "10.00", "abc"]),
                 st.sampled_from(["", "", "expansion"]),
                 st.sampled_from(["", "ann"]),
                 st.sampled_from(["", "", "2018-02-01"]),
                 st.sampled_from(["", "bob"]))


def text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([HEADER, *rows])
    return out.getvalue()


def through_models(rows: list[list[str]]) -> list[Any]:
    """What the spool must give: the models' entries, sorted, identical rows counted by line
    over the whole file (a given id counts like the derived id it equals)."""
    _, data = read_lists(io.StringIO(text(rows)))
    good = []
    for line, values in data:
        try:
            entry = parse_row(RawRow(line, by_column(HEADER, values)), SETTINGS)
        except InvalidInput:
            continue
        card = card_entry(entry, SETTINGS).card
        good.append((entry.reference, card["occurred_at"], line, card["contact_id"], entry))
    seen: dict[str, int] = {}
    occurrences = {}
    for _ref, _at, line, key, entry in sorted(good, key=lambda g: g[2]):
        occurrences[line] = seen.get(key, 0) if entry.contact.contact_id is None else 0
        seen[key] = seen.get(key, 0) + 1
    result = []
    for reference, _at, line, _key, entry in sorted(good, key=lambda g: g[:3]):
        made = card_entry(ContactEntry(reference, entry.contact, entry.follow_up,
                                       occurrences[line]), SETTINGS)
        result.append((line, reference, list(made.card.items()), made.follow_up))
    return result


def through_spool(rows: list[list[str]], batch: int) -> list[Any]:
    with tempfile.TemporaryDirectory() as folder:
        spool = spool_module.Spool(folder)
        try:
            importer._validate(io.StringIO(text(rows)), importer.Reading(), None, SETTINGS,
                               spool, importer.Summary(), lambda rejection: None)
            return [(line, entry.reference, list(entry.card.items()), entry.follow_up)
                    for lines, entries in spool.batches(batch)
                    for line, entry in zip(lines, entries, strict=True)]
        finally:
            spool.close()


def with_derived_ids(rows: list[list[str]]) -> list[list[str]]:
    """Rows whose contact_id "c-0" becomes the derived id of another (valid) row."""
    keys = []
    for values in rows:
        try:
            entry = parse_row(RawRow(2, by_column(HEADER, values)), SETTINGS)
            keys.append(card_entry(entry, SETTINGS).card["contact_id"])
        except InvalidInput:
            pass
    return [[*r[:3], keys[-1 - i % len(keys)] if r[3] == "c-0" and keys else r[3], *r[4:]]
            for i, r in enumerate(rows)]


@settings(max_examples=150, deadline=None)
@given(st.lists(ROWS, max_size=14), st.sampled_from([1, 2, 3, 5000]), st.booleans(),
       st.booleans())
def test_the_spool_reads_back_the_models_entries_in_application_order(
        drawn: list[tuple[str, ...]], block: int, in_order: bool, given_derived: bool) -> None:
    rows = [list(r) for r in drawn]
    if in_order:
        rows.sort(key=lambda r: (r[0], r[1]))
    if given_derived:
        rows = with_derived_ids(rows)
    with mock.patch.object(spool_module, "BLOCK_ROWS", block):
        assert through_spool(rows, batch=2) == through_models(rows)


def test_a_row_rejected_while_recorded_is_reported_with_its_values_as_read(
        tmp_path: Any) -> None:
    from touchlog.domain.application import TouchpointLog

    rows = [["A", "2018-01-01", "phone", "", "", "", "ann", "", ""],
            ["A", "2018-01-02", "phone", "", "", "", "", "2018-02-01", ""],  # nobody owns it
            ["B", "2018-01-01", "phone", "", "", "", "", "", ""]]
    rows.insert(1, ["A", "2018-01-01T12:00", "store", "", "1.50", "", "", "", ""])
    rejected: list[importer.Rejection] = []
    with mock.patch.object(spool_module, "BLOCK_ROWS", 2), \
            TouchpointLog(Settings(db=str(tmp_path / "t.db"))) as log:
        summary = importer.import_file(
            log, io.StringIO(text(rows) + 'C,2018-01-01,"pho\nne"\r\n'),
            on_reject=rejected.append)
    assert (summary.imported, summary.rejected) == (3, 2)
    by_line = {r.line: r for r in rejected}
    assert by_line[4].values == dict(zip(HEADER, rows[2], strict=True))
    assert by_line[4].field == "follow_up_owner" and by_line[4].columns == HEADER
    assert by_line[6].values == {"customer": "C", "occurred_at": "2018-01-01",
                                 "channel": "pho\nne"}


def pass_one(text: str, **patches: Any) -> tuple[list[str], list[Any]]:
    """Pass 1 and the read-back: every rejection message, then every entry read back."""
    rejected: list[str] = []
    with tempfile.TemporaryDirectory() as folder, ExitStack() as patched:
        for name, value in {**patches, "available_cores": lambda: 2}.items():
            module = importer if hasattr(importer, name) else parallel  # whose it is
            patched.enter_context(mock.patch.object(module, name, value))
        spool = spool_module.Spool(folder)
        try:
            importer._validate(io.StringIO(text), importer.Reading(), None, SETTINGS, spool,
                               importer.Summary(),
                               lambda r: rejected.append(f"{r.message} {r.values}"))
            entries = [(line, entry) for lines, batch in spool.batches(7)
                       for line, entry in zip(lines, batch, strict=True)]
        finally:
            spool.close()
    return rejected, entries


def many_rows() -> str:
    rows = [[f"C{i % 7}", f"2018-01-{i % 28 + 1:02d}T10:00:00", "pigeon" if i % 11 == 0
             else "phone", "", str(i % 3), "", "ann" if i % 2 else "", "2018-03-01", ""]
            for i in range(300)]
    return text(rows)


def test_a_helper_process_changes_nothing_in_what_pass_one_gives() -> None:
    alone = pass_one(many_rows(), HELPER=False)
    assert len(alone[0]) > 20 and len(alone[1]) > 200
    assert pass_one(many_rows(), HELPER=True, UNIT_ROWS=4) == alone
    assert pass_one(many_rows(), HELPER=True, UNIT_ROWS=4, MAX_WAITING=1) == alone


def test_when_the_helper_fails_its_rows_are_parsed_by_the_importer() -> None:
    importer_pid = os.getpid()

    def fail_in_helper(parse: Any, unit: Any) -> Any:
        if os.getpid() != importer_pid:
            raise RuntimeError("helper broke")
        return original(parse, unit)

    original = importer._parse_unit
    alone = pass_one(many_rows(), HELPER=False)
    assert pass_one(many_rows(), UNIT_ROWS=4, _parse_unit=fail_in_helper) == alone


def test_a_helper_that_never_answers_is_not_waited_for() -> None:
    """The helper blocks until the importer has parsed every unit itself: an importer that
    waited for it would parse fewer (its units would come from the helper, released only by
    the guard's timeout), whatever the machine's speed. The release is a byte on a pipe the
    forked helper inherits, so it waits for that event, not for time."""
    importer_pid = os.getpid()
    released, release = os.pipe()
    units = 300 // 30
    parsed_here: list[int] = []

    def blocked_in_helper(parse: Any, unit: Any) -> Any:
        if os.getpid() != importer_pid:
            select.select([released], [], [], 120)  # the guard is only reached if it waits
        else:
            parsed_here.append(1)
            if len(parsed_here) == units:
                os.write(release, b"x")
        return original(parse, unit)

    original = importer._parse_unit
    alone = pass_one(many_rows(), HELPER=False)
    parsed_here.clear()
    try:
        assert pass_one(many_rows(), UNIT_ROWS=30, HELPER_PATIENCE=0.01,
                        _parse_unit=blocked_in_helper) == alone
    finally:
        os.close(released)
        os.close(release)
    assert len(parsed_here) == units  # every unit, the helper's too, was parsed here


def test_an_error_parsing_rows_is_raised_by_the_importer() -> None:
    def broken(parse: Any, unit: Any) -> Any:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        pass_one(many_rows(), UNIT_ROWS=4, _parse_unit=broken)
