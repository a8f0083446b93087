"""Tamper evidence: recompute every customer's hash chain from the stored bytes.

Each event's link is ``sha256(previous_link + "\\n" + canonical_json({"id", "version",
"topic", "state"}))`` with the stored state minus its own ``link`` (docs/audit.md). A
changed event no longer produces its link; a deleted one leaves a version gap; swapped
events fail because the link covers the version. A truncated tail leaves a valid chain, so
it is caught only against a checkpoint of earlier heads (``compare_heads``).

The whole log is read once in log order (``scan_log``), which costs one dict lookup per
event on top of the hashing; the few customers whose chain does not check out there are
re-read in version order (``check_chains``) to name each break precisely.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from touchlog.projections.raw_events import Row, id_text

_SORTED = orjson.OPT_SORT_KEYS


@dataclass(frozen=True)
class Break:
    """One place where the record is not what was written."""

    customer: str  # the reference from the Registered event, else the customer id
    customer_id: str
    version: int
    problem: str  # content_changed | missing_events | unreadable | truncated | rewritten
    detail: str

    def as_row(self) -> dict[str, Any]:
        return {"customer": self.customer, "customer_id": self.customer_id,
                "version": self.version, "problem": self.problem, "detail": self.detail}


@dataclass(frozen=True)
class Head:
    """The last event of a customer's chain."""

    version: int
    link: str
    reference: str | None = None


@dataclass
class ChainReport:
    customers: int = 0
    events: int = 0
    breaks: list[Break] = field(default_factory=list)
    heads: dict[str, Head] = field(default_factory=dict)  # customer id (hex) -> head
    # Links stored at the versions a checkpoint names, to see a rewritten history.
    links_at: dict[str, str] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return not self.breaks


def scan_log(rows: Iterable[Row], watch: dict[str, int] | None = None
             ) -> tuple[ChainReport, set[Any]]:
    """Checks rows in log order; returns the heads of intact chains and the suspect ids."""
    report, suspects = ChainReport(), set()
    chains: dict[Any, list[Any]] = {}  # id -> [version, previous link + "\n", link, ref, text]
    sha256, loads, dumps = hashlib.sha256, orjson.loads, orjson.dumps
    for raw_id, version, topic, state in rows:
        report.events += 1
        chain = chains.get(raw_id)
        if chain is None:
            chain = chains[raw_id] = [0, b"\n", "", None, id_text(raw_id)]
        elif raw_id in suspects:
            continue
        try:
            data = loads(state)
            link = data.pop("link")
            intact = version == chain[0] + 1 and sha256(chain[1] + dumps(
                {"id": chain[4], "version": version, "topic": topic, "state": data},
                option=_SORTED)).hexdigest() == link
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, KeyError, TypeError,
                AttributeError):
            intact = False
        if not intact:
            suspects.add(raw_id)
            continue
        if version == 1:
            chain[3] = data.get("reference")
        chain[0], chain[1], chain[2] = version, (link + "\n").encode(), link
        if watch and watch.get(key := chain[4].replace("-", "")) == version:
            report.links_at[key] = link
    report.customers = len(chains)
    for raw_id, (version, _, link, reference, text) in chains.items():
        if raw_id not in suspects:
            report.heads[text.replace("-", "")] = Head(version, link, reference)
    return report, suspects


def check_chains(rows: Iterable[Row], watch: dict[str, int] | None = None) -> ChainReport:
    """Checks rows ordered by customer and version, naming every break.

    ``watch`` names, per customer id (hex), a version whose stored link to remember.
    """
    report = ChainReport()
    watch = watch or {}
    sha256, loads, dumps = hashlib.sha256, orjson.loads, orjson.dumps
    current: Any = None
    key = text = ""
    reference: str | None = None
    previous = b"\n"  # the previous link followed by "\n"; "" before the first event
    link = ""
    expected = 1
    for raw_id, version, topic, state in rows:
        if raw_id != current:
            if current is not None:
                report.heads[key] = Head(expected - 1, link, reference)
            current, text = raw_id, id_text(raw_id)
            key, reference, previous, expected = text.replace("-", ""), None, b"\n", 1
            report.customers += 1
        report.events += 1
        try:
            data = loads(state)
            link = data.pop("link")
            body = dumps({"id": text, "version": version, "topic": topic, "state": data},
                         option=_SORTED)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, KeyError, TypeError,
                AttributeError) as e:
            report.breaks.append(_break(key, reference, version, "unreadable",
                                        f"the stored state is not a chained event ({e})"))
            link, previous, expected = "", b"\n", version + 1
            continue
        if version == 1:
            reference = data.get("reference")
        if version != expected:
            report.breaks.append(_break(key, reference, expected, "missing_events",
                                        _gap(expected, version)))
        elif sha256(previous + body).hexdigest() != link:
            report.breaks.append(_break(key, reference, version, "content_changed", (
                "the stored content does not produce the stored link: this event was "
                f"changed or replaced, or the link of version {version - 1} was"
                if version > 1 else "the stored content does not produce the stored link")))
        if watch.get(key) == version:
            report.links_at[key] = link
        # Continue from the stored link, so one changed event is reported once.
        previous, expected = (link + "\n").encode(), version + 1
    if current is not None:
        report.heads[key] = Head(expected - 1, link, reference)
    return report


def _gap(expected: int, found: int) -> str:
    missing = f"version {expected}" if found == expected + 1 else \
        f"versions {expected} to {found - 1}"
    return f"{missing} missing (the next stored event is version {found})"


def _break(key: str, reference: str | None, version: int, problem: str, detail: str) -> Break:
    return Break(reference or key, key, version, problem, detail)


def compare_heads(report: ChainReport, checkpoint: dict[str, Head]) -> list[Break]:
    """Breaks where the log no longer extends the checkpointed heads."""
    breaks = []
    for key, old in checkpoint.items():
        name = old.reference or key
        now = report.heads.get(key)
        if now is None or now.version < old.version:
            breaks.append(Break(name, key, (now.version + 1) if now else 1, "truncated", (
                f"the checkpoint's head is version {old.version}; the log now ends at "
                f"{now.version if now else 'nothing (all events gone)'}")))
        elif report.links_at.get(key) != old.link:
            breaks.append(Break(name, key, old.version, "rewritten", (
                f"version {old.version} has link {report.links_at.get(key)}, the "
                f"checkpoint recorded {old.link}: the history up to it was replaced")))
    return breaks
