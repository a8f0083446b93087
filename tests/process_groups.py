"""Waiting for every process of a process group to end: a command killed with its helpers,
or a browser with its renderers, is over only when none of them can still write."""

from __future__ import annotations

import time
from pathlib import Path


def wait_for_group(group: int, timeout: float) -> None:
    """Returns once no process of ``group`` runs; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while alive_in(group):
        assert time.monotonic() < deadline, f"process group {group} did not end"
        time.sleep(0.02)


def alive_in(group: int) -> bool:
    """Whether a process of ``group`` runs (zombies that nobody reaps do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False
