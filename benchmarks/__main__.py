"""``python -m benchmarks``: generate a data set, measure touchlog against the raw database.

Example: python -m benchmarks --size 100k --json bench-100k.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import measure, raw, report
from benchmarks.conditions import measured
from benchmarks.database import prepared
from benchmarks.generate import write_csv

MEASUREMENTS = ("raw", "import", "mapped", "rebuild", "queries", "timeline", "verify",
                "reports")
NEEDS_DATA = ("rebuild", "queries", "timeline", "verify", "reports")


def size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip().replace("_", ""))
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 300, 10k, 1M)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()]
    value = int(float(match[1]) * scale)
    if value < 1:
        raise argparse.ArgumentTypeError("the size must be at least one contact")
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=size, default=size("10k"),
                   help="contacts to generate: 10k, 100k, 1M or a number (default 10k)")
    p.add_argument("--db", help="PostgreSQL URL of a server to use (a fresh database is made "
                   "and dropped), or a new SQLite file path (default: in a temp folder)")
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    p.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                   help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="work in DIR and keep the CSV and the SQLite files there")
    p.add_argument("--compare", type=Path, metavar="OTHER.json",
                   help="a run at another size: report the RSS and p99 growth ratios")
    p.add_argument("--mapped-rounds", type=int, default=2, metavar="N",
                   help="the mapped import and the plain one, alternately, N times each "
                   "(default 2)")
    p.add_argument("--seed", type=int, default=6, help="data generator seed (default 6)")
    p.add_argument("--queries", type=int, default=1_000,
                   help="random customers per query kind (default 1000)")
    p.add_argument("--query-budget", type=float, default=120.0, metavar="SECONDS",
                   help="stop a query kind after this long, keeping the samples so far")
    p.add_argument("--timeline-runs", type=int, default=10,
                   help="`touchlog timeline` processes to time (default 10)")
    args = p.parse_args(argv)
    unknown = set(args.only or ()) - set(MEASUREMENTS)
    if unknown:
        p.error(f"--only: unknown {', '.join(sorted(unknown))}; known: {', '.join(MEASUREMENTS)}")
    return args


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    chosen = args.only or list(MEASUREMENTS)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = args.keep
    else:
        work = Path(tempfile.mkdtemp(prefix="touchlog-bench-"))
    try:
        result = run(args, chosen, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"]["load_average_at_end"] = report.load_average()
    if args.compare:
        result["comparison"] = report.compare(result, args.compare)
    result["targets"] = report.targets(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        progress(f"wrote {args.json}")
    print(report.table(result))
    return 0


def run(args: argparse.Namespace, chosen: list[str], work: Path) -> dict[str, Any]:
    csv_path = work / "contacts.csv"
    progress(f"generating {args.size:,} contacts (seed {args.seed}) into {csv_path}")
    stats = write_csv(csv_path, args.size, args.seed)
    data: dict[str, Any] = {**stats.as_dict(), "csv_bytes": csv_path.stat().st_size}
    m: dict[str, Any] = {}
    conditions: dict[str, dict[str, Any]] = {}  # each measurement's (benchmarks/conditions.py)
    with prepared(args.db, work) as target:
        result = {"machine": {**report.machine(), "postgres": target.server_version},
                  "run": {"contacts": args.size, "customers": stats.customers,
                          "db_kind": target.kind, "seed": args.seed, "measured": chosen,
                          # a kept SQLite file, which a run comparing with this one reads
                          "db": target.url if args.keep and target.kind == "sqlite"
                          else None},
                  "data": data, "measurements": m, "conditions": conditions}
        the_run = measure.Run(target.url, work, args.seed, stats.customers)
        if "raw" in chosen:
            progress(f"raw baseline: {args.size:,} rows, 1,000 per transaction")
            with measured() as conditions["raw"]:
                m["raw"] = raw.measure(target.kind, target.raw_url, args.size, args.seed)
        if "import" in chosen or set(chosen) & set(NEEDS_DATA):
            progress("touchlog import, then projections run")
            with measured() as conditions["import"]:
                m["import"] = measure.measure_import(the_run, csv_path, args.size)
            data.update(measure.stored_events(the_run))
        if "mapped" in chosen:
            if target.kind == "sqlite":
                progress(f"touchlog import --mapping (the same contacts as an export) and the "
                         f"plain import, alternately, {args.mapped_rounds} times each")
                with measured() as conditions["mapped"]:
                    m["mapped"] = measure.measure_mapped(the_run, csv_path, args.size,
                                                         args.mapped_rounds)
            else:
                progress("the mapped import is measured on SQLite only: skipped")
        steps = (("rebuild", "rebuilding every projection", lambda: measure.measure_rebuild(
                     the_run)),
                 ("queries", f"{args.queries:,} random customers per query kind",
                  lambda: measure.measure_queries(the_run, args.queries, args.query_budget)),
                 ("timeline", f"{args.timeline_runs} `touchlog timeline` processes",
                  lambda: measure.measure_timeline_process(the_run, args.timeline_runs)),
                 ("verify", "touchlog verify", lambda: measure.measure_verify(the_run)),
                 ("reports", "every report, and report html", lambda: measure.measure_reports(
                     the_run, _compared_db(args))))
        for name, message, step in steps:
            if name in chosen:
                progress(message)
                key = "timeline_process" if name == "timeline" else name
                with measured() as conditions[key]:
                    m[key] = step()
    _ratios(m)
    return result


def _compared_db(args: argparse.Namespace) -> str | None:
    """The SQLite file of the run ``--compare`` names, when it was kept and is still there:
    the reports are then timed on it too, in this run."""
    if args.compare is None:
        return None
    other = json.loads(args.compare.read_text())["run"].get("db")
    return other if other is not None and Path(other).exists() else None


def _ratios(m: dict[str, Any]) -> None:
    if "raw" in m and "import" in m:
        m["import"]["ratio_to_raw_insert"] = (m["import"]["contacts_per_s"]
                                              / m["raw"]["insert_rows_per_s"])
    if "raw" in m and "rebuild" in m:
        m["rebuild"]["ratio_to_raw_read"] = (m["rebuild"]["events_per_s"]
                                             / m["raw"]["read_decode_rows_per_s"])


if __name__ == "__main__":
    sys.exit(main())
