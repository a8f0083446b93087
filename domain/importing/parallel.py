"""Work on units (lists of rows) in order, with a forked helper process taking some of them.

The import's first pass uses it to parse rows on two cores (pipeline.py): the process
that reads the file, spools and reports rows hands units to the helper, and parses one
itself when the helper has enough queued. Results always come back in the units' order,
whoever parsed them.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any

from touchlog.domain.settings import available_cores

# Units sent to the helper and not yet back. A unit is bigger than a pipe holds, so
# sending one waits until the helper has taken it: with 8 queued, the helper parses nearly
# every unit while this process reads and spools (pass 1 of 100k rows 1.0 s, where 2, which
# left this process parsing most units itself, took 1.25-1.3 s; docs/changelog.md).
HELPER_QUEUE = 8
MAX_WAITING = 16  # units parsed but held up by the helper's, before this one takes it over
HELPER_PATIENCE = 0.2  # seconds this process waits for the helper before taking its unit
HELPER = True  # a forked process parses some units while this one reads and spools
PARSER = "touchlog-parser"  # the helper's name (``multiprocessing.current_process().name``)

Unit = list[Any]  # what is worked on, e.g. rows
Results = list[Any]  # what the work on one unit gives


class ParallelParser:
    """Applies ``parse`` to units, results in the units' order.

    When there is more than one unit and more than one core, a forked helper process
    parses units while this one does its own work between units (the import reads the
    file, spools and reports); this one parses a unit itself when the helper has
    HELPER_QUEUE units already. This one never waits for a slow helper (another program
    may have the other core): when it would, it parses the helper's oldest unit itself and
    drops the helper's results for it later. If the helper fails or dies, its units are
    parsed here.
    """

    def __init__(self, parse: Callable[[Unit], Results]) -> None:
        self.parse = parse
        self.helper: _Helper | None = None
        self.read = 0  # units so far
        self.waiting: deque[list[Any]] = deque()  # [unit, results or None], in file order
        self.unsent: deque[list[Any]] = deque()  # entries of waiting, neither parsed nor sent
        self.sent: deque[list[Any]] = deque()  # entries sent to the helper, in order

    def __enter__(self) -> ParallelParser:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.helper is not None:
            self.helper.close()

    def parsed(self, units: Iterator[Unit]) -> Iterator[tuple[Unit, Results]]:
        error = None
        while error is None:
            try:
                unit = next(units)
            except StopIteration:
                break
            except Exception as e:  # a broken file: the rows read before it come first
                error = e
                break
            self.read += 1
            if self.read == 2 and HELPER and available_cores() > 1 and _can_fork():
                self.helper = _Helper(self.parse)
            entry = [unit, None]
            self.waiting.append(entry)
            self.unsent.append(entry)
            self._work(finishing=False)
            yield from self._done()
        while self.waiting:
            self._work(finishing=True)
            yield from self._done()
        if error is not None:
            raise error

    def _work(self, finishing: bool) -> None:
        """Collects the helper's results, keeps it busy, and parses one unit here: one not
        sent, else, when the helper holds things up, its oldest (after a short wait)."""
        self._receive(wait=0)
        while self.helper is not None and self.helper.queued < HELPER_QUEUE and self.unsent:
            try:
                self.helper.send(self.unsent[0][0])
            except OSError:  # it has gone
                self._lose_helper()
                break
            self.sent.append(self.unsent.popleft())
        if self.unsent:
            self._parse(self.unsent.popleft())
        elif self.waiting[0][1] is None and (finishing or len(self.waiting) > MAX_WAITING):
            if not self._receive(wait=HELPER_PATIENCE):
                self._parse(self.waiting[0])

    def _parse(self, entry: list[Any]) -> None:
        if entry[1] is None:
            entry[1] = self.parse(entry[0])

    def _receive(self, wait: float) -> bool:
        """Takes what the helper has returned (waiting up to ``wait`` seconds for one)."""
        received = False
        while self.helper is not None and self.sent:
            try:
                results = self.helper.receive(wait if not received else 0)
            except EOFError:  # it failed or died
                self._lose_helper()
                break
            if results is None:
                break
            entry = self.sent.popleft()
            if entry[1] is None:  # else it was parsed here meanwhile
                entry[1] = results
            received = True
        return received

    def _lose_helper(self) -> None:
        """Goes on without the helper: its units are parsed here (and a bug raises here)."""
        assert self.helper is not None
        self.helper.close()
        self.helper = None
        while self.sent:
            self._parse(self.sent.popleft())

    def _done(self) -> Iterator[tuple[Unit, Results]]:
        while self.waiting and self.waiting[0][1] is not None:
            unit, results = self.waiting.popleft()
            yield unit, results


class _Helper:
    """A forked process that parses the units it is sent, in order.

    A thread here receives its results as they come, so the helper never waits for this
    process to read, and this process's sends always end.
    """

    def __init__(self, parse: Callable[[Unit], Results]) -> None:
        context = multiprocessing.get_context("fork")
        for stream in (sys.stdout, sys.stderr):  # or the helper would write it out again
            with suppress(AttributeError, OSError, ValueError):
                stream.flush()
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_help, args=(theirs, self.connection, parse),
                                       name=PARSER, daemon=True)
        self.process.start()
        theirs.close()
        self.queued = 0  # units sent and not yet received
        self.results: queue.SimpleQueue[Results | None] = queue.SimpleQueue()
        self.receiver = threading.Thread(target=self._receive_all, daemon=True)
        self.receiver.start()

    def send(self, unit: Unit) -> None:
        self.connection.send(unit)
        self.queued += 1

    def receive(self, wait: float) -> Results | None:
        """The results of the oldest unit sent, None if they take over ``wait`` seconds;
        EOFError when the helper has gone."""
        try:
            results = self.results.get(timeout=wait) if wait else self.results.get_nowait()
        except queue.Empty:
            return None
        if results is None:
            self.results.put(None)
            raise EOFError
        self.queued -= 1
        return results

    def close(self) -> None:
        with suppress(OSError):
            self.connection.send(None)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.receiver.join()
        self.connection.close()

    def _receive_all(self) -> None:
        with suppress(EOFError, OSError):
            while True:
                self.results.put(self.connection.recv())
        self.results.put(None)


def _help(connection: Connection, importers: Connection,
          parse: Callable[[Unit], Results]) -> None:
    importers.close()  # so that the importer's end going away ends this process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is the importer's to handle
    with suppress(Exception):  # the importer parses the unit itself and sees any error
        while (unit := connection.recv()) is not None:
            connection.send(parse(unit))


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()
