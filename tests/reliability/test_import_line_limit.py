"""An import's memory does not grow with the longest line: a row over MAX_ROW_CHARACTERS
(docs/import.md "The file") refuses the file, naming the row's line, before the row is read
whole. The memory claim is held deterministically: the command runs under an address-space
limit (RLIMIT_AS) far below what reading a long line whole would need."""

from __future__ import annotations

import io
import resource
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import assert_clear_error
from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.csv_rows import MAX_ROW_CHARACTERS, read_lists

ADDRESS_SPACE = 400 << 20  # a touchlog import needs under 150 MB of it


def limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


HEADER = "customer,occurred_at,channel,summary\n"
LIMIT_TEXT = f"{MAX_ROW_CHARACTERS:,} characters"


def test_importing_an_endless_line_is_refused_within_bounded_memory(
        tmp_path: Path, touchlog: Any, figures: Counter[str]) -> None:
    db = tmp_path / "touchlog.db"
    result = touchlog("--db", str(db), "import", "/dev/zero", preexec_fn=limited_memory)
    assert_clear_error(result, "line 1", LIMIT_TEXT)
    assert not db.exists()
    figures["hostile input: over-long rows refused within bounded memory"] += 1


@pytest.mark.parametrize("row", [
    lambda: f"B,2018-01-06,phone,{'x' * (64 << 20)}\n",  # 64 MiB on one line
    lambda: "B,2018-01-06,phone," + '"x\n",' * 300_000 + "\n",  # values spanning many lines
], ids=["one-line", "many-lines"])
def test_a_row_over_the_limit_refuses_the_file_and_records_nothing(
        tmp_path: Path, touchlog: Any, row: Callable[[], str], figures: Counter[str]) -> None:
    data = tmp_path / "in.csv"
    data.write_text(HEADER + "A,2018-01-05,phone,fine\n" + row() + "C,2018-01-07,phone,x\n")
    db = tmp_path / "touchlog.db"
    result = touchlog("--db", str(db), "import", str(data), preexec_fn=limited_memory)
    assert_clear_error(result, "line 3", LIMIT_TEXT)
    assert not db.exists()
    figures["hostile input: over-long rows refused within bounded memory"] += 1


def test_a_row_of_exactly_the_limit_is_read_and_one_more_character_is_refused() -> None:
    start = "A,2018-01-05,phone,"  # values of 100,000 characters: the csv module's own
    values = ",".join(["x" * 100_000] * 10)  # limit is 131,072 characters a value
    exact = f"{start}{values},{'x' * (MAX_ROW_CHARACTERS - len(start + values) - 2)}\n"
    assert len(exact) == MAX_ROW_CHARACTERS
    _, rows = read_lists(io.StringIO(HEADER + exact + exact))
    assert [line for line, _ in rows] == [2, 3]
    _, rows = read_lists(io.StringIO(HEADER + exact + "x" + exact))
    with pytest.raises(InvalidInput, match=LIMIT_TEXT) as refused:
        list(rows)
    assert refused.value.value == "line 3"
