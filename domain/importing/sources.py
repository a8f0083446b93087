"""The reading of a source file into rows of text: CSV (any delimiter and quote), TSV,
white-space separated columns, JSON Lines and .xlsx (docs/import.md "Mapping files").

``read_table(stream, source)`` gives the column names and a lazy iterator over the data
rows, each as its first line number and its values in column order; every value is text
("" when absent). A row (all its lines) over MAX_ROW_CHARACTERS refuses the file, in every
format: no row is ever read whole.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, Any

import orjson

from touchlog.domain.errors import InvalidInput

# A row (all its lines, when a quoted value spans lines) longer than this refuses the file;
# it is never read whole, so memory does not grow with the longest line (docs/import.md).
MAX_ROW_CHARACTERS = 1_048_576


class RowTooLong(Exception):
    """A row went past MAX_ROW_CHARACTERS (raised through the csv module, turned into an
    InvalidInput naming the row's line)."""


def too_long(line: int) -> InvalidInput:
    return InvalidInput("file", f"line {line}", f"a row longer than {MAX_ROW_CHARACTERS:,} "
                        "characters; nothing was imported")


FORMATS = ("csv", "tsv", "whitespace", "jsonl", "xlsx")
REJECTS_COLUMNS = ("line", "field", "reason")  # a rejects file's last three columns


@dataclass(frozen=True)
class Source:
    """How a file is read: the mapping's ``[source]``, or the plain contract's CSV."""

    format: str = "csv"
    delimiter: str = ","
    quote: str | None = '"'  # None: values are never quoted
    encoding: str = "utf-8"
    header: bool = True  # the first row (after skip_rows) names the columns
    columns: tuple[str, ...] | None = None  # the names, when there is no header row
    skip_rows: int = 0  # lines before the header (or the first row)
    timezone: str | None = None
    sheet: str | None = None  # .xlsx: the worksheet (default the first)


REJECTS_SOURCE = Source()  # how touchlog reads a rejects file it wrote, whatever the mapping


class Malformed(list[str]):
    """A row that could not be read into values (a JSON line that is not an object): the
    row is rejected with ``reason`` when it is parsed, like any other bad row."""

    def __init__(self, reason: str, shown: str) -> None:
        super().__init__()
        self.reason, self.shown = reason, shown


def text_stream(stream: IO[Any], encoding: str) -> IO[str]:
    """The stream as text in ``encoding`` (a BOM is skipped in UTF-8); line breaks are read
    as written. A text stream is used as it is."""
    if isinstance(stream, io.TextIOBase):
        return stream
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    return io.TextIOWrapper(stream, encoding=codec, newline="")


def looks_like_rejects(stream: IO[Any]) -> bool:
    """Whether the file is a rejects file touchlog wrote: UTF-8 CSV whose header ends with
    line, field and reason. Looks at the first line without consuming it."""
    first = b""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        first = peek(65_536)
    elif not isinstance(stream, io.TextIOBase) or not stream.seekable():
        return False
    else:
        position = stream.tell()
        first = stream.readline(65_536).encode("utf-8", "replace")
        stream.seek(position)
    line = first.split(b"\n", 1)[0].removeprefix(codecs.BOM_UTF8).rstrip(b"\r")
    try:
        names = next(csv.reader([line.decode("utf-8")]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return False
    return tuple(name.strip() for name in names[-3:]) == REJECTS_COLUMNS


def read_table(stream: IO[Any], source: Source, wanted: tuple[str, ...] = ()
               ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The columns and the data rows of ``stream`` read as ``source`` says. ``wanted`` are
    the columns a JSON Lines source without declared ``columns`` gives."""
    if source.format == "xlsx":
        from touchlog.domain.importing.workbook import read_workbook

        return read_workbook(stream, source)
    text = text_stream(stream, source.encoding)
    _keep_line_breaks(text)
    lines = Lines(text)
    skipped = _skip(lines, source.skip_rows)
    if source.format == "jsonl":
        columns = list(source.columns or wanted)
        return columns, _json_rows(lines, columns, skipped)
    if source.format == "whitespace":
        rows = _split_rows(lines, skipped)
    else:
        quoting = {"quotechar": source.quote} if source.quote else {"quoting": csv.QUOTE_NONE}
        delimiter = "\t" if source.format == "tsv" else source.delimiter
        rows = rows_of(csv.reader(lines, delimiter=delimiter, **quoting), lines, skipped)
    if not source.header:
        return list(source.columns or ()), rows
    try:
        _line, names = next(rows)
    except StopIteration:
        raise InvalidInput("header", "", "the file is empty; expected a header row") from None
    return [name.strip() for name in names], rows


class Lines:
    """The stream's lines, each read at most up to what the row being read may still hold:
    ``row_size`` counts the row's characters, reset for each row (``rows_of``)."""

    def __init__(self, stream: IO[str]) -> None:
        self.readline = stream.readline
        self.row_size = 0

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        line = self.readline(MAX_ROW_CHARACTERS + 1 - self.row_size)
        if not line:
            raise StopIteration
        self.row_size += len(line)
        if self.row_size > MAX_ROW_CHARACTERS:
            raise RowTooLong
        return line


def _keep_line_breaks(stream: IO[str]) -> None:
    """Reads line breaks as written: the csv module needs ``newline=""``.

    Otherwise a text stream turns "\r\n" or "\r" inside a quoted value into "\n", and the
    stored text would differ from the file's. Only possible before anything was read.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with suppress(ValueError, OSError):
            reconfigure(newline="")


def rows_of(reader: Any, lines: Lines, skipped: int = 0) -> Iterator[tuple[int, list[str]]]:
    """The rows of a csv ``reader`` over ``lines``, each with its first line number, blank
    lines left out; ``skipped`` lines were read before the reader started."""
    first_line = skipped + reader.line_num + 1
    while True:
        lines.row_size = 0
        try:
            values: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InvalidInput("file", f"line {first_line}", f"not valid CSV: {e}") from None
        except RowTooLong:
            raise too_long(first_line) from None
        if values and (values[0].strip() or "".join(values).strip()):  # else a blank line
            yield first_line, values
        first_line = skipped + reader.line_num + 1


def _skip(lines: Lines, count: int) -> int:
    for skipped in range(count):
        lines.row_size = 0
        try:
            next(lines)
        except StopIteration:
            return skipped
        except RowTooLong:
            raise too_long(skipped + 1) from None
    return count


def _lines(lines: Lines, skipped: int) -> Iterator[tuple[int, str]]:
    number = skipped
    while True:
        lines.row_size = 0
        try:
            line = next(lines)
        except StopIteration:
            return
        except RowTooLong:
            raise too_long(number + 1) from None
        number += 1
        if line.strip():
            yield number, line


def _split_rows(lines: Lines, skipped: int) -> Iterator[tuple[int, list[str]]]:
    for number, line in _lines(lines, skipped):
        yield number, line.split()


def _json_rows(lines: Lines, columns: list[str], skipped: int
               ) -> Iterator[tuple[int, list[str]]]:
    for number, line in _lines(lines, skipped):
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            yield number, Malformed(f"not JSON ({e.msg})", line.strip()[:60])
            continue
        if not isinstance(data, dict):
            yield number, Malformed("a JSON Lines row must be an object", line.strip()[:60])
            continue
        yield number, [cell_text(data.get(name)) for name in columns]


def cell_text(value: object) -> str:
    """A JSON value or a spreadsheet cell as the text a mapping reads: absent is "", whole
    numbers have no ".0", times are ISO 8601 (without an offset: read in the time zone)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()
