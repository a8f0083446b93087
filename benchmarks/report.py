"""The run's record: machine, targets with pass/fail, the printed table and comparisons."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.conditions import describe
from benchmarks.measure import CUSTOMERS_PASS

REPO = Path(__file__).resolve().parent.parent
QUERIES = ("timeline", "archive", "followups")
PASS_LABEL = "customers pass"  # the floor's line and ratio (measure.CUSTOMERS_PASS)


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor() or None)
    mem_kb = next((int(line.split()[1]) for line in _lines("/proc/meminfo")
                   if line.startswith("MemTotal:")), None)
    return {"cpu": cpu, "cores": os.cpu_count(),
            "ram_gb": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
            "os": platform.platform(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": bool(_git("status", "--porcelain", "--", "domain", "projections",
                                   "cli", "benchmarks")),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            # Other work on the machine skews every number: the load says how much there was.
            "load_average_at_start": load_average()}


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets (SQLite, the embedded default) against this run's numbers."""
    m = result["measurements"]
    rows: list[tuple[str, float | None, str, float]] = []  # name, value, op, limit
    if "import" in m:
        rows.append(("import contacts/s", m["import"]["contacts_per_s"], ">=", 25_000))
        if "raw" in m:
            rows.append(("import / raw insert", m["import"]["ratio_to_raw_insert"], ">=", 0.25))
    if "mapped" in m and "import_time_ratio_to_plain" in m["mapped"]:
        rows.append(("mapped / plain import s per row", m["mapped"]["import_time_ratio_to_plain"],
                     "<=", 1.3))
    if "rebuild" in m:
        rows.append(("rebuild events/s", m["rebuild"]["events_per_s"], ">=", 50_000))
    for name in QUERIES:
        if name in m.get("queries", {}):
            rows.append((f"{name} p99 ms", m["queries"][name]["p99_ms"], "<=", 5.0))
    if "timeline_process" in m:
        rows.append(("timeline process s", m["timeline_process"]["median_s"], "<=", 0.30))
    for name, report in _reports(m):
        rows.append((f"report {name} s", report["median_s"], "<=", 1.0))
    if m.get("reports", {}).get("html", {}).get("load_s") is not None:
        rows.append(("report html browser load s", m["reports"]["html"]["load_s"], "<=", 5.0))
    for key, value in result.get("comparison", {}).items():
        # a report may take 10 times as long on a 10 times longer log; the rest stays flat
        if not key.startswith(PASS_LABEL):  # the floor is measured, not a target
            rows.append((key, value, "<=", 10.0 if key.startswith("report ") else 1.5))
    judged = result["run"]["db_kind"] == "sqlite"
    return [{"target": name, "value": value, "limit": f"{op} {limit:,g}",
             "pass": (value >= limit if op == ">=" else value <= limit)
             if judged and value is not None else None}
            for name, value, op, limit in rows]


def compare(result: dict[str, Any], other_path: Path) -> dict[str, float]:
    """Larger-size over smaller-size ratios: import peak RSS, each query's p99, each
    report's time and the customers' pass.

    The flatness targets are 1M over 100k (RSS) and 1M over 10k (p99), both ≤ 1.5; a
    report's is ≤ 10.
    """
    other = json.loads(other_path.read_text())
    big, small = sorted((result, other), key=lambda r: r["run"]["contacts"], reverse=True)
    label = f"{_size(big)}/{_size(small)}"
    ratios: dict[str, float] = {}
    mb, ms = big["measurements"], small["measurements"]
    if "import" in mb and "import" in ms:
        ratios[f"import RSS {label}"] = mb["import"]["peak_rss_mb"] / ms["import"]["peak_rss_mb"]
    for name in QUERIES:
        if name in mb.get("queries", {}) and name in ms.get("queries", {}):
            ratios[f"{name} p99 {label}"] = (mb["queries"][name]["p99_ms"]
                                             / ms["queries"][name]["p99_ms"])
    timed = [name for name, _ in _reports(mb)] + [CUSTOMERS_PASS]
    for name in timed:
        if name in mb.get("reports", {}) and name in ms.get("reports", {}):
            key = PASS_LABEL if name == CUSTOMERS_PASS else f"report {name}"
            ratios[f"{key} {label}"] = _growth(result, big, small, name)
    return ratios


def _growth(result: dict[str, Any], big: dict[str, Any], small: dict[str, Any],
            name: str) -> float:
    """How many times as long ``name`` took at the larger size: from this run alone when it
    timed the other run's database too (``other_median_s``), else from the two runs."""
    own = result["measurements"]["reports"][name]
    if "other_median_s" in own:
        return (own["median_s"] / own["other_median_s"] if result is big
                else own["other_median_s"] / own["median_s"])
    return (big["measurements"]["reports"][name]["median_s"]
            / small["measurements"]["reports"][name]["median_s"])


