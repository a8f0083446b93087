"""How the projections cut their work into batches, and when they take a second process
(docs/reporting.md "Batches")."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from touchlog.domain.errors import InvalidInput

BATCHING_ENV = "TOUCHLOG_BATCHING"


@dataclass(frozen=True)
class Batching:
    """How the projections cut their work, each a count of events or contacts.

    ``TOUCHLOG_BATCHING`` may change any of them, as ``name=count`` pairs separated by
    commas (``events=5000,parallel_rebuild_from=100000``): smaller batches hold less memory
    and shorter locks; the crash tests use small ones, so that a few thousand events pass
    every threshold.
    """

    events: int = 20_000  # per transaction of a catch-up or a rebuild
    # per transaction of the projections beside an import that writes the same SQLite
    # file (``follower_batch`` in runner.py): short, so that the import's waits for the
    # file's write lock stay short too
    alongside: int = 5_000
    # from this many contacts to record, the projections follow an import in a second
    # process
    follow_imports_from: int = 10_000
    # A rebuild of a log at least this long shares the work with a second process, which
    # applies the archive (``SECOND_SHARE`` in processes.py) while this one applies the
    # others (the two shares take about as long); below it, starting the process costs
    # more than it saves.
    parallel_rebuild_from: int = 50_000


def batching() -> Batching:
    """The batching in force: the defaults, changed by ``TOUCHLOG_BATCHING``. A value
    that is not such pairs is an InvalidInput naming the variable."""
    text = os.environ.get(BATCHING_ENV, "").strip()
    if not text:
        return Batching()
    known = [f.name for f in fields(Batching)]
    counts: dict[str, int] = {}
    for pair in text.split(","):
        name, _, count = (part.strip() for part in pair.partition("="))
        if name not in known or not count.isdigit() or int(count) < 1:
            raise InvalidInput(BATCHING_ENV, text, (
                f"expected name=count pairs separated by commas, each count a whole number "
                f"from 1, the names among {', '.join(known)}"))
        counts[name] = int(count)
    return Batching(**counts)
