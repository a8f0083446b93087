"""What commands share: the settings, the open log, and the read side over it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: start-up time matters for every command
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.settings import Settings
    from touchlog.projections.engine.runner import Projector
    from touchlog.projections.queries.reads import Queries


class Services:
    """Opens the event log on first use; ``close()`` releases it."""

    def __init__(self, db: str | None = None, config: str | None = None) -> None:
        self.db = db
        self.config = config
        self._settings: Settings | None = None
        self._log: TouchpointLog | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from touchlog.domain.settings import Settings

            self._settings = Settings.load(db=self.db, config=self.config)
        return self._settings

    def log(self, *, create: bool = True) -> TouchpointLog:
        """The application; ``create=False`` refuses to create a missing SQLite file."""
        if self._log is None:
            from touchlog.domain.application import TouchpointLog
            from touchlog.domain.storage.location import locate

            location = locate(self.settings.db)
            new = create and not location.exists()
            self._log = TouchpointLog(self.settings, create=create)
            if new and location.path is not None:
                _say_created(location.path)
        return self._log

    @contextmanager
    def projector(self) -> Iterator[Projector]:
        """The projections of the existing log, over its reporting database; closed after."""
        from touchlog.projections.engine.runner import Projector

        projector = Projector(self.log(create=False))
        try:
            yield projector
        finally:
            projector.close()

    @contextmanager
    def queries(self) -> Iterator[Queries]:
        """Queries over the existing log's reporting tables; closed afterwards."""
        from touchlog.projections.queries.reads import Queries

        queries = Queries(self.log(create=False))
        try:
            yield queries
        finally:
            queries.close()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _say_created(path: Path) -> None:
    """Says on stderr that a write made a new SQLite file, where: a command run in the
    wrong folder would otherwise start a second log there unnoticed."""
    import click

    shown = str(path) if path.is_absolute() or path.parts[0] in (".", "..") else f"./{path}"
    click.echo(f"created a new database at {shown}", err=True)
