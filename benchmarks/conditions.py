"""The conditions of each measurement: the CPU seconds of every process of the command
measured, and how busy the machine was meanwhile, with what share of that was other work.

On a shared machine a figure means little without them: the same code ran at half speed
when other work kept the cores busy. ``busy`` is the fraction of all cores' time that was
not idle during the measurement (``/proc/stat``); ``busy_others`` is what remains of it
after the measured processes' own CPU time (this process's, and that of the children it
waited for: a command run with ``run_child``, a rebuild's helper process).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def measured() -> Iterator[dict[str, Any]]:
    """Yields a dict filled at the end with ``wall_s``, ``cpu_s``, ``busy``, ``busy_others``
    (the last two None where ``/proc/stat`` cannot be read)."""
    found: dict[str, Any] = {}
    stat, cpu, started = _cpu_times(), _own_cpu(), time.perf_counter()
    yield found
    wall, ours, now = time.perf_counter() - started, _own_cpu() - cpu, _cpu_times()
    busy = others = None
    if stat is not None and now is not None and now[1] > stat[1]:
        busy = (now[0] - stat[0]) / (now[1] - stat[1])
        others = max(0.0, busy - ours / (wall * (os.cpu_count() or 1)))
    found.update(wall_s=round(wall, 3), cpu_s=round(ours, 3),
                 busy=None if busy is None else round(busy, 3),
                 busy_others=None if others is None else round(others, 3))


def _own_cpu() -> float:
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def describe(conditions: dict[str, Any] | None) -> str:
    """``CPU 12.3 s, machine 71% busy (others 18%)``."""
    if not conditions:
        return "-"
    text = f"CPU {conditions['cpu_s']:.1f} s"
    if conditions.get("busy") is not None:
        text += (f", machine {conditions['busy']:.0%} busy (others "
                 f"{conditions['busy_others']:.0%})")
    return text
