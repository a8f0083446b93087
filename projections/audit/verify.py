"""``touchlog verify``: recompute every customer's hash chain, and hold it against a checkpoint.

The whole log is read once in log order (``scan_log``); the few customers whose chain does
not check out there are read again in version order (``check_chains``) to name each break.
A checkpoint (projections/audit/checkpoint.py) adds what a chain alone cannot show: a
truncated tail, or a history replaced up to a recorded head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from touchlog.domain.errors import CustomerNotFound
from touchlog.domain.identity import customer_id
from touchlog.domain.storage.events import event_rows, stored_rows, stored_uuid
from touchlog.projections.audit.chains import (
    Break,
    ChainReport,
    check_chains,
    compare_heads,
    scan_log,
)
from touchlog.projections.audit.checkpoint import read_checkpoint, write_checkpoint

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog


def _checked(app: TouchpointLog, target: UUID | None, watch: dict[str, int]) -> ChainReport:
    if target is not None:
        return check_chains(event_rows(app, [target], positions=True), watch)
    with stored_rows(app) as rows:
        report, suspects = scan_log(rows, watch)
    for raw_id in sorted(suspects, key=str):
        uid = stored_uuid(raw_id)
        precise = check_chains(event_rows(app, [uid], positions=True), watch)
        report.breaks.extend(precise.breaks or [Break(
            uid.hex, uid.hex, 0, "changed_while_verified",
            "the chain broke in the read in log order and checked out when read again in "
            "version order: the log changed meanwhile; verify again")])
        report.heads.update(precise.heads)
        report.links_at.update(precise.links_at)
    return report


def verify_chains(app: TouchpointLog, reference: str | None = None,
               checkpoint: Path | None = None) -> tuple[ChainReport, str | None]:
    """Checks the chains (all, or one customer's) and the checkpoint, if one is named.

    Returns the report and what happened to the checkpoint: "written" (first run),
    "advanced" (every head still extends it, so it now records the new heads), "kept"
    (breaks found: the old heads stay as the evidence) or None.
    """
    target: UUID | None = (customer_id(app.stored_reference(reference))
                           if reference is not None else None)
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
    from touchlog.projections.engine.runner import protected_databases

    write_checkpoint(checkpoint, merged, protected=protected_databases(app.settings))
    return report, "written" if old is None else "advanced"
