"""``touchlog report html``: one self-contained file, checked in a real headless Chromium.

The page loads with no console error and no request beyond its own file, every chart has
drawn marks, a screenshot is not blank, and every number shown is the CLI's JSON of the
same report with the same options.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.browser import CHROMIUM, chromium, load, png_pixels, screenshot
from touchlog.cli.main import cli
from touchlog.projections.reports.catalogue import REPORTS
from touchlog.projections.reports.report import AS_OF, PERIOD

OPTIONS = {"--as-of": "2026-06-30", "--since": "2025-03-01", "--until": "2026-05-31"}
CHROMIUM_MISSING = (f"{CHROMIUM} not found: the browser test of the HTML report is SKIPPED "
                    "(make test installs Debian's chromium where apt-get can)")


def run(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("html")
    db = str(folder / "demo.db")
    run(db, "demo", "--customers", "60")
    out = folder / "report.html"
    run(db, "report", "html", "-o", str(out), *(x for kv in OPTIONS.items() for x in kv))
    return db, out


def cli_json(db: str, name: str) -> list[dict[str, Any]]:
    """The report as the CLI gives it, with the options it takes of the page's."""
    takes = REPORTS[name].options
    given = [x for option, value in OPTIONS.items()
             if (AS_OF if option == "--as-of" else PERIOD) in takes for x in (option, value)]
    rows: list[dict[str, Any]] = json.loads(run(db, "report", name, "--format", "json",
                                                *given))
    return rows


def test_the_page_is_one_file_that_loads_nothing(page_file: tuple[str, Path]) -> None:
    page = page_file[1].read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"\b(?:src|href)=|url\(|@import", page)
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}
    assert len(re.findall(r'<svg class="chart"', page)) == 11


@pytest.mark.skipif(not CHROMIUM.exists(), reason=CHROMIUM_MISSING)
def test_the_page_draws_every_chart_in_a_real_browser_with_the_clis_numbers(
        page_file: tuple[str, Path]) -> None:
    db, path = page_file
    with chromium() as page:
        load(page, path)
        charts = page.evaluate(
            "[...document.querySelectorAll('svg.chart')].map(s => ({name: s.dataset.report, "
            "marks: [...s.querySelectorAll('.mark')].map(m => { const b = m.getBBox(); "
            "return {value: m.dataset.value, width: b.width, height: b.height}; })}))")
        tables = page.evaluate(
            "[...document.querySelectorAll('table.numbers, table.grid')].map(t => ({name: "
            "t.dataset.report, rows: [...t.rows].slice(1).map(r => [...r.cells]"
            ".filter(c => c.tagName === 'TD').map(c => JSON.parse(c.dataset.json)))}))")
        shot = screenshot(page)
        assert page.errors() == []
        assert {url.split(":")[0] for url in page.requested()} == {"file"}
    assert len(charts) == 11
    for chart in charts:
        assert chart["marks"], f"{chart['name']} drew nothing"
        assert all(m["width"] > 0 and m["height"] > 0 for m in chart["marks"]), chart["name"]
    shown = {t["name"]: t["rows"] for t in tables}
    for name in REPORTS:
        if name in shown:
            rows = cli_json(db, name)
            columns = REPORTS[name].column_names
            assert shown[name] == [[row[c] for c in columns] for row in rows], name
    funnel = next(c for c in charts if c["name"] == "funnel")
    assert [int(m["value"]) for m in funnel["marks"]] == [
        r["customers"] for r in cli_json(db, "funnel")]
    grid = Counter((r["r"], r["fm"]) for r in cli_json(db, "rfm-customers"))
    assert shown["rfm-grid"] == [[grid[(r, f)] for f in range(1, 6)] for r in range(5, 0, -1)]
    width, height, pixels = png_pixels(shot)
    colours = Counter(pixel for row in pixels for pixel in
                      (row[i:i + 4] for i in range(0, len(row), 4)))
    assert (width, height) == (200, 300)
    assert len(colours) > 20 and colours.most_common(1)[0][1] < 0.95 * width * height
