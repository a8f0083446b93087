"""Bulk corrections: ``touchlog contact amend --from FILE`` and ``contact retract --from
FILE`` (docs/import.md "Bulk corrections").

The file is CSV with a header: ``contact_id``, optionally ``customer`` (else the contact's
customer is looked up), ``reason``, and for amendments any of the card's fields that an
amendment may change (a blank cell leaves the field as it is). Every row is checked first,
and refused rows reported with their line, field and reason, as the import reports them;
then the good rows are recorded ``batch_size`` at a time, one transaction each, so a killed
run leaves whole batches. A row that would change nothing (the values are already those, the
contact already retracted) is counted ``unchanged`` and records nothing: running the same
file again records nothing new. The run is recorded as an import (domain/imports.py), its
start with the first batch, and each correction names it and its line (``source``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from touchlog.domain.application import ImportStart
from touchlog.domain.errors import InvalidInput, TouchlogError
from touchlog.domain.importing.summary import Rejection

if TYPE_CHECKING:
    from touchlog.domain.application import ImportOrigin, TouchpointLog
    from touchlog.domain.customer import Customer

ROWS_PER_TRANSACTION = 1_000
KINDS = ("amend", "retract")


class Correction(NamedTuple):
    """A checked row: its line, customer, contact, the plain changes (amend) and reason."""

    line: int
    customer: str
    contact_id: str
    changes: dict[str, Any]
    reason: str | None


@dataclass
class Corrected:
    """What a bulk correction did."""

    kind: str
    rows: int = 0
    corrected: int = 0
    unchanged: int = 0
    rejected: int = 0
    import_id: str | None = None
    rejections: list[Rejection] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        done = "amended" if self.kind == "amend" else "retracted"
        return {"rows": self.rows, done: self.corrected, "unchanged": self.unchanged,
                "rejected": self.rejected, "import": self.import_id}


def correct_file(log: TouchpointLog, stream: IO[bytes], kind: str, origin: ImportOrigin, *,
                 customer_of: Callable[[str], str], reason: str | None = None,
                 on_reject: Callable[[Rejection], None] | None = None,
                 batch_size: int = ROWS_PER_TRANSACTION) -> Corrected:
    """Amends (``kind`` "amend") or retracts the contacts the file's rows name; see the
    module's docstring. ``customer_of`` finds a contact's customer when the file does not
    name it; ``reason`` is the reason of rows without one."""
    result = Corrected(kind)
    reject = on_reject or result.rejections.append
    header, checked = _checked(log, stream, kind, customer_of, reason, result, reject)
    if not checked:
        return result
    starting: ImportStart | None = ImportStart.now(origin)
    assert starting is not None
    result.import_id = starting.import_id
    for start in range(0, len(checked), batch_size):
        batch = checked[start:start + batch_size]
        refs = list(dict.fromkeys(c.customer for c in batch))
        done, unchanged, refused = log.change_customers(
            refs, partial(_apply, batch=batch, kind=kind, import_id=result.import_id),
            starting=starting)
        starting = None  # recorded with the first batch
        result.corrected += done
        result.unchanged += unchanged
        for correction, error in refused:
            _refuse(result, reject, correction.line, error, header)
    log.finish_import(result.import_id, {"rows": result.rows, kind: result.corrected,
                                         "unchanged": result.unchanged,
                                         "rejected": result.rejected})
    return result


def _checked(log: TouchpointLog, stream: IO[bytes], kind: str,
             customer_of: Callable[[str], str], reason: str | None, result: Corrected,
             reject: Callable[[Rejection], None]) -> tuple[list[str], list[Correction]]:
    """The rows checked (values, customer, reason); the refused ones reported."""
    from touchlog.domain.contact import ContactChanges, validated

    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    header = next(reader, None)
    allowed = {"contact_id", "customer", "reason",
               *(ContactChanges.model_fields if kind == "amend" else ())}
    if header is None or "contact_id" not in header:
        raise InvalidInput("file", None, "the header needs a contact_id column")
    unknown = [name for name in header if name not in allowed]
    if unknown:
        raise InvalidInput("file", ", ".join(unknown), "unknown columns (expected "
                           f"{', '.join(sorted(allowed))}); nothing was recorded")
    checked = []
    for values in reader:
        line = reader.line_num
        result.rows += 1
        row = dict(zip(header, values, strict=False))
        try:
            contact_id = row.get("contact_id", "").strip()
            if not contact_id:
                raise InvalidInput("contact_id", contact_id, "a contact id is required")
            why = row.get("reason", "").strip() or reason
            changes: dict[str, Any] = {}
            if kind == "amend":
                changes = validated(ContactChanges, {k: v for k, v in row.items() if v != ""
                                                     and k in ContactChanges.model_fields
                                                     }).plain()
                _configured(log, changes)
                if not changes:
                    raise InvalidInput("contact_id", contact_id, "the row changes no field")
            elif not why:
                raise InvalidInput("reason", None, "a retraction needs a reason (a reason "
                                   "column, or --reason)")
            customer = row.get("customer", "").strip() or customer_of(contact_id)
        except TouchlogError as e:
            _refuse(result, reject, line, e, header, row)
            continue
        checked.append(Correction(line, customer, contact_id, changes, why))
    return header, checked


def _configured(log: TouchpointLog, changes: dict[str, Any]) -> None:
    """A channel or reason category must be one the settings know."""
    if "channel" in changes:
        log.settings.channel(changes["channel"])
    if changes.get("reason_category") is not None:
        log.settings.reason_category(changes["reason_category"])


def _apply(customers: dict[str, Customer], batch: list[Correction], kind: str,
           import_id: str) -> tuple[int, int, list[tuple[Correction, TouchlogError]]]:
    """The batch's corrections on its customers: (done, unchanged, refused)."""
    done = unchanged = 0
    refused = []
    for c in batch:
        customer = customers[c.customer]
        source = {"import": import_id, "line": c.line}
        try:
            if kind == "retract":
                if c.contact_id in customer.retracted:
                    unchanged += 1
                    continue
                customer.retract_contact(c.contact_id, c.reason or "", source=source)
            else:
                card = customer.card_of(c.contact_id)
                changes = {k: v for k, v in c.changes.items() if card.get(k) != v}
                if not changes and c.contact_id not in customer.retracted:
                    unchanged += 1
                    continue
                customer.amend_contact(c.contact_id, changes or c.changes, reason=c.reason,
                                       source=source)
        except TouchlogError as e:
            refused.append((c, e))
            continue
        done += 1
    return done, unchanged, refused


def _refuse(result: Corrected, reject: Callable[[Rejection], None], line: int,
            error: TouchlogError, header: list[str], row: dict[str, str] | None = None
            ) -> None:
    result.rejected += 1
    field_name = error.field if isinstance(error, InvalidInput) else "contact_id"
    reason = error.reason if isinstance(error, InvalidInput) else str(error)
    reject(Rejection(line, field_name, reason, row or {}, header, reason))
