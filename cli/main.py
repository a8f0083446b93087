"""The root ``touchlog`` group: global options, shared services, and lazily loaded commands.

Subcommand modules are imported only when their command runs, so ``touchlog timeline``
does not pay for importing the import or export machinery (start-up is a feature).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from touchlog.cli.services import Services
from touchlog.projections.engine.batching import batching

# command name -> "module:attribute"; one module per noun.
COMMANDS = {
    "contact": "touchlog.cli.contacts:contact",
    "timeline": "touchlog.cli.timeline:timeline",
    "customer": "touchlog.cli.customers:customer",
    "followup": "touchlog.cli.followups:followup",
    "import": "touchlog.cli.imports:import_",
    "imports": "touchlog.cli.import_records:imports",
    "demo": "touchlog.cli.demo:demo",
    "stage": "touchlog.cli.stages:stage",
    "archive": "touchlog.cli.archive:archive",
    "followups": "touchlog.cli.followups:followups",
    "projections": "touchlog.cli.projections:projections",
    "export": "touchlog.cli.export:export",
    "audit": "touchlog.cli.audit:audit",
    "verify": "touchlog.cli.verify:verify",
    "report": "touchlog.cli.reports:report",
    "keys": "touchlog.cli.keys:keys",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attribute = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Turns every error touchlog reports (bad input, store problems) into exit code 1."""
        from touchlog.domain.errors import CustomerNotFound, TouchlogError

        try:
            return super().invoke(ctx)
        except CustomerNotFound as e:
            raise click.ClickException(str(_with_suggestions(ctx, e))) from None
        except TouchlogError as e:
            raise click.ClickException(str(e)) from None


def _with_suggestions(ctx: click.Context, error: Any) -> Any:
    """A CustomerNotFound offering the closest existing references (one rule for every
    command: ``TouchpointLog.not_found``); as it was when the log cannot say."""
    from touchlog.domain.errors import TouchlogError

    services = ctx.obj
    if error.suggestions or not isinstance(services, Services):
        return error
    try:
        return services.log(create=False).not_found(error.reference)
    except TouchlogError:
        return error


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="TOUCHLOG_DB", metavar="PATH|URL",
              help="Event database: a SQLite file (default ./touchlog.db) or postgresql://… URL.")
@click.option("--config", type=click.Path(dir_okay=False), envvar="TOUCHLOG_CONFIG",
              help="Settings file (default ./touchlog.toml when present).")
@click.version_option(package_name="touchlog")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None) -> None:
    """touchlog: every contact with a customer, as an immutable, auditable log.

    Example: touchlog contact log ACME --channel phone --at 2018-01-05T10:00
    """
    batching()  # a bad TOUCHLOG_BATCHING is refused before any command does anything
    if ctx.obj is None:  # tests inject their own services
        ctx.obj = Services(db=db, config=config)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    try:
        cli.main(prog_name="touchlog", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