def _reports(m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each report's measurement (not ``report html``'s, nor the customers' pass)."""
    return [(name, r) for name, r in m.get("reports", {}).items()
            if name not in ("html", CUSTOMERS_PASS)]


def _size(result: dict[str, Any]) -> str:
    n = int(result["run"]["contacts"])
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def table(result: dict[str, Any]) -> str:
    """The human summary: every number, then the targets with pass/fail marks."""
    run, m = result["run"], result["measurements"]
    lines = [f"touchlog benchmark: {run['contacts']:,} contacts, {run.get('customers', 0):,} "
             f"customers, {result['data'].get('events', 0):,} events on {run['db_kind']}",
             f"  {result['machine']['cpu']}, {result['machine']['cores']} cores, load "
             f"{result['machine']['load_average_at_start']} at start, "
             f"{result['machine'].get('load_average_at_end')} at end"]
    lines += [f"  {label:<34} {value}" for label, value in _numbers(m)]
    lines += [f"  {key:<34} {_fmt(value)}" for key, value in result.get("comparison", {}).items()
              if key.startswith(PASS_LABEL)]
    lines.append("")
    lines.append("  conditions (CPU of every process of the step; how busy the machine was)")
    lines += [f"  {name:<34} {describe(found)}"
              for name, found in result.get("conditions", {}).items()]
    lines.append("")
    lines.append(f"  {'target':<34} {'value':>12}  {'limit':<10} result")
    for t in result["targets"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a (targets are for SQLite)"}[t["pass"]]
        lines.append(f"  {t['target']:<34} {_fmt(t['value']):>12}  {t['limit']:<10} {mark}")
    return "\n".join(lines)


def _numbers(m: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    if "raw" in m:
        r = m["raw"]
        out += [("raw insert rows/s (1,000 per tx)", _fmt(r["insert_rows_per_s"])),
                ("raw read+decode rows/s", _fmt(r["read_decode_rows_per_s"]))]
    if "import" in m:
        i = m["import"]
        out += [("import contacts/s (end to end)", _fmt(i["contacts_per_s"])),
                ("  import s / catch-up s", f"{i['import_s']:.2f} / {i['catch_up_s']:.2f}"),
                ("  import / raw insert", _fmt(i.get("ratio_to_raw_insert"))),
                ("  import peak RSS MB", _fmt(i["peak_rss_mb"]))]
    if "mapped" in m:
        i = m["mapped"]
        out += [("mapped contacts/s (end to end)", _fmt(i["contacts_per_s"])),
                ("  mapped import s / catch-up s", f"{i['import_s']:.2f} / {i['catch_up_s']:.2f}"),
                ("  plain / mapped import s, each round",
                 ", ".join(f"{p:.2f} / {q:.2f}" for p, q in zip(
                     i["plain_import_s"], i["mapped_import_s"], strict=True))),
                ("  mapped / plain import s", _fmt(i.get("import_time_ratio_to_plain"))),
                ("  mapped / plain end to end s", _fmt(i.get("total_time_ratio_to_plain"))),
                ("  mapped / plain import CPU s", _fmt(i.get("import_cpu_ratio_to_plain"))),
                ("  mapped import peak RSS MB", _fmt(i["peak_rss_mb"]))]
    if "rebuild" in m:
        out += [("rebuild events/s", _fmt(m["rebuild"]["events_per_s"])),
                ("  rebuild / raw read+decode", _fmt(m["rebuild"].get("ratio_to_raw_read")))]
    for name, q in m.get("queries", {}).items():
        out.append((f"{name} p50 / p99 ms (n={q['n']})", f"{q['p50_ms']:.2f} / {q['p99_ms']:.2f}"))
    if "timeline_process" in m:
        t = m["timeline_process"]
        out.append((f"timeline process s (median of {t['runs']})", f"{t['median_s']:.3f}"))
    if "verify" in m:
        v = m["verify"]
        out.append(("verify s (events/s)", f"{v['seconds']:.2f} ({_fmt(v['events_per_s'])})"))
    for name, r in _reports(m):
        out.append((f"report {name} s (rows)", f"{r['median_s']:.3f} ({r['rows']:,})"))
    if CUSTOMERS_PASS in m.get("reports", {}):
        r = m["reports"][CUSTOMERS_PASS]
        out.append((f"{PASS_LABEL} s (customers)", f"{r['median_s']:.4f} ({r['rows']:,})"))
    if "html" in m.get("reports", {}):
        r = m["reports"]["html"]
        load = "-" if r["load_s"] is None else f"{r['load_s']:.2f}"
        out.append(("report html KB / write s / load s",
                    f"{r['bytes'] / 1024:,.0f} / {r['write_s']:.2f} / {load}"))
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"
