"""``touchlog report html``: every report in one self-contained HTML file.

The charts are SVG written by projections/reports/svg.py: the page has no script, no font,
no image and no link to load, so it opens as it is from an email attachment, and it draws
at once (docs/reporting.md "The HTML report" says why this was chosen). Each chart is
followed by its report's numbers, every cell carrying the value exactly as the report's
JSON gives it (``data-json``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from touchlog.domain.storage.files import NewFiles
from touchlog.projections.engine.runner import protected_databases
from touchlog.projections.reports import svg
from touchlog.projections.reports.catalogue import REPORTS
from touchlog.projections.reports.frame import STAGE_ORDER, Window
from touchlog.projections.reports.report import AS_OF, PERIOD

if TYPE_CHECKING:
    from touchlog.projections.queries.reads import Queries

Rows = list[dict[str, Any]]
STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:760px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd}
.label{fill:#333}.value{fill:#555}table{border-collapse:collapse;font-size:12px;margin:6px 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}summary{cursor:pointer;color:#555}
.note{color:#666;font-size:12px}"""


def reports_for(queries: Queries, window: Window) -> dict[str, Rows]:
    """Every report for the page, each with the options it takes, read at one time."""
    window = replace(window, as_of=window.as_of or datetime.now(UTC))
    chosen = {}
    for name, report in REPORTS.items():
        options = report.options
        chosen[name] = queries.report(name, replace(
            window, since=window.since if PERIOD in options else None,
            until=window.until if PERIOD in options else None,
            as_of=window.as_of if AS_OF in options else None))
    return chosen


def write_html(queries: Queries, window: Window, path: Path, *, force: bool = False) -> None:
    """Writes the page (safely, domain/storage/files.py); an existing file only with
    ``force``."""
    protected = protected_databases(queries.log.settings)
    with NewFiles(force=force, protected=protected) as files:
        files.check(path)
        window = replace(window, as_of=window.as_of or datetime.now(UTC))
        page = render(reports_for(queries, window), window)
        files.open(path, text=True).write(page)


def render(data: dict[str, Rows], window: Window) -> str:
    """The page for the reports' rows."""
    period = (f"{window.since or 'the start'} to {window.until or 'the end'}"
              if window.since or window.until else "the whole log")
    as_of = window.as_of.isoformat(timespec="seconds") if window.as_of else "now"
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>touchlog report</title><style>{STYLE}</style></head><body>"
             f"<h1>Relationship report</h1><p class=\"note\">States as of {escape(as_of)}; "
             f"activity over {escape(period)}. Every number comes from <code>touchlog "
             f"report NAME --format json</code> with the same options.</p>"]
    for title, chart, names in _sections(data):
        parts.append(f"<section><h2>{escape(title)}</h2>{chart}")
        parts += [_numbers(name, data[name]) for name in names]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _sections(data: dict[str, Rows]) -> list[tuple[str, str, list[str]]]:
    funnel, stages, times = data["funnel"], data["stages"], data["time-in-stage"]
    months = sorted({r["period"] for r in stages})
    per = {(r["period"], r["stage"]): r["customers"] for r in stages}
    rated = [r for r in data["satisfaction"] if r["channel"] is None]
    cohorts = data["cohorts"]
    ended = data["dissolutions"]
    grid = Counter((str(r["r"]), str(r["fm"])) for r in data["rfm-customers"])
    return [
        ("Funnel", svg.bars("funnel", [(r["stage"], [r["customers"]]) for r in funnel],
                            ["customers"]), ["funnel"]),
        ("Customers per stage over time", svg.lines(
            "stages", months, [(s, [per.get((m, s)) for m in months]) for s in STAGE_ORDER]),
         ["stages"]),
        ("Time in stage (days, closed stays)", svg.bars(
            "time-in-stage", [(r["stage"], [r["median_days"], r["p90_days"]]) for r in times],
            ["median", "p90"]), ["time-in-stage"]),
        ("RFM grid: customers by recency (R) and frequency-monetary (FM) score", svg.heatmap(
            "rfm-customers", [str(r) for r in range(5, 0, -1)], [str(f) for f in range(1, 6)],
            dict(grid), corner="R \\ FM") + _grid(grid), ["rfm"]),
        ("RFM segments", svg.bars("rfm", [(r["segment"], [r["customers"]])
                                          for r in data["rfm"]], ["customers"]), []),
        ("Channel mix", svg.bars("channels", [(r["channel"], [r["contacts"], r["purchases"]])
                                              for r in data["channels"]],
                                 ["contacts", "purchases"]), []),
        ("Channel outcomes", svg.bars(
            "channel-outcomes", [(r["channel"], [r["positive_rate"], r["negative_rate"]])
                                 for r in data["channels"]], ["positive", "negative"]),
         ["channels"]),
        ("Dissolution reasons", svg.bars(
            "dissolutions", [(f"{r['reason']} · {r['from_stage']}"[:28],
                              [r["dissolutions"], r["won_back"]]) for r in ended],
            ["dissolutions", "won back"]), ["dissolutions"]),
        ("Satisfaction trend (mean rating, every channel)", svg.lines(
            "satisfaction", [r["period"] for r in rated], [("mean", [r["mean"] for r in rated])]),
         ["satisfaction"]),
        ("Cohorts: share of each month's new customers active later", svg.heatmap(
            "cohorts", sorted({r["cohort"] for r in cohorts}),
            [str(n) for n in sorted({r["months_after"] for r in cohorts})],
            {(r["cohort"], str(r["months_after"])): r["share"] for r in cohorts},
            corner="months after"), ["cohorts"]),
        ("Follow-up backlog per owner", svg.bars(
            "followups", [(str(r["owner"]), [r["overdue"], r["cadence_overdue"], r["open"]])
                          for r in data["followups"]], ["overdue", "cadence overdue", "open"]),
         ["followups"]),
    ]


def _grid(grid: Counter[tuple[str, str]]) -> str:
    """The RFM grid's counts as a table (rows R 5 to 1, columns FM 1 to 5)."""
    head = "".join(f"<th>FM {f}</th>" for f in range(1, 6))
    body = "".join(
        f"<tr><th>R {r}</th>" + "".join(
            f'<td data-json="{grid.get((str(r), str(f)), 0)}">{grid.get((str(r), str(f)), 0)}'
            "</td>" for f in range(1, 6)) + "</tr>" for r in range(5, 0, -1))
    return (f'<details><summary>Numbers</summary><table class="grid" data-report="rfm-grid">'
            f"<tr><th></th>{head}</tr>{body}</table></details>")


def _numbers(name: str, rows: Sequence[dict[str, Any]]) -> str:
    """The report's rows, each cell with its JSON value."""
    columns = REPORTS[name].column_names
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c)) for c in columns) + "</tr>"
                   for row in rows)
    return (f'<details><summary>Numbers: <code>touchlog report {escape(name)}</code> '
            f'({len(rows)} rows)</summary><table class="numbers" data-report="{escape(name)}">'
            f"<tr>{head}</tr>{body}</table></details>")


def _cell(value: Any) -> str:
    shown = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return f'<td data-json="{escape(json.dumps(value))}">{escape(shown)}</td>'
