"""Output formats shared by every query command: a table for people, JSON and CSV for tools.

JSON conventions: instants are ISO 8601 in UTC with offset, amounts exact decimal strings,
absent values null; the output is always valid JSON (a number that is not finite, which only
a tampered reporting table holds, is the text "NaN", "Infinity" or "-Infinity"). JSON is
exact; a table shows control characters escaped, so stored text cannot drive the terminal;
CSV neutralises cells a spreadsheet would run as formulas (``--raw-csv`` keeps them as
stored).

Tables are for people: instants in one form (``2018-01-05 10:00``, UTC), a ``*_seconds``
column as days and hours, and the widest cells cut to fit the terminal's width (``--wide``
cuts nothing; nor does a table written to a file or a pipe, unless ``COLUMNS`` is set).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from math import isfinite
from typing import Any, TypeVar

import click
import orjson

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
RAW_CSV = "touchlog.raw_csv"  # the context's meta keys of --raw-csv and --wide
WIDE = "touchlog.wide"
OUTPUT_FORMATS = ("table", "json", "csv")
NARROWEST = 6  # a column is never cut narrower than this, nor than its heading


def output_format(command: F) -> F:
    """The shared ``--format`` option (table on a terminal, JSON otherwise), ``--raw-csv``
    and ``--wide``, which ``render`` reads from the command's context."""
    command = click.option(
        "--wide", is_flag=True, expose_value=False, callback=_remember(WIDE),
        help="Tables show every cell whole, however wide (default: cut to the terminal).",
    )(command)
    command = click.option(
        "--raw-csv", is_flag=True, expose_value=False, callback=_remember(RAW_CSV),
        help="CSV cells exactly as stored, without the apostrophe that stops a spreadsheet "
             "from running a cell beginning with = + - @ as a formula.",
    )(command)
    return click.option(
        "--format", "fmt", type=click.Choice(OUTPUT_FORMATS), default=None,
        help="table (default on a terminal), json (default otherwise) or csv.",
    )(command)


def force_option(command: F) -> F:
    """The shared ``--force`` of commands that write a file (docs/cli.md "Files touchlog
    writes"): replace an existing file instead of refusing to."""
    return click.option("--force", is_flag=True,
                        help="Replace the file if it exists (else the command refuses).")(command)


def listing_options(command: F) -> F:
    """The shared ``--limit N`` and ``--reverse`` of commands that list (``listed``)."""
    command = click.option("--reverse", is_flag=True,
                           help="Newest (or last) first.")(command)
    return click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N",
                        help="At most N entries (after --reverse: the N newest).")(command)


def listed(entries: Sequence[T], limit: int | None, reverse: bool) -> list[T]:
    """The entries in their order (reversed with ``reverse``), the first ``limit`` of them."""
    ordered = list(reversed(entries)) if reverse else list(entries)
    return ordered if limit is None else ordered[:limit]


