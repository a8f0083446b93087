"""Export one customer's full history so an auditor can check it without touchlog.

``events.jsonl`` has one event per line, exactly as stored (the state minus its link, plus
the link), and ``manifest.json`` says how to recompute the chain (docs/audit.md "Export").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from touchlog.domain.errors import CustomerNotFound, FileWriteError
from touchlog.domain.identity import customer_id
from touchlog.domain.storage.database import Row
from touchlog.domain.storage.events import event_rows, id_text
from touchlog.domain.storage.files import NewFiles, Protected
from touchlog.projections.audit.chains import check_chains

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

FORMAT = "touchlog-export/1"
EVENTS_FILE = "events.jsonl"
MANIFEST_FILE = "manifest.json"
CHAIN = {
    "digest": "sha256, lower-case hex",
    "link": 'sha256(previous_link + "\\n" + canonical_json({"id": id, "version": version, '
            '"topic": topic, "state": state}))',
    "first_previous_link": "",
    "canonical_json": "UTF-8; object keys sorted; separators ',' and ':' with no whitespace; "
                      "non-ASCII characters unescaped; no floats. In Python: json.dumps(value, "
                      "sort_keys=True, separators=(',', ':'), ensure_ascii=False)",
    "state": "the event's stored state without its own link, as in each line's 'state'",
}
RECIPE = [
    "Read events.jsonl line by line (one JSON object per line, versions 1, 2, 3, ...).",
    "Start with previous = ''. For each event, compute canonical_json of "
    "{id, version, topic, state} from the line, then sha256 of previous + '\\n' + it.",
    "The hex digest must equal the line's 'link'; it becomes previous for the next line.",
    "The last link must equal head.link below, and the file's sha256 events_sha256.",
]


def export_history(app: TouchpointLog, reference: str, folder: Path, *,
                   force: bool = False, protected: Protected | None = None) -> dict[str, Any]:
    """Writes the customer's events and manifest into ``folder`` (made if missing, owner
    only; its parent must exist); returns a summary. A folder that is not empty is refused
    unless ``force``, which replaces the two files. The events file is published first, so
    a manifest never describes another events file; ``protected`` files are never written."""
    reference = app.stored_reference(reference)
    made = _folder(folder, force)
    try:
        with NewFiles(force=force, protected=protected) as files:
            files.check(folder / MANIFEST_FILE)
            digest = hashlib.sha256()
            out = files.open(folder / EVENTS_FILE)
            report = check_chains(_written(event_rows(app, [customer_id(reference)]), out,
                                           digest))
            if report.events == 0:
                raise CustomerNotFound(reference)
            head = next(iter(report.heads.values()))
            manifest = {
                "format": FORMAT,
                "customer": reference,
                "customer_id": str(customer_id(reference)),
                "exported_at": datetime.now(UTC).isoformat(),
                "events": report.events,
                "events_file": EVENTS_FILE,
                "events_sha256": digest.hexdigest(),
                "head": {"version": head.version, "link": head.link},
                "chain": CHAIN,
                "verification": RECIPE,
                "verified_at_export": {"intact": report.intact,
                                       "breaks": [b.as_row() for b in report.breaks]},
            }
            files.open(folder / MANIFEST_FILE).write(
                orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    except BaseException:
        if made:
            with suppress(OSError):
                folder.rmdir()
        raise
    return {"customer": reference, "folder": str(folder), "events": report.events,
            "head_version": head.version, "head_link": head.link, "intact": report.intact}


def _folder(folder: Path, force: bool) -> bool:
    """Makes the export folder if missing (True then); refuses one that is not empty."""
    if folder.is_dir():
        if not force and any(folder.iterdir()):
            raise FileWriteError(folder, "the folder is not empty; name a new one or use "
                                         "--force to replace its export")
        return False
    if folder.exists() or folder.is_symlink():
        raise FileWriteError(folder, "not a folder")
    try:
        folder.mkdir(mode=0o700)
    except OSError as e:
        raise FileWriteError(folder, f"cannot make the folder: {e.strerror}") from None
    return True


def _written(rows: Iterable[Row], out: IO[bytes], digest: Any) -> Iterator[Row]:
    """Passes the rows on after writing each as one line of events.jsonl."""
    for row in rows:
        raw_id, version, topic, state = row
        try:
            data = orjson.loads(state)
            link = data.pop("link", None)
        except (orjson.JSONDecodeError, AttributeError):
            data, link = {"unreadable": bytes(state).decode("utf-8", "replace")}, None
        line = orjson.dumps({"id": id_text(raw_id), "version": version, "topic": topic,
                             "recorded_at": data.get("timestamp"), "state": data, "link": link},
                            option=orjson.OPT_SORT_KEYS) + b"\n"
        out.write(line)
        digest.update(line)
        yield row
