"""Shared plumbing of the reliability suite: the real CLI in a subprocess, and the figures.

Every scenario records what it survived (kills, processes, rows, inputs) with ``figures``;
the totals are printed at the end of the run and, when ``TOUCHLOG_RELIABILITY_FIGURES``
names a file, written there as JSON (docs/reliability.md quotes them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIGURES_ENV = "TOUCHLOG_RELIABILITY_FIGURES"
TOUCHLOG = [sys.executable, "-c", "from touchlog.cli.main import main; main()"]
_figures: Counter[str] = Counter()

Run = Callable[..., subprocess.CompletedProcess[str]]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _figures:
        return
    terminalreporter.write_sep("=", "reliability figures")
    for key in sorted(_figures):
        terminalreporter.write_line(f"{key}: {_figures[key]}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        Path(target).write_text(json.dumps(dict(sorted(_figures.items())), indent=2) + "\n")


@pytest.fixture
def figures() -> Counter[str]:
    """Add to a figure: ``figures["import kills survived"] += 1``."""
    return _figures


@pytest.fixture
def touchlog() -> Run:
    """Runs ``touchlog ARGS…`` in a fresh process; text out, never raises on an exit code."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            as_user: int | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        # setpriv rather than subprocess's user=: the interpreter must still be reachable.
        prefix = [] if as_user is None else [
            "setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups"]
        return subprocess.run([*prefix, *TOUCHLOG, *args], capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, timeout=timeout,
                              check=False, **kwargs)

    return run


def assert_clear_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit code 1, one "Error: …" message naming the problem, and no traceback."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    assert result.stderr.startswith("Error: "), output
    for needle in needles:
        assert needle in result.stderr, output


@pytest.fixture
def clear_error() -> Callable[..., None]:
    return assert_clear_error


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], delay: float) -> bool:
    """SIGKILL once ``ready()`` holds (plus ``delay``); False if the run ended first."""
    deadline = time.monotonic() + 60
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


@pytest.fixture
def sigkill() -> Callable[[subprocess.Popen[bytes], Callable[[], bool], float], bool]:
    """``kill_when``: kills a running touchlog process at a chosen point."""
    return kill_when
