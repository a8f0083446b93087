"""Waiting for every process of a process group to end: a command killed with its helpers,
or a browser with its renderers, is over only when none of them can still write."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path


def wait_for_group(group: int, timeout: float) -> None:
    """Returns once no process of ``group`` runs; fails after ``timeout`` seconds. Waits on
    the processes' ends themselves (a pidfd each, readable once it has exited), not on
    time."""
    deadline = time.monotonic() + timeout
    while members := running_in(group):
        ends = []
        try:
            for pid in members:
                try:
                    ends.append(os.pidfd_open(pid))
                except ProcessLookupError:  # ended meanwhile
                    continue
            left = deadline - time.monotonic()
            assert left > 0, f"process group {group} did not end"
            if ends:
                select.select(ends, [], [], left)  # until one of them ends
        finally:
            for end in ends:
                os.close(end)


def running_in(group: int) -> list[int]:
    """The processes of ``group`` that run (zombies that nobody reaps do not count)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found
