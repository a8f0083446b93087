"""What an import tells its caller: each rejected row (``Rejection``) and the counts
(``Summary``), with a dry run's preview of the first contacts (``shown``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from touchlog.domain.facts import FactEntry
from touchlog.domain.importing.spool import Encoded, decoded

if TYPE_CHECKING:
    from touchlog.domain.importing.undo import Undo

PREVIEW_ROWS = 5  # contacts a dry run with a mapping shows as they would be recorded
NAMED_NEW_CUSTOMERS = 5  # new customers a summary names (it counts them all)


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    reason: str  # with the value: "expected a whole number from 1 to 5 (got '9')"
    values: dict[str, str]
    columns: list[str]  # the file's header, so a rejects file mirrors the input
    cause: str = ""  # the reason alone: "expected a whole number from 1 to 5"
    value: Any = None  # the value refused
    rule: str | None = None  # the mapping's record (and the field's source) that refused it

    @property
    def message(self) -> str:
        rule = f" [{self.rule}]" if self.rule else ""
        return f"line {self.line}: {self.field}: {self.reason}{rule}"


@dataclass
class Summary:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0  # contacts already stored with the same content
    changed: int = 0  # contacts whose id is stored with other content (--on-change)
    rejected: int = 0
    customers: int = 0
    skipped: int = 0  # good rows that gave no contact (no record's `when` held)
    records: dict[str, int] = field(default_factory=dict)  # contacts per record of a mapping
    preview: list[dict[str, Any]] = field(default_factory=list)  # a dry run's first contacts
    kinds: Counter[str] = field(default_factory=Counter)  # rows by kind, in a file of kinds
    new_customers: int = 0  # customers the import registered (a dry run: would register)
    first_new_customers: list[str] = field(default_factory=list)  # the first few of them
    import_id: str | None = None  # the import recorded (domain/imports.py), once it records
    replaced: Undo | None = None  # undoing the import this one replaces (--replaces)

    def registered(self, reference: str) -> None:
        """Counts a customer the import registered, naming the first few."""
        self.new_customers += 1
        if len(self.first_new_customers) < NAMED_NEW_CUSTOMERS:
            self.first_new_customers.append(reference)

    def counts(self) -> dict[str, int]:
        """The counts an import's record keeps when it ends."""
        return {"rows": self.rows, "imported": self.imported, "duplicates": self.duplicates,
                "changed": self.changed, "rejected": self.rejected,
                "customers": self.customers, "new_customers": self.new_customers,
                "skipped": self.skipped}

    @property
    def contacts(self) -> int:
        """The contacts the good rows give: what pass 2 records or finds already there."""
        return sum(self.records.values())

    def report(self, *, mapped: bool, dry_run: bool) -> dict[str, Any]:
        """The summary the command prints: the plain contract's counts, the new customers
        and the first few of them by reference; with a mapping, the rows skipped and the
        contacts per record too (and a dry run's preview); the rows of each kind in a file
        of kinds; the import recorded, and what undoing the one it replaces did."""
        result: dict[str, Any] = {"rows": self.rows, "imported": self.imported,
                                  "duplicates": self.duplicates, "changed": self.changed,
                                  "rejected": self.rejected, "customers": self.customers,
                                  "new_customers": self.new_customers,
                                  "first_new_customers": self.first_new_customers}
        if mapped:
            result.update(skipped=self.skipped, records=self.records)
        if self.kinds:
            result["kinds"] = dict(self.kinds)
        if self.import_id is not None:
            result["import"] = self.import_id
        if self.replaced is not None:
            result["replaced"] = self.replaced.report()
        if dry_run:
            result["dry_run"] = True
            if mapped:
                result["preview"] = self.preview
        return result


def shown(row: Encoded, record: str) -> dict[str, Any]:
    """A spooled contact as a dry run's preview shows it: its line, record, customer, the
    card's values that are there, and its follow-up."""
    line, entry = decoded(row)
    if isinstance(entry, FactEntry):
        return {"line": line, "record": record, "customer": entry.reference, "kind": entry.kind,
                **{k: v for k, v in entry.values.items() if v is not None}}
    shown = {"line": line, "record": record, "customer": entry.reference,
             **{k: v for k, v in entry.card.items() if v is not None}}
    plan = entry.follow_up
    if plan is not None:
        shown["follow_up_due"] = plan.due_at.isoformat()
        shown.update({f"follow_up_{k}": v for k, v in (("owner", plan.owner),
                                                      ("purpose", plan.purpose)) if v})
    return shown
