"""``touchlog projections``: status, catch-up and rebuild of the read models."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from touchlog.cli.render import emit, output_format
from touchlog.cli.services import Services


@click.group()
def projections() -> None:
    """The read models (archive, stages, followups): status, run, rebuild."""


@projections.command()
@output_format
@click.pass_obj
def status(services: Services, fmt: str | None) -> None:
    """Show each projection's position and how many events it is behind; exit 1 when the
    reporting tables do not fit the log (made from another log, or ahead of it).

    Example: touchlog projections status --format json
    """
    with services.projector() as projector:
        rows = projector.status()
        emit(rows, fmt)
        if any(row["problem"] for row in rows):
            projector.ensure_fits()  # raises the refusal, which names the rebuild


@projections.command()
@click.argument("name", required=False)
@click.pass_obj
def rebuild(services: Services, name: str | None) -> None:
    """Rebuild one projection (or all) from the whole log.

    Example: touchlog projections rebuild archive
    """
    with services.projector() as projector:
        read = projector.rebuild([name] if name else None)
    click.echo(f"rebuilt {name or 'all projections'} from {read} events")


@projections.command()
@click.option("--follow", is_flag=True, help="Keep running, applying new events as they come.")
@click.pass_obj
def run(services: Services, follow: bool) -> None:
    """Catch every projection up and exit, or keep following the log (until SIGINT/SIGTERM).

    Example: touchlog projections run --follow
    """
    with services.projector() as projector:
        if not follow:
            click.echo(f"applied {projector.catch_up()} events")
            return
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        click.echo("following the log; stop with Ctrl-C", err=True)
        projector.follow(stopping)
        click.echo("stopped", err=True)