def _remember(key: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def remember(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        ctx.meta[key] = value
    return remember


def chosen_format(fmt: str | None) -> str:
    """The format asked for, else table on a terminal and JSON otherwise."""
    return fmt or ("table" if sys.stdout.isatty() else "json")


def emit(data: Sequence[Mapping[str, Any]] | Mapping[str, Any], fmt: str | None) -> None:
    """Prints ``render(data, fmt)`` exactly: tables and JSON are escaped already, and CSV
    keeps its cells as ``render`` made them (click would strip escape sequences off a pipe)."""
    click.echo(render(data, fmt), color=True)


def render(data: Sequence[Mapping[str, Any]] | Mapping[str, Any], fmt: str | None) -> str:
    """Text for ``data`` (a record or a list of records) in the chosen format."""
    fmt = chosen_format(fmt)
    if fmt == "json":
        return _json(data)
    rows = [data] if isinstance(data, Mapping) else list(data)
    if fmt == "csv":
        context = click.get_current_context(silent=True)
        return _csv(rows, raw=bool(context and context.meta.get(RAW_CSV)))
    context = click.get_current_context(silent=True)
    return _table(rows, None if context and context.meta.get(WIDE) else terminal_width())


# orjson writes the text json.dumps(indent=2, ensure_ascii=False) writes, but for how a
# few numbers are spelled (1e-05 as 0.00001), many times faster (tests/unit/test_render.py);
# instants, dates and dataclasses go to ``_shown``, as json.dumps would send them.
_JSON_OPTIONS = (orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
                 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)


def _json(data: Any) -> str:
    """JSON as RFC 8259 has it, always: a value JSON has no form for (a number that is not
    finite, bytes: only a tampered reporting table holds one) is shown by ``json_value``,
    any other value of no JSON kind as its text."""
    if _non_finite(data):
        data = _finite(data)
    try:
        return orjson.dumps(data, default=_shown, option=_JSON_OPTIONS).decode()
    except orjson.JSONEncodeError:  # what orjson does not write: an integer beyond 64 bits
        return json.dumps(data, ensure_ascii=False, indent=2, default=_shown,
                          allow_nan=False)


def _shown(value: Any) -> Any:
    from touchlog.projections.engine.dialect import json_value

    return json_value(value) if isinstance(value, bytes | bytearray | memoryview) \
        else str(value)


def _non_finite(data: Any) -> bool:
    """Whether a number that is not finite is anywhere in ``data`` (orjson would write it
    as null). Records are mostly text and whole numbers, passed over at once."""
    if isinstance(data, float):
        return not isfinite(data)
    if isinstance(data, dict):
        data = data.values()
    elif not isinstance(data, list | tuple):
        return False
    for value in data:
        kind = value.__class__
        if kind is float:
            if not isfinite(value):
                return True
        elif kind is not str and kind is not int and value is not None \
                and _non_finite(value):
            return True
    return False


def _finite(data: Any) -> Any:
    from touchlog.projections.engine.dialect import json_value

    if isinstance(data, Mapping):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return json_value(data)


def _cell(value: Any) -> str:
    if type(value) is str:  # most cells
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


class _Lines(list[str]):
    """What a csv writer writes: one call per row, the whole line."""

    write = list.append


def _csv(rows: Sequence[Mapping[str, Any]], raw: bool) -> str:
    # With "\n" as the terminator the csv module leaves a value holding a bare "\r"
    # unquoted, and it would not read back as written; "\r\n" quotes it. Lines end in "\n".
    lines = _Lines()
    writer = csv.writer(lines, lineterminator="\r\n")
    columns = _columns(rows)
    from touchlog.projections.queries.export import spreadsheet_safe

    safe = (lambda text: text) if raw else spreadsheet_safe
    writer.writerow(columns)
    writer.writerows([safe(_cell(row.get(c))) for c in columns] for row in rows)
    return "\n".join(line[:-2] for line in lines)


def terminal_width() -> int | None:
    """The width tables are cut to: ``COLUMNS`` when set, else the terminal's; None (cut
    nothing) when the output is no terminal."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _table(rows: Sequence[Mapping[str, Any]], width: int | None) -> str:
    if not rows:
        return "(nothing)"
    columns = [c for c in _columns(rows) if any(row.get(c) is not None for row in rows)]
    cells = [[_table_cell(c, row.get(c)) for c in columns] for row in rows]
    headings = [_heading(c) for c in columns]
    widest = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headings)]
    widths = _fitted(widest, [max(len(h), NARROWEST) for h in headings], width)
    cut = [i for i, (w, most) in enumerate(zip(widths, widest, strict=True)) if w < most]
    for values in (headings, *cells) if cut else ():
        for i in cut:
            values[i] = _fit(values[i], widths[i])
    # every value fits its column now: each line is one format, left-aligned and padded
    template = "  ".join(f"{{:<{w}}}" for w in widths)

    def line(values: Sequence[str]) -> str:
        return template.format(*values).rstrip()

    return "\n".join([line(headings), line(["-" * w for w in widths]), *map(line, cells)])


def _fitted(widths: list[int], least: list[int], room: int | None) -> list[int]:
    """Column widths that fit ``room`` characters with two spaces between columns: the
    widest column gives way first, down to its ``least`` width; a table that cannot fit
    even then is as narrow as it can be."""
    widths = list(widths)
    if room is None:
        return widths
    excess = sum(widths) + 2 * (len(widths) - 1) - room
    while excess > 0:
        shrinkable = [i for i, w in enumerate(widths) if w > least[i]]
        if not shrinkable:
            break
        widths[max(shrinkable, key=lambda i: widths[i])] -= 1
        excess -= 1
    return widths


def _fit(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


# How instants are stored and given in JSON: ISO 8601 in UTC with its offset.
_INSTANT = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):\d\d(?:\.\d{1,6})?\+00:00")


def short_instant(value: str) -> str:
    """An instant as tables show it, to the minute in UTC (``2018-01-05 10:00``); any other
    text as it is."""
    if len(value) < 25 or value[10] != "T":  # too short for one, or no "T" where it goes
        return value
    match = _INSTANT.fullmatch(value)
    return f"{match[1]} {match[2]}" if match else value


def days_and_hours(seconds: int | float) -> str:
    """A length of time for people: ``22d 5h`` (whole hours, rounded down)."""
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(int(seconds), 86_400)
    return f"{sign}{days}d {rest // 3_600}h"


def _heading(column: str) -> str:
    return column.removesuffix("_seconds")


def _table_cell(column: str, value: Any) -> str:
    """A value as a table shows it, its controls escaped."""
    kind = value.__class__
    if kind is int or kind is float:  # most cells that are not text: no control in them
        return days_and_hours(value) if column.endswith("_seconds") else str(value)
    if isinstance(value, str):
        text = short_instant(value)
    elif column.endswith("_seconds") and isinstance(value, int | float) \
            and not isinstance(value, bool):
        text = days_and_hours(value)
    else:
        text = _cell(value)
    # every character escaped is one isprintable() refuses: most text is passed at once
    return text if text.isprintable() else text.translate(_ESCAPED)


# Characters a table shows escaped: C0 and C1 controls and DEL (escape sequences, bells,
# carriage returns), and the bidirectional controls that reorder what a terminal shows.
_ESCAPED = {code: ascii(chr(code))[1:-1] for code in (*range(0x20), *range(0x7F, 0xA0),
                                                     *range(0x202A, 0x202F),
                                                     *range(0x2066, 0x206A))}
