"""What a report is asked for (``Window``) and what its SQL is written with (``Frame``).

A report's SQL is written once, for two uses: ``touchlog report NAME`` runs it with the
options as named parameters (``:as_of``, ``:since`` …), and the report's view of the
reporting schema is the same SQL without options, where the reading time is the database's
own ``now``. A clause for an option not given is left out, so a view needs no parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from touchlog.domain.settings import DEFAULT_CADENCE_DAYS
from touchlog.domain.values import Stage
from touchlog.projections.engine.dialect import Dialect
from touchlog.projections.engine.schema import CADENCE_OWNER, SUMMARY_WITHIN_DAYS

# The channels report's default: purchases within 30 days after a contact, the period the
# archive's summary counts (schema.SUMMARY_WITHIN_DAYS).
WITHIN_DAYS = SUMMARY_WITHIN_DAYS
STAGE_ORDER = tuple(stage.value for stage in Stage)
STAGES = ("stages(stage, stage_rank) AS (VALUES "
          + ", ".join(f"('{s}', {rank})" for rank, s in enumerate(STAGE_ORDER, 1)) + ")")
# Whose a customer is, in every report: its owner, else whoever contacted it last (the
# follow-up queue's rule, schema.CADENCE_OWNER).
OWNERS = (f"owners AS NOT MATERIALIZED (SELECT customer, {CADENCE_OWNER} AS owner "
          "FROM archive_customers)")


def count_where(condition: str) -> str:
    """SQL: how many rows of the group meet ``condition``."""
    return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


@dataclass(frozen=True)
class Window:
    """A report's options: a period of whole days (``since`` and ``until`` inclusive), the
    time a state is read at (``as_of``, default now), and the filters."""

    since: date | None = None
    until: date | None = None
    as_of: datetime | None = None
    owner: str | None = None
    channel: str | None = None
    within_days: int = WITHIN_DAYS
    per_owner: bool = False
    # False: count the detail rows even where the report summaries would answer (the two
    # give the same numbers; tests/integration/test_report_summaries.py compares them).
    from_summaries: bool = True
    cadence: Mapping[str, int] = field(default_factory=lambda: {
        s.value: d for s, d in DEFAULT_CADENCE_DAYS.items() if d})


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


class Frame:
    """A report's SQL pieces for one dialect and window; ``view`` writes them for a view."""

    def __init__(self, dialect: Dialect, window: Window, *, view: bool = False) -> None:
        self.d = dialect
        self.w = window
        self.view = view
        self.params: dict[str, Any] = {}
        self.no_whole_month = False  # a period within one month, not the whole of it
        if not view:
            moment = window.as_of or datetime.now(UTC)
            self.params["as_of"] = dialect.instant(moment)
            if window.since is not None:
                self.params["since"] = dialect.instant(midnight(window.since))
                self.params["since_day"] = window.since.isoformat()
            if window.until is not None:
                self.params["until"] = dialect.instant(midnight(window.until))
                self.params["until_day"] = window.until.isoformat()
                self.params["until_end"] = dialect.instant(
                    midnight(window.until) + timedelta(days=1))
            if window.since is not None or window.until is not None:
                self._whole_months(window.since, window.until)
            if window.owner is not None:
                self.params["owner"] = window.owner
            if window.channel is not None:
                self.params["channel"] = window.channel

    def _whole_months(self, since: date | None, until: date | None) -> None:
        """The period's whole months (``whole_first`` to ``whole_last``, ``2024-03``) and
        where they begin and end (``whole_start``, ``whole_end``), for a monthly summary."""
        first = last = None
        if since is not None:
            first = since if since.day == 1 else _next_month(since)
            self.params["whole_first"] = first.isoformat()[:7]
            self.params["whole_start"] = self.d.instant(midnight(first))
        if until is not None:
            end = until + timedelta(days=1)
            last = end if end.day == 1 else until.replace(day=1)
            self.params["whole_last"] = (last - timedelta(days=1)).isoformat()[:7]
            self.params["whole_end"] = self.d.instant(midnight(last))
        self.no_whole_month = first is not None and last is not None and first >= last

    def whole_months(self, month: str) -> str:
        """SQL: ``month`` (a month as text, ``2024-03``) is one of the period's whole
        months; ``1 = 1`` without a period."""
        if self.no_whole_month:
            return "1 = 0"
        return self._between(month, "whole_first", "whole_last")

    def edges(self, column: str) -> str | None:
        """SQL: ``column`` (an instant) lies in the period but in none of its whole
        months (its first days before them, its last days after them); None when there are
        no such days."""
        if self.no_whole_month:
            return self.period(column)
        clauses = []
        if "since" in self.params and self.params["since"] != self.params["whole_start"]:
            clauses.append(f"({column} >= :since AND {column} < :whole_start)")
        if "until" in self.params and self.params["until_end"] != self.params["whole_end"]:
            clauses.append(f"({column} >= :whole_end AND {column} < :until_end)")
        return " OR ".join(clauses) or None

    @property
    def as_of(self) -> str:
        """SQL: the instant a state is read at."""
        return self.d.now if self.view else ":as_of"

    def period(self, column: str) -> str:
        """SQL: ``column`` (an instant) lies in the period; ``1 = 1`` without one."""
        return self._between(column, "since", "until_end", before="<")

    def period_days(self, column: str) -> str:
        """SQL: ``column`` (a day as text, "2024-03-01") lies in the period; ``1 = 1``
        without one."""
        return self._between(column, "since_day", "until_day")

    def _between(self, column: str, first: str, last: str, before: str = "<=") -> str:
        """SQL: ``column`` is at least the parameter ``first`` and ``before`` the parameter
        ``last``, each where the frame has it; ``1 = 1`` with neither."""
        clauses = []
        if first in self.params:
            clauses.append(f"{column} >= :{first}")
        if last in self.params:
            clauses.append(f"{column} {before} :{last}")
        return " AND ".join(clauses) or "1 = 1"

    @property
    def has_period(self) -> bool:
        return "since" in self.params or "until" in self.params

    @property
    def summarised(self) -> bool:
        """The report summaries (schema.REPORT_CHANNEL_MONTHS …) answer: they are kept for
        every customer, so for no owner in particular."""
        return self.w.from_summaries and "owner" not in self.params

    def owned(self, customer: str) -> str:
        """SQL: the customer belongs to the owner asked for; ``1 = 1`` without one."""
        if "owner" not in self.params:
            return "1 = 1"
        return f"{customer} IN (SELECT customer FROM owners WHERE owner = :owner)"

    def channel(self, column: str) -> str:
        return f"{column} = :channel" if "channel" in self.params else "1 = 1"

    def first_month(self, default: str) -> str:
        """SQL: the month a monthly report starts in: the period's, else ``default``."""
        return self.d.month(":since") if "since" in self.params else default

    def last_month(self) -> str:
        """SQL: the month a monthly report ends in: the period's end, or the reading time's
        when earlier."""
        as_of = self.d.month(self.as_of)
        if "until" not in self.params:
            return as_of
        return self.d.least(self.d.month(":until"), as_of)

    def months(self, first: str, last: str) -> str:
        """CTEs ``span`` and ``months(month)``: each month from ``first`` to ``last`` (SQL
        giving ``2018-01`` text); none when ``first`` is null."""
        return (f"span(first_month, last_month) AS (SELECT {first}, {last}), "
                "months(month) AS (SELECT first_month FROM span WHERE first_month IS NOT NULL "
                f"UNION ALL SELECT {self.d.next_month('month')} FROM months, span "
                "WHERE month < last_month)")

    def share(self, part: str, whole: str) -> str:
        """SQL: ``part / whole`` to 4 decimals; null when ``whole`` is 0."""
        ratio = self.d.rounded(f"({part}) * 1.0 / ({whole})", 4)
        return f"CASE WHEN {whole} > 0 THEN {ratio} END"

    def days(self, seconds: str) -> str:
        """SQL: a number of seconds in days, to 2 decimals."""
        return self.d.rounded(f"{seconds} / 86400.0", 2)

    def money(self, amount: str) -> str:
        """SQL: a sum of amount numbers, to the cent."""
        return self.d.rounded(f"coalesce({amount}, 0)", 2)
