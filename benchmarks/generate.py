"""A deterministic CSV of contacts in the `touchlog import` format (docs/import.md).

The same size and seed always give the same bytes. Rows are written one customer at a
time, so memory stays flat whatever the size:
- contacts per customer follow a Lomax (shifted Pareto) law: mean about 10, a long tail
  (a few customers have hundreds of contacts), capped at ``MAX_CONTACTS``;
- every default channel appears; contacts of one customer are days to weeks apart;
- stage signals move customers through exploration, expansion and commitment; some
  dissolve, and some of those come back (a signal after dissolution starts a new cycle);
- about 20% of contacts carry an amount and about 10% schedule a follow-up, owned by the
  customer's account owner, who has a book of ``BOOK`` customers (so ``followups --owner``
  has work to do, and the same amount at every size).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from touchlog.domain.values import DEFAULT_CHANNELS

COLUMNS = ("customer", "occurred_at", "channel", "initiated_by", "purpose", "summary",
           "place", "actor", "outcome", "rating", "amount", "stage", "follow_up_due",
           "follow_up_owner", "follow_up_purpose")
CHANNELS = tuple(c.name for c in DEFAULT_CHANNELS)
MAX_CONTACTS = 2_000
BOOK = 250  # customers per account owner: a rep's queue stays the same size as the log grows
START = datetime(2015, 1, 1, tzinfo=UTC)
PURPOSES = ("introduce the offer", "answer a question", "quote", "purchase", "complaint",
            "service visit", "renewal", "survey", "invitation", "thank you")
PLACES = ("head office", "customer site", "expo hall", "shop", None, None, None)
SUMMARY_WORDS = ("asked", "about", "delivery", "price", "discount", "volume", "contract",
                 "visit", "next", "quarter", "sample", "order", "support", "team", "wants",
                 "agreed", "call", "back", "invoice", "new", "model", "training")


@dataclass
class DataStats:
    """What the generator wrote, for the report."""

    contacts: int = 0
    customers: int = 0
    amounts: int = 0
    follow_ups: int = 0
    signals: dict[str, int] = field(default_factory=dict)
    dissolved: int = 0
    won_back: int = 0
    max_contacts: int = 0
    channels: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        return {"contacts": self.contacts, "customers": self.customers,
                "with_amount": self.amounts, "with_follow_up": self.follow_ups,
                "stage_signals": dict(sorted(self.signals.items())),
                "customers_dissolved": self.dissolved, "customers_won_back": self.won_back,
                "max_contacts_per_customer": self.max_contacts,
                "channels": len(self.channels)}


def contacts_per_customer(rng: random.Random) -> int:
    # Lomax with shape 1.6 and scale 5.6: mean 1 + 5.6 / 0.6 = 10.3 before rounding and the
    # cap; 10.1 (10k) to 10.4 (100k) contacts per customer as generated.
    return min(MAX_CONTACTS, 1 + int(5.6 * (rng.paretovariate(1.6) - 1.0) + 0.5))


def journey(rng: random.Random, count: int) -> list[str | None]:
    """The stage signal (or None) of each of a customer's ``count`` contacts."""
    reach = rng.choices((0, 1, 2, 3), weights=(25, 25, 20, 30))[0]
    path = ["exploration", "expansion", "commitment"][:reach]
    if count >= 3 and rng.random() < 0.15:
        path.append("dissolution")
        if count >= 5 and rng.random() < 0.4:
            path.append(rng.choice(("exploration", "expansion")))  # win-back
    path = path[:count]
    signals: list[str | None] = [None] * count
    if path:
        step = count / len(path)
        for n, stage in enumerate(path):
            signals[min(count - 1, int(n * step + rng.random() * step))] = stage
    return signals


def reference_of(number: int) -> str:
    return f"C{number:07d}"


def owner_of(number: int) -> str:
    """The account owner of customer ``number`` (1-based): one per ``BOOK`` customers."""
    return f"rep{(number - 1) // BOOK + 1:04d}"


def customer_rows(rng: random.Random, number: int, count: int,
                  stats: DataStats) -> Iterator[dict[str, str]]:
    reference, owner = reference_of(number), owner_of(number)
    at = START + timedelta(days=rng.random() * 1500, minutes=rng.randrange(1440))
    signals = journey(rng, count)
    # Long histories are denser, so that every history ends within about ten years.
    gap_days = min(20.0, 2500.0 / count)
    if "dissolution" in signals:
        stats.dissolved += 1
        stats.won_back += signals.index("dissolution") < max(
            i for i, s in enumerate(signals) if s is not None)
    for signal in signals:
        at += timedelta(days=rng.expovariate(1 / gap_days), minutes=rng.randrange(600))
        yield contact_row(rng, reference, owner, at, signal, stats)


def colleague(rng: random.Random, reference: str) -> str:
    """An account owner of a neighbouring book (a teammate standing in)."""
    return owner_of(max(1, int(reference[1:]) + rng.randrange(-2, 3) * BOOK))


def contact_row(rng: random.Random, reference: str, owner: str, at: datetime,
                signal: str | None, stats: DataStats) -> dict[str, str]:
    channel = rng.choice(CHANNELS)
    stats.channels.add(channel)
    row = {"customer": reference, "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S"),
           "channel": channel,
           "initiated_by": rng.choices(("company", "customer", "third_party"), (6, 3, 1))[0],
           "purpose": rng.choice(PURPOSES),
           "summary": " ".join(rng.choices(SUMMARY_WORDS, k=rng.randrange(3, 25))),
           "place": rng.choice(PLACES) or "",
           "actor": owner if rng.random() < 0.8 else colleague(rng, reference),
           "outcome": rng.choice(("positive", "neutral", "negative", "")),
           "rating": str(rng.randrange(1, 6)) if rng.random() < 0.3 else "",
           "amount": "", "stage": signal or "",
           "follow_up_due": "", "follow_up_owner": "", "follow_up_purpose": ""}
    if rng.random() < 0.2:
        row["amount"] = f"{rng.lognormvariate(5, 1.2):.2f}"
        stats.amounts += 1
    if rng.random() < 0.1:
        due = at + timedelta(days=rng.randrange(3, 45))
        row.update(follow_up_due=due.strftime("%Y-%m-%dT%H:%M:%S"), follow_up_owner=owner,
                   follow_up_purpose=rng.choice(("call back", "send the quote", "check in")))
        stats.follow_ups += 1
    if signal:
        stats.signals[signal] = stats.signals.get(signal, 0) + 1
    return row


def rows(contacts: int, seed: int = 6, stats: DataStats | None = None
         ) -> Iterator[dict[str, str]]:
    """Exactly ``contacts`` rows, customer after customer."""
    rng = random.Random(seed)
    stats = stats if stats is not None else DataStats()
    while stats.contacts < contacts:
        count = min(contacts_per_customer(rng), contacts - stats.contacts)
        stats.customers += 1
        stats.max_contacts = max(stats.max_contacts, count)
        for row in customer_rows(rng, stats.customers, count, stats):
            stats.contacts += 1
            yield row


def write_csv(path: Path, contacts: int, seed: int = 6) -> DataStats:
    stats = DataStats()
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows(contacts, seed, stats))
    return stats
