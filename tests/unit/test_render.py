"""The output formats of cli/render.py: JSON written by orjson reads back as the data and is
spelled as Python's json module spells it; CSV lines read back as the cells; tables escape
controls and cut the widest columns."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from touchlog.cli.render import _csv, _json, _table

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # controls, quotes, bidi marks
SCALARS = st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | TEXT
RECORDS = st.lists(st.dictionaries(TEXT, st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6), max_size=4), max_size=4)


@given(RECORDS)
def test_json_is_spelled_as_the_json_module_spells_it(records: list[dict[str, Any]]) -> None:
    assert _json(records) == json.dumps(records, ensure_ascii=False, indent=2)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=5))
def test_json_numbers_read_back_as_the_same_numbers(numbers: list[float]) -> None:
    assert json.loads(_json({"n": numbers})) == {"n": numbers}


def test_json_shows_what_it_has_no_form_for_as_text() -> None:
    moment = datetime(2024, 1, 5, 10, tzinfo=UTC)
    shown = json.loads(_json([{"nan": float("nan"), "inf": float("inf"),
                               "deep": [{"minus": float("-inf")}], "bytes": b"\x00\xff",
                               "big": 2**70, "at": moment, "amount": Decimal("12.50")}]))
    assert shown == [{"nan": "NaN", "inf": "Infinity", "deep": [{"minus": "-Infinity"}],
                      "bytes": "\\x00ff", "big": 2**70, "at": str(moment),
                      "amount": "12.50"}]
    assert json.loads(_json({"big": 2**70, "x": 1.5})) == {"big": 2**70, "x": 1.5}


@given(st.lists(st.dictionaries(st.sampled_from("abc"), SCALARS, min_size=1), min_size=1,
                max_size=5))
def test_csv_lines_read_back_as_their_cells(rows: list[dict[str, Any]]) -> None:
    text = _csv(rows, raw=True)
    read = list(csv.reader(io.StringIO(text, newline="")))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    assert read[0] == columns

    def cell(value: Any) -> str:
        if value is None:
            return ""
        return ("true" if value else "false") if isinstance(value, bool) else str(value)
    assert read[1:] == [[cell(row.get(c)) for c in columns] for row in rows]


def test_a_table_escapes_controls_shows_instants_to_the_minute_and_cuts_the_widest() -> None:
    rows = [{"customer": "ACME\x1b[2J", "at": "2024-01-05T10:00:00+00:00",
             "stay_seconds": 90_000, "note": "x" * 40}]
    widths = (11, 16, 5, 40)  # ACME\x1b[2J escaped, an instant to the minute, 1d 1h

    def line(*values: str) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))
    assert _table(rows, None).splitlines() == [
        line("customer", "at", "stay", "note").rstrip(), line(*("-" * w for w in widths)),
        line("ACME\\x1b[2J", "2024-01-05 10:00", "1d 1h", "x" * 40)]
    cut = _table(rows, 50).splitlines()
    assert max(map(len, cut)) <= 50 and cut[2].endswith("x…")
