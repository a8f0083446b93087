"""What commands share: the settings and the open log, built once per invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: start-up time matters for every command
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.settings import Settings


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

            self._log = TouchpointLog(self.settings, create=create)
        return self._log

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
