"""Checkpoints: the chain heads seen at a verification, to catch a truncated tail later.

A chain that lost its last events is still a valid chain; only a record of where it ended
before shows the loss. The file is plain JSON (docs/audit.md "Checkpoint"):
``{"format": "touchlog-checkpoint/1", "written_at": …, "heads": {customer id (hex):
{"version": n, "link": "…", "reference": "…"}}}``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import orjson

from touchlog.domain.errors import CustomerNotFound, InvalidInput
from touchlog.domain.identity import customer_id
from touchlog.projections.raw_events import stored_rows
from touchlog.projections.verify import (
    ChainReport,
    Head,
    check_chains,
    compare_heads,
    scan_log,
)

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

FORMAT = "touchlog-checkpoint/1"


def read_checkpoint(path: Path) -> dict[str, Head] | None:
    """The heads a checkpoint file holds; None when the file does not exist yet."""
    if not path.exists():
        return None
    try:
        data = orjson.loads(path.read_bytes())
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
        return {key: Head(int(h["version"]), str(h["link"]), h.get("reference"))
                for key, h in data["heads"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidInput("checkpoint", str(path), f"not a readable checkpoint: {e}") from None


def write_checkpoint(path: Path, heads: dict[str, Head]) -> None:
    """Writes the heads atomically: a crash leaves the old checkpoint or the new one."""
    data = {
        "format": FORMAT,
        "written_at": datetime.now(UTC).isoformat(),
        "heads": {key: {"version": h.version, "link": h.link, "reference": h.reference}
                  for key, h in sorted(heads.items())},
    }
    folder = path.parent if str(path.parent) else Path()
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        os.replace(temp, path)
    except OSError as e:
        raise InvalidInput("checkpoint", str(path), f"cannot write: {e.strerror}") from None


def _checked(app: TouchpointLog, target: UUID | None, watch: dict[str, int]) -> ChainReport:
    if target is not None:
        with stored_rows(app, target) as rows:
            return check_chains(rows, watch)
    with stored_rows(app) as rows:
        report, suspects = scan_log(rows, watch)
    for raw_id in sorted(suspects, key=str):
        with stored_rows(app, raw_id if isinstance(raw_id, UUID) else UUID(hex=raw_id)) as rows:
            precise = check_chains(rows, watch)
        report.breaks.extend(precise.breaks)
        report.heads.update(precise.heads)
        report.links_at.update(precise.links_at)
    return report


def verify_log(app: TouchpointLog, reference: str | None = None,
               checkpoint: Path | None = None) -> tuple[ChainReport, str | None]:
    """Checks the chains (all, or one customer's) and the checkpoint, if one is named.

    Returns the report and what happened to the checkpoint: "written" (first run),
    "advanced" (every head still extends it, so it now records the new heads), "kept"
    (breaks found: the old heads stay as the evidence) or None.
    """
    target: UUID | None = customer_id(reference) if reference is not None else None
    old = read_checkpoint(checkpoint) if checkpoint is not None else None
    if old is not None and target is not None:
        old = {k: h for k, h in old.items() if k == target.hex}
    watch = {key: head.version for key, head in (old or {}).items()}
    report = _checked(app, target, watch)
    if target is not None and report.events == 0 and not old:
        raise CustomerNotFound(str(reference))
    if old is not None:
        report.breaks.extend(compare_heads(report, old))
    if checkpoint is None:
        return report, None
    if not report.intact:
        return report, "kept"
    merged = {**(read_checkpoint(checkpoint) or {}), **report.heads}
    write_checkpoint(checkpoint, merged)
    return report, "written" if old is None else "advanced"
