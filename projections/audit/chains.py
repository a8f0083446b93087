"""Tamper evidence: recompute every customer's hash chain from the stored bytes.

Each event's link is ``chain_link`` (domain/chain.py, docs/audit.md) of the link before it
and the event's stored content. A changed event no longer produces its link; a deleted one
leaves a version gap; swapped events fail because the link covers the version. A truncated
tail leaves a valid chain, so it is caught only against a checkpoint of earlier heads
(``compare_heads``).

``scan_log`` checks the whole log in log order and names the customers whose chain does
not check out; ``check_chains`` checks rows in customer and version order and names each
break precisely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from touchlog.domain.chain import chain_link
from touchlog.domain.storage.database import Row
from touchlog.domain.storage.events import id_text

# What a stored state that is not a chained event raises on the way to its link.
_UNREADABLE = (orjson.JSONDecodeError, orjson.JSONEncodeError, KeyError, TypeError,
               AttributeError)


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


@dataclass
class _Chain:
    """How far one customer's chain checked out in a scan in log order."""

    customer_id: str  # canonical (hyphenated) text, as the chain hashes it
    version: int = 0
    link: str = ""
    reference: str | None = None


def scan_log(rows: Iterable[Row], watch: dict[str, int] | None = None
             ) -> tuple[ChainReport, set[Any]]:
    """Checks rows in log order; returns the heads of intact chains and the suspect ids."""
    report, suspects = ChainReport(), set()
    chains: dict[Any, _Chain] = {}
    for raw_id, version, topic, state in rows:
        report.events += 1
        chain = chains.get(raw_id)
        if chain is None:
            chain = chains[raw_id] = _Chain(id_text(raw_id))
        elif raw_id in suspects:
            continue
        try:
            data = orjson.loads(state)
            link = data.pop("link")
            intact = version == chain.version + 1 and chain_link(
                chain.link, chain.customer_id, version, topic, data) == link
        except _UNREADABLE:
            intact = False
        if not intact:
            suspects.add(raw_id)
            continue
        if version == 1:
            chain.reference = data.get("reference")
        chain.version, chain.link = version, link
        if watch and watch.get(key := chain.customer_id.replace("-", "")) == version:
            report.links_at[key] = link
    report.customers = len(chains)
    for raw_id, chain in chains.items():
        if raw_id not in suspects:
            report.heads[chain.customer_id.replace("-", "")] = Head(
                chain.version, chain.link, chain.reference)
    return report, suspects


def check_chains(rows: Iterable[Row], watch: dict[str, int] | None = None) -> ChainReport:
    """Checks rows ordered by customer and version, naming every break.

    ``watch`` names, per customer id (hex), a version whose stored link to remember.
    """
    report = ChainReport()
    watch = watch or {}
    current: Any = None
    key = text = ""
    reference: str | None = None
    previous = link = ""  # the link before this event ("" before the first), this one's
    expected = 1
    for raw_id, version, topic, state in rows:
        if raw_id != current:
            if current is not None:
                report.heads[key] = Head(expected - 1, link, reference)
            current, text = raw_id, id_text(raw_id)
            key, reference, previous, expected = text.replace("-", ""), None, "", 1
            report.customers += 1
        report.events += 1
        try:
            data = orjson.loads(state)
            link = data.pop("link")
            computed = chain_link(previous, text, version, topic, data)
        except _UNREADABLE as e:
            report.breaks.append(_break(key, reference, version, "unreadable",
                                        f"the stored state is not a chained event ({e})"))
            link, previous, expected = "", "", version + 1
            continue
        if version == 1:
            reference = data.get("reference")
        if version != expected:
            report.breaks.append(_break(key, reference, expected, "missing_events",
                                        _gap(expected, version)))
        elif computed != link:
            report.breaks.append(_break(key, reference, version, "content_changed", (
                "the stored content does not produce the stored link: this event was "
                f"changed or replaced, or the link of version {version - 1} was"
                if version > 1 else "the stored content does not produce the stored link")))
        if watch.get(key) == version:
            report.links_at[key] = link
        # Continue from the stored link, so one changed event is reported once.
        previous, expected = link, version + 1
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
