"""``touchlog projections``: status, catch-up and rebuild of the read models."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from touchlog.cli.render import output_format, render
from touchlog.cli.services import Services

if TYPE_CHECKING:
    from touchlog.projections.runner import Projector


@click.group()
def projections() -> None:
    """The read models (archive, stages, followups): status, run, rebuild."""


def _projector(services: Services) -> Projector:
    from touchlog.projections.runner import Projector

    return Projector(services.log(create=False))


@projections.command()
@output_format
@click.pass_obj
def status(services: Services, fmt: str | None) -> None:
    """Show each projection's position and how many events it is behind.

    Example: touchlog projections status --format json
    """
    projector = _projector(services)
    try:
        click.echo(render(projector.status(), fmt))
    finally:
        projector.close()


@projections.command()
@click.argument("name", required=False)
@click.pass_obj
def rebuild(services: Services, name: str | None) -> None:
    """Rebuild one projection (or all) from the whole log.

    Example: touchlog projections rebuild archive
    """
    projector = _projector(services)
    try:
        read = projector.rebuild([name] if name else None)
        click.echo(f"rebuilt {name or 'all projections'} from {read} events")
    finally:
        projector.close()


@projections.command()
@click.option("--follow", is_flag=True, help="Keep running, applying new events as they come.")
@click.pass_obj
def run(services: Services, follow: bool) -> None:
    """Catch every projection up and exit, or keep following the log (until SIGINT/SIGTERM).

    Example: touchlog projections run --follow
    """
    projector = _projector(services)
    try:
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
    finally:
        projector.close()
