"""The pydantic models' reading of a CSV row: the reference ``RowParser`` is proven equal to.

``parse_row`` turns a row's values by column into a ``ContactEntry`` by building the
domain's ``Contact`` and ``FollowUpPlan`` models, and names the CSV column a refusal is
about. The import does not run it: it reads rows with ``RowParser``
(domain/importing/csv_rows.py). tests/unit/test_fast_rows.py proves the two give the same
card, plan and refusal for every row, and tests/integration/test_import_spool.py checks
the import's spool against it. It uses only public names of touchlog's modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from touchlog.domain.application import ContactEntry
from touchlog.domain.attributes import attribute_values
from touchlog.domain.contact import Contact, FollowUpPlan, validated
from touchlog.domain.errors import InvalidInput
from touchlog.domain.identity import customer_reference
from touchlog.domain.importing.csv_rows import (
    CARD_FIELD_COLUMNS,
    PLAN_FIELD_COLUMNS,
    REQUIRED,
    has_follow_up,
    in_column,
)
from touchlog.domain.settings import Settings

T = TypeVar("T")

_NOT_CARD = {"customer", "stage", "follow_up_due", "follow_up_owner", "follow_up_purpose"}


@dataclass(frozen=True)
class RawRow:
    """A data row as read: its first line number and its values by column."""

    line: int
    values: dict[str, str]


def parse_row(raw: RawRow, settings: Settings, occurrence: int = 0) -> ContactEntry:
    """The row's contact entry, or an InvalidInput naming the column that was wrong.

    Every column is text and blank means absent; the contact card is validated by the
    domain's ``Contact`` model, its channel and reason category against the deployment's.
    """
    values = raw.values
    extra = values.get("(extra values)")
    if extra is not None:
        shown = extra if len(extra) <= 60 else f"{extra[:60]}…"
        raise InvalidInput("row", shown, "more values than the header has columns")
    for column in REQUIRED:
        if not (values.get(column) or "").strip():
            raise InvalidInput(column, values.get(column), "required")
    reference = customer_reference(values["customer"])
    card: dict[str, Any] = {k: v for k, v in values.items()
                            if k not in _NOT_CARD and not k.startswith("attr.")}
    attributes = {k[len("attr."):]: v for k, v in values.items()
                  if k.startswith("attr.") and v}
    if attributes:
        card["attributes"] = attributes
    if values.get("stage") is not None:
        card["stage_signal"] = values["stage"]
    contact = _renamed(lambda: validated(Contact, card), CARD_FIELD_COLUMNS)
    settings.channel(contact.channel, listing=False)
    if contact.reason_category is not None:
        settings.reason_category(contact.reason_category)
    _renamed(lambda: attribute_values(settings.contact_attributes, contact.attributes or {},
                                      field="attr.{}"), {})
    return ContactEntry(reference, contact, _plan(values), occurrence)


def _plan(values: dict[str, str]) -> FollowUpPlan | None:
    due = values.get("follow_up_due", "")
    owner, purpose = values.get("follow_up_owner"), values.get("follow_up_purpose")
    if not has_follow_up(due, owner, purpose):
        return None
    plan = {"due_at": due, "owner": owner, "purpose": purpose}
    return _renamed(lambda: validated(FollowUpPlan, plan), PLAN_FIELD_COLUMNS)


def _renamed(build: Callable[[], T], columns: dict[str, str]) -> T:
    try:
        return build()
    except InvalidInput as e:
        raise in_column(e, columns) from None
