"""A report: its name, its columns and their kinds, its SQL, and the options it takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from touchlog.projections.reports.frame import Frame

Columns = tuple[tuple[str, str], ...]  # (name, abstract kind as in engine/schema.py)

PERIOD, AS_OF, OWNER, CHANNEL, WITHIN, PER_OWNER = (
    "period", "as_of", "owner", "channel", "within", "per_owner")


@dataclass(frozen=True)
class Report:
    """One report; its view is ``report_<name>`` (dashes as underscores)."""

    name: str
    title: str
    columns: Columns
    select: Callable[[Frame], str]
    options: frozenset[str]
    projections: tuple[str, ...] = ("archive", "stages", "followups")

    @property
    def view(self) -> str:
        return "report_" + self.name.replace("-", "_")

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]
