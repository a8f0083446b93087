"""The touchlog measurements: import, rebuild, queries, timeline start-up and verify.

Commands run as the ``touchlog`` script next to this interpreter, in the work folder, with
no ``TOUCHLOG_*`` settings inherited, so nothing outside the run changes what is measured.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.generate import owner_of, reference_of


@dataclass(frozen=True)
class Run:
    """What every measurement needs to know about this run."""

    db: str  # `touchlog --db` value
    work: Path
    seed: int
    customers: int

    def touchlog(self, *args: str) -> list[str]:
        script = Path(sys.executable).parent / "touchlog"
        found = str(script) if script.exists() else shutil.which("touchlog")
        if found is None:
            raise SystemExit("the touchlog command is not installed next to this Python")
        return [found, "--db", self.db, *args]

    def environment(self) -> dict[str, str]:
        # The master key is kept: the measuring process opens the keys the runs made.
        return {k: v for k, v in os.environ.items()
                if not k.startswith("TOUCHLOG_") or k == "TOUCHLOG_MASTER_KEY_FILE"}


@dataclass(frozen=True)
class Finished:
    seconds: float
    stdout: str
    peak_rss_mb: float
    cpu_s: float  # user + system, its own and its waited-for processes' (the parsing helper)


def run_child(run: Run, *args: str) -> Finished:
    """Runs one touchlog command; its wall time and its own peak RSS (``wait4``)."""
    out, err = run.work / "child.out", run.work / "child.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(run.touchlog(*args), stdout=stdout, stderr=stderr,
                                 cwd=run.work, env=run.environment())
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"touchlog {' '.join(args)} failed ({child.returncode}):\n"
                         f"{err.read_text()[-2000:]}")
    return Finished(seconds, out.read_text(), usage.ru_maxrss / 1024,  # KiB on Linux
                    usage.ru_utime + usage.ru_stime)


def measure_import(run: Run, csv_path: Path, contacts: int, *options: str) -> dict[str, Any]:
    """`touchlog import`, then `touchlog projections run` for whatever it left behind."""
    imported = run_child(run, "import", str(csv_path), "--format", "json", *options)
    summary = json.loads(imported.stdout)
    if summary["imported"] != contacts or summary["rejected"]:
        raise SystemExit(f"import did not record every generated contact: {summary}")
    caught_up = run_child(run, "projections", "run")
    applied = int(caught_up.stdout.split()[1])  # "applied N events"
    total = imported.seconds + caught_up.seconds
    return {"contacts": contacts, "summary": summary, "import_s": imported.seconds,
            "import_cpu_s": imported.cpu_s,
            "catch_up_s": caught_up.seconds, "catch_up_events": applied,
            "import_projects_itself": applied == 0, "total_s": total,
            "contacts_per_s": contacts / total,
            "import_only_contacts_per_s": contacts / imported.seconds,
            "peak_rss_mb": imported.peak_rss_mb, "catch_up_peak_rss_mb": caught_up.peak_rss_mb}


def measure_mapped(run: Run, csv_path: Path, contacts: int, rounds: int) -> dict[str, Any]:
    """`touchlog import --mapping` of the same contacts as an export (benchmarks/mapped.py)
    against `touchlog import` of the plain CSV, alternately, ``rounds`` times each, every
    import into a new SQLite file (then `touchlog projections run`): the machine's other
    work weighs on both alike. The ratio is the mapped imports' time over the plain ones'."""
    from benchmarks.mapped import write_mapped

    work = run.work
    export, mapping = work / "export.csv", work / "export.toml"
    write_mapped(export, mapping, contacts, run.seed)
    plain: list[dict[str, Any]] = []
    mapped: list[dict[str, Any]] = []
    try:
        for number in range(rounds):
            for kind, results, source, options in (
                    ("plain", plain, csv_path, ()),
                    ("mapped", mapped, export, ("--mapping", str(mapping)))):
                db = work / f"{kind}-{number}.db"
                results.append(measure_import(Run(str(db), work, run.seed, run.customers),
                                              source, contacts, *options))
                for suffix in ("", "-wal", "-shm"):  # as big as the log: keep no copy
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
    finally:
        export.unlink(missing_ok=True)

    def total(results: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in results)
    return {"contacts": contacts, "rounds": rounds,
            "plain_import_s": [r["import_s"] for r in plain],
            "mapped_import_s": [r["import_s"] for r in mapped],
            "plain_import_cpu_s": [r["import_cpu_s"] for r in plain],
            "mapped_import_cpu_s": [r["import_cpu_s"] for r in mapped],
            "import_cpu_ratio_to_plain": (total(mapped, "import_cpu_s")
                                          / total(plain, "import_cpu_s")),
            "import_s": total(mapped, "import_s") / rounds,
            "catch_up_s": total(mapped, "catch_up_s") / rounds,
            "total_s": total(mapped, "total_s") / rounds,
            "contacts_per_s": contacts * rounds / total(mapped, "total_s"),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mapped),
            "import_time_ratio_to_plain": total(mapped, "import_s") / total(plain, "import_s"),
            "total_time_ratio_to_plain": total(mapped, "total_s") / total(plain, "total_s")}


def open_log(run: Run):  # type: ignore[no-untyped-def]
    from touchlog.domain.application import TouchpointLog
    from touchlog.domain.settings import Settings

    return TouchpointLog(Settings(db=run.db), create=False)


def measure_rebuild(run: Run) -> dict[str, Any]:
    from touchlog.projections.engine.runner import Projector

    log = open_log(run)
    try:
        projector = Projector(log)
        started = time.perf_counter()
        events = projector.rebuild()
        seconds = time.perf_counter() - started
        projector.close()
    finally:
        log.close()
    return {"events": events, "seconds": seconds, "events_per_s": events / seconds}


WARM_UP_SALT = 100  # the warm-up's customers are another seeded sample


def sample(run: Run, count: int, salt: int) -> list[int]:
    """Customer numbers chosen at random (with repetition), the same every run."""
    rng = random.Random(run.seed * 1_000 + salt)
    return rng.choices(range(1, run.customers + 1), k=count)


def latencies(calls: list[Callable[[], object]], budget_s: float,
              warm_up: list[Callable[[], object]]) -> dict[str, Any]:
    """p50/p99 of the calls in ms, after the ``warm_up`` calls (untimed); stops early (and
    says how many ran) past the budget."""
    for call in warm_up:
        call()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
        if started > deadline:
            break
    cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
    return {"n": len(times), "requested": len(calls), "p50_ms": statistics.median(times),
            "p99_ms": cuts[98], "mean_ms": statistics.fmean(times), "max_ms": max(times)}


def measure_queries(run: Run, count: int, budget_s: float) -> dict[str, Any]:
    """timeline, archive REF and followups --owner through the Python API."""
    from touchlog.projections.queries.reads import Queries
    from touchlog.projections.queries.timeline import build_timeline, customer_events

    log = open_log(run)
    queries = Queries(log)
    try:
        def timeline(n: int) -> Callable[[], object]:
            return lambda: build_timeline(customer_events(log, reference_of(n)))

        def archive(n: int) -> Callable[[], object]:
            return lambda: queries.archive(reference_of(n))

        def followups(n: int) -> Callable[[], object]:
            return lambda: queries.followups(owner=owner_of(n))

        # Other random customers warm the caches first (the tables' upper levels, the
        # process): the timed calls then measure a running service, not a cold start.
        return {name: latencies([make(n) for n in sample(run, count, salt)], budget_s,
                                [make(n) for n in sample(run, count, salt + WARM_UP_SALT)])
                for salt, (name, make) in enumerate(
                    (("timeline", timeline), ("archive", archive), ("followups", followups)))}
    finally:
        queries.close()
        log.close()


def measure_timeline_process(run: Run, runs: int) -> dict[str, Any]:
    """Wall time of `touchlog timeline REF` (interpreter start included); one warm-up."""
    refs = [reference_of(n) for n in sample(run, runs + 1, salt=7)]
    walls = [run_child(run, "timeline", ref, "--format", "json").seconds for ref in refs]
    walls = walls[1:]
    return {"runs": runs, "median_s": statistics.median(walls), "min_s": min(walls),
            "max_s": max(walls)}


def measure_verify(run: Run) -> dict[str, Any]:
    done = run_child(run, "verify", "--format", "json")
    report = json.loads(done.stdout)
    if not report["intact"]:
        raise SystemExit(f"verify found breaks in a freshly imported log: {report['breaks']}")
    return {"seconds": done.seconds, "events": report["events"],
            "customers": report["customers"], "events_per_s": report["events"] / done.seconds}


def stored_events(run: Run) -> dict[str, Any]:
    """How many events the log holds, and the average stored size of the first contacts."""
    log = open_log(run)
    try:
        events = log.recorder.max_notification_id() or 0
        notes = log.recorder.select_notifications(0, 2_000)
    finally:
        log.close()
    sizes = [len(n.state) for n in notes if n.topic.endswith(".ContactLogged")]
    return {"events": events, "contact_state_bytes_avg": round(statistics.fmean(sizes or [0]))}


# Each report is timed at least REPORT_RUNS times and until REPORT_SECONDS have gone (at
# most MAX_REPORT_RUNS times); the median is reported. A report of a few milliseconds is
# timed dozens of times, so that its 1M/100k ratio is not one stray run's.
REPORT_RUNS, REPORT_SECONDS, MAX_REPORT_RUNS = 3, 1.0, 51
# The floor under the reports computed per customer at the reading time (rfm,
# rfm-customers, follow-ups): one pass over every customer's row, timed like a report.
CUSTOMERS_PASS = "customers_pass"
CUSTOMERS_PASS_SQL = ("SELECT count(*) AS customers, sum(contacts) AS contacts "
                      "FROM archive_customers")


def measure_reports(run: Run, other_db: str | None = None) -> dict[str, Any]:
    """Each report (``touchlog report NAME`` without options, through the Python API, the
    tables caught up first), then ``report html``: its size, the seconds to write it and,
    where Debian's chromium is installed, the seconds the browser takes to load it; and
    beside them, as a floor, one pass over every customer (CUSTOMERS_PASS).

    With ``other_db`` (the SQLite file of another run, at another size), each report and
    the pass are timed on it too, alternately with this run's (``other_median_s``), so
    that their growth ratio is measured in one run, the machine's changing speed weighing
    on both sizes alike."""
    from touchlog.projections.queries.reads import Queries
    from touchlog.projections.reports.catalogue import REPORTS
    from touchlog.projections.reports.frame import Window
    from touchlog.projections.reports.html import write_html

    opened = [Queries(open_log(run))]
    try:
        if other_db is not None:
            opened.append(Queries(open_log(Run(other_db, run.work, run.seed, 0))))
        for queries in opened:
            queries.projector.catch_up()
        result: dict[str, Any] = {}
        for name in REPORTS:
            result[name] = _timed([lambda q=q, name=name: len(q.report(name))
                                   for q in opened])
        result[CUSTOMERS_PASS] = _timed([lambda q=q: q.db.query(CUSTOMERS_PASS_SQL)[0][
            "customers"] for q in opened])
        page = run.work / "report.html"
        started = time.perf_counter()
        write_html(opened[0], Window(), page, force=True)
        result["html"] = {"write_s": time.perf_counter() - started,
                          "bytes": page.stat().st_size, "load_s": _browser_load(page)}
        return result
    finally:
        for queries in opened:
            queries.close()
            queries.log.close()


def _timed(calls: list[Callable[[], int]]) -> dict[str, Any]:
    """The first call (and the other, if any, alternately with it) timed REPORT_RUNS times
    and until REPORT_SECONDS have gone in all (at most MAX_REPORT_RUNS each); ``rows`` is
    what the first returned, ``other_median_s`` the other's median."""
    walls: list[list[float]] = [[] for _ in calls]
    rows = 0
    while len(walls[0]) < REPORT_RUNS or (
            sum(map(sum, walls)) < REPORT_SECONDS and len(walls[0]) < MAX_REPORT_RUNS):
        for i, call in enumerate(calls):
            started = time.perf_counter()
            returned = call()
            walls[i].append(time.perf_counter() - started)
            if i == 0:
                rows = returned
    found = {"median_s": statistics.median(walls[0]), "max_s": max(walls[0]),
             "runs": len(walls[0]), "rows": rows}
    if len(walls) > 1:
        found["other_median_s"] = statistics.median(walls[1])
    return found


def _browser_load(page: Path) -> float | None:
    """Seconds until the page's load event in the browser test's headless Chromium (the
    best of three); None without chromium."""
    from tests.browser import CHROMIUM, chromium, load

    if not CHROMIUM.exists():
        return None
    loads = []
    for _ in range(3):
        with chromium() as tab:
            loads.append(load(tab, page))
    return min(loads)
