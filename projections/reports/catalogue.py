"""Every report by name: its view in the reporting schema, its query and its export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from touchlog.projections.engine.schema import View
from touchlog.projections.reports import contact_reports, followup_report, stage_reports
from touchlog.projections.reports.frame import Frame, Window
from touchlog.projections.reports.report import Report

if TYPE_CHECKING:
    from touchlog.projections.engine.dialect import Dialect
    from touchlog.projections.engine.reporting_db import ReportingDB
    from touchlog.projections.queries.export import Computed

# In the order the docs and the HTML report list them.
ORDER = ("stages", "funnel", "time-in-stage", "rfm", "rfm-customers", "channels",
         "dissolutions", "satisfaction", "cohorts", "followups")
_ALL = {r.name: r for r in (*stage_reports.REPORTS, *contact_reports.REPORTS,
                            *followup_report.REPORTS)}
REPORTS: dict[str, Report] = {name: _ALL[name] for name in ORDER}


def views(dialect: Dialect) -> list[View]:
    """Every report's view: its SQL without options, read at the database's ``now``."""
    return [View(r.view, r.select(Frame(dialect, Window(), view=True)))
            for r in REPORTS.values()]


def run(db: ReportingDB, report: Report, window: Window) -> list[dict[str, Any]]:
    """The report's rows for ``window``, from the tables as they are (not caught up)."""
    frame = Frame(db.dialect, window)
    return db.query_named(report.select(frame), frame.params)


def report_exports() -> dict[str, Computed]:
    """``touchlog export report-NAME``: each report with no options, as it is now."""
    from touchlog.projections.queries.export import Computed

    def exported(report: Report) -> Computed:
        return Computed(report.projections, report.columns,
                        lambda queries: queries.report(report.name, Window()))

    return {f"report-{r.name}": exported(r) for r in REPORTS.values()}
