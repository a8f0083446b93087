"""``python -m benchmarks.import_stages FILE DB``: where an import's time goes, per process.

Runs ``touchlog --db DB import FILE`` in this process (DB: a SQLite file that does not
exist yet, or the URL of an empty PostgreSQL database; the CPU shown is touchlog's, not
the server's) with the stages of the recorder and of the projections' follower timed:
each named function is wrapped so that its calls add up their wall time, in whichever
process runs them (the follower, a fresh interpreter, imports this module again and wraps
its own). No profiler runs, so the figures are those of an import as it runs, give or take
the wrappers' ~1 µs a call. Prints the wall time and the CPU of every process (the
parsing helper's too), then for the recorder (``MainProcess``) and the follower each its
CPU and each stage's seconds and µs a contact; a stage is indented under the one that
calls it. The import's own summary comes first.

Example: python -m benchmarks.import_stages /tmp/bench/contacts.csv /tmp/stages.db
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

RESULTS_ENV = "TOUCHLOG_IMPORT_STAGES"  # the folder each process leaves its times in

# (module, object in it or "", function, label): a label's leading spaces nest it under
# the stage above it.
STAGES = [
    ("touchlog.domain.importing.pipeline", "", "_validate",
     "pass 1: read, parse (with the parsing helper), spool"),
    ("touchlog.domain.importing.pipeline", "", "_record", "pass 2: record the spool"),
    ("touchlog.domain.application", "TouchpointLog", "log_cards",
     "  decide and save, a transaction a batch"),
    ("touchlog.domain.application", "TouchpointLog", "_load", "    load the customers"),
    ("touchlog.domain.chained", "Chained", "trigger_event",
     "    events: make, seal, chain, apply"),
    ("touchlog.domain.application", "TouchpointLog", "_seal", "      seal personal fields"),
    ("touchlog.domain.application", "TouchpointLog", "_save",
     "    save: encode, insert, commit"),
    ("touchlog.projections.engine.runner", "Projector", "catch_up",
     "projections: catch up"),
    ("touchlog.projections.engine.runner", "", "notifications", "  read events"),
    ("touchlog.projections.engine.runner", "", "decode", "  decode, open sealed fields"),
    ("touchlog.projections.engine.runner", "Projector", "_commit",
     "  apply: read, compute, write, commit"),
    ("touchlog.projections.readmodels.archive", "ArchiveProjection", "prepare",
     "    compute archive rows"),
    ("touchlog.projections.readmodels.stages", "StagesProjection", "prepare",
     "    compute stage rows"),
    ("touchlog.projections.readmodels.followups", "FollowUpsProjection", "prepare",
     "    compute follow-up rows"),
    ("touchlog.projections.engine.reporting_db", "ReportingDB", "create_tables",
     "make the tables; at the end, the readers' indexes"),
]

_seconds: defaultdict[str, float] = defaultdict(float)
_calls: Counter[str] = Counter()


def _wrapped(function: Any, label: str) -> Any:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _seconds[label] += time.perf_counter() - started
            _calls[label] += 1
    return timed


def _install() -> None:
    """Wraps every stage's function; a helper process leaves its times at its exit."""
    import importlib
    import multiprocessing

    for module_name, owner, name, label in STAGES:
        module = importlib.import_module(module_name)
        holder = getattr(module, owner) if owner else module
        setattr(holder, name, _wrapped(getattr(holder, name), label))
    if multiprocessing.current_process().name != "MainProcess":
        atexit.register(_leave)


def _leave() -> None:
    """This process's times, as a file in the folder ``RESULTS_ENV`` names."""
    import multiprocessing

    folder = os.environ.get(RESULTS_ENV)
    if folder and _seconds and Path(folder).is_dir():
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps({
            "process": multiprocessing.current_process().name,
            "cpu_s": time.process_time(), "seconds": _seconds, "calls": _calls}))


def table(results: list[dict[str, Any]], contacts: int, wall: float, cpu: float) -> str:
    """The processes' stages as text: seconds and µs a contact."""
    lines = [f"import of {contacts:,} contacts: {wall:.2f} s wall, {cpu:.2f} s CPU in all "
             f"its processes ({cpu / contacts * 1e6:.0f} µs a contact)"]
    for result in sorted(results, key=lambda r: r["process"] != "MainProcess"):
        lines.append(f"\n{result['process']}: {result['cpu_s']:.2f} s CPU "
                     f"({result['cpu_s'] / contacts * 1e6:.0f} µs a contact)")
        for *_, label in STAGES:
            seconds = result["seconds"].get(label)
            if seconds is not None:
                lines.append(f"  {label:<50} {seconds:7.3f} s {seconds / contacts * 1e6:7.1f}"
                             f" µs  ({result['calls'][label]:,}×)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[0]).is_file() or (
            "://" not in argv[1] and Path(argv[1]).exists()):
        print(__doc__, file=sys.stderr)
        return 1
    import resource

    from touchlog.cli.main import cli
    from touchlog.domain import importing as package

    source, db = argv
    summaries = []  # what the import returns: it counts the contacts it recorded
    importing = package.import_file

    def kept(*args: Any, **kwargs: Any) -> Any:
        summaries.append(importing(*args, **kwargs))
        return summaries[-1]
    package.import_file = kept  # the one the command calls
    with tempfile.TemporaryDirectory(prefix="touchlog-import-stages-") as folder:
        os.environ[RESULTS_ENV] = folder  # the follower inherits it
        started = time.perf_counter()
        cli.main(["--db", db, "import", source], prog_name="touchlog", standalone_mode=False)
        wall = time.perf_counter() - started
        _leave()
        results = [json.loads(p.read_text()) for p in Path(folder).glob("*.json")]
    cpu = sum(getattr(resource.getrusage(who), f) for f in ("ru_utime", "ru_stime")
              for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(table(results, max(summaries[-1].imported, 1), wall, cpu))
    return 0


_install()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
