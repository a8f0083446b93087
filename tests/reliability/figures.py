"""The reliability figures: what each scenario survived (kills, processes, rows, inputs).

Scenarios add to ``FIGURES`` (the ``figures`` fixture); the totals are printed at the end of
the run and, when ``TOUCHLOG_RELIABILITY_FIGURES`` names a file, written there as JSON
(docs/reliability.md quotes them). In a parallel run each worker counts its own, and the
main process adds them up as the workers finish (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

FIGURES_ENV = "TOUCHLOG_RELIABILITY_FIGURES"
FIGURES: Counter[str] = Counter()


def write(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.write_sep("=", "reliability figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        Path(target).write_text(json.dumps(dict(sorted(FIGURES.items())), indent=2) + "\n")
