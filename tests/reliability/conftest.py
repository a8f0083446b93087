"""Shared plumbing of the reliability suite: the real CLI in a subprocess, databases a
module's tests share, how many kill points a run tries, and the figures.

Every scenario records what it survived (kills, processes, rows, inputs) with ``figures``
(tests/reliability/figures.py).
"""

from __future__ import annotations

import os
import subprocess
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.crashes import TOUCHLOG, Point, sample
from tests.reliability.databases import KINDS, Databases, for_kind
from tests.reliability.figures import FIGURES

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def figures() -> Counter[str]:
    """Add to a figure: ``figures["import kills survived"] += 1``."""
    return FIGURES


# The capabilities that let root read, write and enter whatever the modes say.
DAC_BYPASS = "-dac_override,-dac_read_search"


@pytest.fixture
def touchlog() -> Run:
    """Runs ``touchlog ARGS…`` in a fresh process; text out, never raises on an exit code."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            permissions_apply: bool = False, **kwargs: Any
            ) -> subprocess.CompletedProcess[str]:
        # Root passes every permission check by two capabilities; without them the file
        # modes apply to it as to their owner. The same user, not another one: it still
        # reaches the interpreter in a checkout only its owner may enter.
        prefix = ["setpriv", f"--bounding-set={DAC_BYPASS}", f"--inh-caps={DAC_BYPASS}",
                  "--"] if permissions_apply else []
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


@pytest.fixture
def at_most(request: pytest.FixtureRequest) -> Callable[[list[Point], int], list[Point]]:
    """``at_most(points, n)``: every kill point with ``--runslow``; else ``n`` of them, about
    half of them edges, the same ones in every run of the test (its id is the seed)."""
    if request.config.getoption("--runslow"):
        return lambda points, count: points
    seed = zlib.crc32(request.node.nodeid.encode())
    return lambda points, count: sample(points, count, seed)


@pytest.fixture(scope="module", params=KINDS)
def module_databases(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """``databases`` that a module's tests share, for logs that take long to make."""
    made = for_kind(request, tmp_path_factory.mktemp("databases"))
    yield made
    made.discard_all()
