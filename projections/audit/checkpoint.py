"""Checkpoints: the chain heads seen at a verification, to catch a truncated tail later.

A chain that lost its last events is still a valid chain; only a record of where it ended
before shows the loss. The file is plain JSON (docs/audit.md "Checkpoint"):
``{"format": "touchlog-checkpoint/1", "written_at": …, "heads": {customer id (hex):
{"version": n, "link": "…", "reference": "…"}}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from touchlog.domain.errors import InvalidInput
from touchlog.domain.storage.files import NewFiles, Protected
from touchlog.projections.audit.chains import Head

FORMAT = "touchlog-checkpoint/1"


def read_checkpoint(path: Path) -> dict[str, Head] | None:
    """The heads a checkpoint file holds; None when the file does not exist yet."""
    if not path.exists():
        return None
    try:
        if not path.is_file():  # a device would be read forever
            raise ValueError("not a regular file")
        data = orjson.loads(path.read_bytes())
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
        return {key: Head(int(h["version"]), str(h["link"]), h.get("reference"))
                for key, h in data["heads"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidInput("checkpoint", str(path), f"not a readable checkpoint: {e}") from None


def write_checkpoint(path: Path, heads: dict[str, Head], *,
                     protected: Protected | None = None) -> None:
    """Writes the heads safely (domain/storage/files.py), replacing the old checkpoint: a
    crash leaves the old checkpoint or the new one. ``protected`` files are refused."""
    data = {
        "format": FORMAT,
        "written_at": datetime.now(UTC).isoformat(),
        "heads": {key: {"version": h.version, "link": h.link, "reference": h.reference}
                  for key, h in sorted(heads.items())},
    }
    with NewFiles(force=True, protected=protected) as files:
        files.open(path).write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
