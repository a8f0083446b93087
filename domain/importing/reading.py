"""How an import reads its file: a mapping (None: the plain contract) and the command
line's ``--delimiter``, ``--encoding`` and ``--tz`` over it (docs/import.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from touchlog.domain.errors import InvalidInput
from touchlog.domain.importing.mapping import Mapping, load_mapping
from touchlog.domain.importing.sources import REJECTS_SOURCE, Source, looks_like_rejects
from touchlog.domain.settings import Settings


@dataclass(frozen=True)
class Reading:
    """How a file is read: a mapping (None: the plain contract, docs/import.md) and what
    the command line says over it (``--delimiter``, ``--encoding``, ``--tz``)."""

    mapping: Mapping | None = None
    delimiter: str | None = None
    encoding: str | None = None
    timezone: str | None = None
    kind: str | None = None  # of every row of a file without a kind column (--kind)
    mapping_sha256: str | None = None  # of the mapping's file, recorded with the import

    @classmethod
    def of(cls, mapping: Mapping | str | Path | None, settings: Settings,
           **overrides: str | None) -> Reading:
        """A mapping given as a file is loaded (and checked whole) here."""
        if mapping is not None and overrides.get("kind") is not None:
            raise InvalidInput("--kind", overrides["kind"], "a mapping gives its records' kind "
                               "(kind = … in each [[records]]): --kind is for a file in "
                               "touchlog's own columns")
        digest = None
        if isinstance(mapping, str | Path):
            import hashlib

            mapping = load_mapping(mapping, settings)
            digest = hashlib.sha256(Path(mapping.path).read_bytes()).hexdigest()
        return cls(mapping, **overrides, mapping_sha256=digest)

    def source(self, stream: IO[Any]) -> Source:
        """The source's reading: a rejects file touchlog wrote is read as it wrote it."""
        if looks_like_rejects(stream):
            return REJECTS_SOURCE
        source = self.mapping.source if self.mapping is not None else Source()
        return replace(source, delimiter=self.delimiter or source.delimiter,
                       encoding=self.encoding or source.encoding)

    def zone(self, settings: Settings) -> Any:
        """The time zone of times without an offset: --tz, the mapping's, touchlog.toml's
        ``[import] timezone``, else UTC (None)."""
        from touchlog.domain.values import time_zone

        name = (self.timezone or (self.mapping.source.timezone if self.mapping else None)
                or settings.import_timezone)
        zone = time_zone(name, "timezone") if name else None
        return None if zone is None or zone.key == "UTC" else zone
