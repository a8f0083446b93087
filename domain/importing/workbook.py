"""The reading of an .xlsx worksheet into rows of text, through openpyxl (the optional
``xlsx`` extra: ``pip install 'touchlog[xlsx]'``).

The sheet is streamed (openpyxl's read-only mode), so memory does not grow with its rows.
Line numbers are the sheet's row numbers; cells become text as ``cell_text`` says (whole
numbers without ".0", dates and times in ISO 8601). A row over MAX_ROW_CHARACTERS refuses
the file, as in every other format.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.sources import (
    MAX_ROW_CHARACTERS,
    Source,
    cell_text,
    too_long,
)


def read_workbook(stream: IO[Any], source: Source
                  ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    try:
        from openpyxl import load_workbook
    except ImportError:
        raise InvalidInput("file", "xlsx", "reading .xlsx needs the optional openpyxl "
                           "package: pip install 'touchlog[xlsx]'") from None
    if isinstance(stream, io.TextIOBase) or not stream.seekable():
        raise InvalidInput("file", "xlsx", "an .xlsx file is read from a file, not a pipe")
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidInput("file", type(e).__name__, f"not an .xlsx workbook: {e}") from None
    if source.sheet is not None and source.sheet not in book.sheetnames:
        raise InvalidInput("source.sheet", source.sheet,
                           f"no such worksheet; the workbook has: {', '.join(book.sheetnames)}")
    sheet = book[source.sheet] if source.sheet is not None else book.worksheets[0]
    rows = _rows(sheet, source.skip_rows)
    if not source.header:
        return list(source.columns or ()), rows
    try:
        _line, names = next(rows)
    except StopIteration:
        raise InvalidInput("header", "", "the sheet is empty; expected a header row") from None
    while names and not names[-1]:
        names.pop()  # cells formatted but empty at the header's end are no columns
    return [name.strip() for name in names], rows


def _rows(sheet: Any, skip: int) -> Iterator[tuple[int, list[str]]]:
    for number, cells in enumerate(sheet.iter_rows(values_only=True), 1):
        if number <= skip:
            continue
        values = [cell_text(cell) for cell in cells]
        if sum(map(len, values)) > MAX_ROW_CHARACTERS:
            raise too_long(number)
        while values and not values[-1]:
            values.pop()
        if values:
            yield number, values
