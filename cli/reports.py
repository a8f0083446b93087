"""``touchlog report NAME``: the relationship reports (projections/reports), and ``report
html``, all of them in one file."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import click

from touchlog.cli.render import emit, force_option, output_format
from touchlog.cli.services import Services
from touchlog.projections.reports.catalogue import REPORTS
from touchlog.projections.reports.frame import WITHIN_DAYS, Window
from touchlog.projections.reports.report import AS_OF, CHANNEL, OWNER, PER_OWNER, PERIOD, WITHIN

# option -> (the report option it belongs to, how it is shown in messages)
OPTIONS = {"since": (PERIOD, "--since"), "until": (PERIOD, "--until"),
           "as_of": (AS_OF, "--as-of"), "owner": (OWNER, "--owner"),
           "channel": (CHANNEL, "--channel"), "within": (WITHIN, "--within"),
           "per_owner": (PER_OWNER, "--per-owner")}


@click.group()
def report() -> None:
    """Relationship reports: stages, funnel, time in stage, RFM, channels, dissolutions,
    satisfaction, cohorts and follow-ups; `report html` writes them all to one file.

    Example: touchlog report funnel --since 2025-01-01 --until 2025-06-30 --format json
    """


def window_options(command: Any) -> Any:
    """The options every report shares; a report refuses those that do not apply to it."""
    for option in reversed((
        click.option("--since", metavar="DAY", help="First day of the period (inclusive)."),
        click.option("--until", metavar="DAY", help="Last day of the period (inclusive)."),
        click.option("--as-of", "as_of", metavar="TIME",
                     help="Read the state at this time (default now); a day alone means "
                          "its end."),
    )):
        command = option(command)
    return command


def _command(name: str) -> click.Command:
    chosen = REPORTS[name]

    @click.command(name, help=f"{chosen.title}: {_summary(chosen.select.__doc__)}\n\n"
                   f"Example: touchlog report {name} --format json")
    @window_options
    @click.option("--owner", help="Only the customers (or follow-ups) of this owner.")
    @click.option("--channel", help="Only contacts through this channel.")
    @click.option("--within", type=click.IntRange(min=0), metavar="DAYS",
                  help=f"Purchases within DAYS after a contact (default {WITHIN_DAYS}).")
    @click.option("--per-owner", is_flag=True, help="One row per owner and stage.")
    @output_format
    @click.pass_obj
    def command(services: Services, fmt: str | None, **given: Any) -> None:
        window = window_of(name, given)
        with services.queries() as queries:
            emit(queries.report(name, window), fmt)

    return command


def window_of(name: str, given: dict[str, Any]) -> Window:
    """The report's window from the command's options; an option the report does not take
    is bad input, named."""
    accepted = REPORTS[name].options
    for option, value in given.items():
        kind, shown = OPTIONS[option]
        if value not in (None, False) and kind not in accepted:
            takes = ", ".join(sorted(s for o, (k, s) in OPTIONS.items() if k in accepted))
            raise click.ClickException(
                f"{shown} does not apply to the {name} report (it takes: {takes or 'none'})")
    return Window(since=_day(given.get("since"), "since"), until=_day(given.get("until"), "until"),
                  as_of=_as_of(given.get("as_of")), owner=given.get("owner"),
                  channel=given.get("channel"), per_owner=bool(given.get("per_owner")),
                  within_days=WITHIN_DAYS if given.get("within") is None else given["within"])


def _day(value: str | None, field: str) -> date | None:
    """A whole day: ``2018-01-31``."""
    if value is None:
        return None
    from touchlog.domain.errors import InvalidInput

    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, value, "expected a whole day like 2018-01-31") from None


def _as_of(value: str | None) -> datetime | None:
    """The reading time: an instant, or the end of a day given alone."""
    if value is None:
        return None
    from touchlog.domain.values import parse_instant

    moment = parse_instant(value, "as_of")
    if len(value.strip()) == 10:  # a day alone: the state at its end
        moment += timedelta(days=1, milliseconds=-1)  # what SQLite's julianday() holds
    return moment


def _summary(doc: str | None) -> str:
    return " ".join((doc or "").split())


for _name in REPORTS:
    report.add_command(_command(_name))


@report.command("html")
@window_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The HTML file to write.")
@force_option
@click.pass_obj
def html(services: Services, since: str | None, until: str | None, as_of: str | None,
         output: str, force: bool) -> None:
    """Every report in one self-contained HTML file: charts with their numbers, no network,
    no external assets (it opens from an email attachment).

    Example: touchlog report html -o report.html --since 2025-01-01 --until 2025-12-31
    """
    from pathlib import Path

    from touchlog.projections.reports.html import write_html

    window = Window(since=_day(since, "since"), until=_day(until, "until"),
                    as_of=_as_of(as_of))
    with services.queries() as queries:
        write_html(queries, window, Path(output), force=force)
    click.echo(f"report -> {output}")
