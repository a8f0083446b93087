"""The reporting schema: every projection table, its columns and their portable types.

docs/reporting.md documents the same tables for people; keep the two in step. Column types
are abstract here and mapped by each database's dialect (``Dialect.types``): instants are
ISO 8601 UTC text on SQLite and ``timestamptz`` on PostgreSQL; amounts are exact decimal
text on SQLite and ``numeric`` on PostgreSQL; flags are 0/1 integers on SQLite and
``boolean`` on PostgreSQL.

Each amount has a ``number`` column beside it (``Table.numbers``: ``amount_value`` beside
``amount``), the same value as a number a SQL client sorts and sums: ``REAL`` on SQLite
(where the exact text would sort 999.69 above 13990.93), ``numeric`` on PostgreSQL. Every
writer sets it with ``Dialect.number`` of the exact value, in SQL, so a rebuild, an
incremental update and the filling of an older table's new column give the same bits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Table:
    """One reporting table: columns as (name, abstract type), and its primary key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    # (index, SQL): an index that holds only the rows the condition selects
    partial: tuple[tuple[tuple[str, ...], str], ...] = ()
    # (number column, the exact amount column it is computed from), last in ``columns``
    numbers: tuple[tuple[str, str], ...] = ()
    # Columns holding personal data: an erased customer's read ERASED (docs/privacy.md),
    # in the rows ``personal_rows`` (SQL) selects when given.
    personal: tuple[str, ...] = ()
    personal_rows: str | None = None
    # An attribute table: the attributes touchlog.toml declares personal of this scope
    # ("contact", "customer") read ERASED, with no number.
    personal_attributes: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def kinds(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def reader_indexes(self) -> list[tuple[str, ...]]:
        """The indexes only readers need; the projections look customers up by customer_id."""
        return [index for index in self.indexes if index != ("customer_id",)]

    def index_name(self, index: tuple[str, ...]) -> str:
        """The index's name: the table's and its columns' (or expression's words)."""
        return re.sub(r"\W+", "_", f"{self.name}_{'_'.join(index)}").strip("_")

    def column_key(self, column: str) -> str:
        """How ``Dialect.existing`` names one of the table's columns: ``table.column``."""
        return f"{self.name}.{column}"

    def ddl(self, types: Mapping[str, str]) -> list[str]:
        """CREATE statements for the table and its indexes, with ``types`` for the columns."""
        cols = ", ".join(f"{name} {types[kind]}" for name, kind in self.columns)
        statements = [f"CREATE TABLE IF NOT EXISTS {self.name} ({cols}, "
                      f"PRIMARY KEY ({', '.join(self.key)}))"]
        partial = dict(self.partial)
        for index in self.indexes:
            where = f" WHERE {partial[index]}" if index in partial else ""
            statements.append(f"CREATE INDEX IF NOT EXISTS {self.index_name(index)} "
                              f"ON {self.name} ({', '.join(index)}){where}")
        return statements

    def added_columns(self, types: Mapping[str, str], missing: set[str]) -> list[str]:
        """ALTER statements adding the columns named (by ``column_key``) in ``missing``: the
        columns added after an older version made the table."""
        return [f"ALTER TABLE {self.name} ADD COLUMN {name} {types[kind]}"
                for name, kind in self.columns if self.column_key(name) in missing]

    def filled_numbers(self, number: Callable[[str], str], missing: set[str]) -> list[str]:
        """UPDATE statements filling the number columns just added to an older table from
        their exact amounts (``number`` is ``Dialect.number``)."""
        return [f"UPDATE {self.name} SET {name} = {number(source)}"
                for name, source in self.numbers if self.column_key(name) in missing]


class View(NamedTuple):
    """A view of the reporting schema (a report's, projections/reports): its name, its
    SELECT, and a digest of the two, by which a view an earlier version made is told apart."""

    name: str
    select: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.name}\n{self.select}".encode()).hexdigest()[:16]


CONTACT_CARD = (
    ("occurred_at", "instant"), ("recorded_at", "instant"), ("channel", "text"),
    ("initiated_by", "text"), ("purpose", "text"), ("summary", "text"), ("place", "text"),
    ("actor", "text"), ("outcome", "text"), ("rating", "int"), ("amount", "amount"),
    ("stage_signal", "text"), ("deliberate", "flag"), ("hard", "flag"), ("active", "flag"),
    ("purchase", "flag"),
)
# A purchase: a contact said to be one, or one with an amount (the archive's count, the
# reports'); ``purchase_of("k.")`` for a table's alias.
PURCHASE = "(purchase OR amount IS NOT NULL)"


def purchase_of(alias: str) -> str:
    return f"({alias}purchase OR {alias}amount IS NOT NULL)"


ARCHIVE_CONTACTS = Table(
    "archive_contacts",
    (("customer", "text"), ("contact_id", "text"), *CONTACT_CARD, ("retracted", "flag"),
     ("retraction_reason", "text"), ("position", "position"), ("amount_value", "number")),
    key=("customer", "contact_id"),
    # (customer, occurred_at, contact_id): a customer's contacts in time order, which the
    # reports seek (the last contact before a time, those within days before a purchase).
    indexes=(("position",), ("contact_id",), ("customer", "occurred_at", "contact_id")),
    numbers=(("amount_value", "amount"),),
    personal=("purpose", "summary", "place", "retraction_reason"),
)
# Who a customer's stay-in-touch item goes to: its owner, else (no owner, or a blank one)
# whoever contacted it last. The follow-up queue and the reports filter on this exact
# expression over archive_customers, so the index serves them.
CADENCE_OWNER = "coalesce(nullif(owner, ''), last_contact_actor)"
# The rfm reports read each measure's quintile marks off these: the last contact, the
# contacts and the total, each then with the columns its walk filters on, so that no row
# is looked up (projections/reports/contact_reports.py). The second holds every column
# the reports score a customer by, so that they read each customer's measures from it
# rather than from the table's far wider rows.
RFM = (("last_contact_at", "contacts"),
       ("contacts", "last_contact_at", "total_amount_value", "customer"),
       ("total_amount_value", "contacts", "last_contact_at"))
ARCHIVE_CUSTOMERS = Table(
    "archive_customers",
    (("customer", "text"), ("customer_id", "text"), ("contacts", "int"),
     ("first_contact_at", "instant"), ("last_contact_at", "instant"),
     ("last_contact_actor", "text"), ("purchases", "int"),
     ("total_amount", "amount"), ("last_purchase_at", "instant"), ("average_rating", "real"),
     ("open_follow_ups", "int"), ("name", "text"), ("email", "text"), ("phone", "text"),
     ("owner", "text"), ("position", "position"), ("total_amount_value", "number")),
    key=("customer",), indexes=(("customer_id",), ("position",), (CADENCE_OWNER,), *RFM),
    numbers=(("total_amount_value", "total_amount"),), personal=("name", "email", "phone"),
)
ARCHIVE_CHANNELS = Table(
    "archive_channels",
    (("customer", "text"), ("channel", "text"), ("contacts", "int"), ("position", "position")),
    key=("customer", "channel"),
)
# Attributes as key-value rows (docs/reporting.md "Attributes"): ``value`` the stored value
# as text, ``value_number`` the same as a number when it is one.
ARCHIVE_CONTACT_ATTRIBUTES = Table(
    "archive_contact_attributes",
    (("customer", "text"), ("contact_id", "text"), ("name", "text"), ("value", "text"),
     ("value_number", "number"), ("position", "position")),
    key=("customer", "contact_id", "name"), indexes=(("name", "value"),),
    personal_attributes="contact",
)
ARCHIVE_CUSTOMER_ATTRIBUTES = Table(
    "archive_customer_attributes",
    (("customer", "text"), ("name", "text"), ("value", "text"), ("value_number", "number"),
     ("position", "position")),
    key=("customer", "name"), indexes=(("name", "value"),), personal_attributes="customer",
)
STAGE_CURRENT = Table(
    "stage_current",
    (("customer", "text"), ("customer_id", "text"), ("stage", "text"), ("since", "instant"),
     ("cycle", "int"), ("changes", "int"), ("position", "position")),
    key=("customer",), indexes=(("customer_id",), ("stage", "since")),
)
# The closed stays in stage and duration order, with the times the time-in-stage report
# filters on: it numbers each stage's closed stays from this index alone, without a sort.
# Partial, so that a query for every stay of a stage (the funnel's discovery entries) is
# not read through it one table lookup at a time.
CLOSED_STAYS = ("to_stage", "duration_seconds", "entered_at", "left_at")
# Each customer's stays in the order they began, with what the funnel reads of them: it
# finds each customer's start and the stays since from this index alone, not one table
# lookup a stay.
STAYS_SINCE = ("customer", "entered_at", "to_stage", "from_stage", "left_at")
STAGE_HISTORY = Table(
    "stage_history",
    (("customer", "text"), ("seq", "int"), ("cycle", "int"), ("from_stage", "text"),
     ("to_stage", "text"), ("entered_at", "instant"), ("left_at", "instant"),
     ("duration_seconds", "int"), ("reason", "text"), ("reason_category", "text"),
     ("actor", "text"), ("contact_id", "text"), ("position", "position")),
    key=("customer", "seq"), indexes=(("position",), CLOSED_STAYS, STAYS_SINCE),
    partial=((CLOSED_STAYS, "left_at IS NOT NULL"),), personal=("reason",),
    # An explicit change's stay carries its reason; the first's and a signal's are made up.
    personal_rows="contact_id IS NULL AND seq > 1",
)
# What the stage history is derived from (domain/stages.py), one row per fact: kind
# "registered" (fact_id "registered"; "registered-by-contact" when the first contact
# registered the customer), "contact" (fact_id the contact id; stage its signal) or
# "change" (an explicit change; fact_id "change-<position>").
STAGE_FACTS = Table(
    "stage_facts",
    (("customer", "text"), ("fact_id", "text"), ("kind", "text"), ("at", "instant"),
     ("stage", "text"), ("reason", "text"), ("reason_category", "text"), ("actor", "text"),
     ("retracted", "flag"), ("rating", "int"), ("position", "position")),
    key=("customer", "fact_id"), personal=("reason",),
)
FOLLOWUP_ITEMS = Table(
    "followup_items",
    (("customer", "text"), ("follow_up_id", "text"), ("due_at", "instant"), ("owner", "text"),
     ("purpose", "text"), ("contact_id", "text"), ("status", "text"), ("closed_at", "instant"),
     ("position", "position")),
    key=("customer", "follow_up_id"), indexes=(("status", "due_at"), ("owner", "status")),
    personal=("purpose",),
)
# The customers the follow-ups projection knows, by id (its events name only the id). What
# the cadence needs of a customer (owner, last live contact and its actor) is the archive's.
FOLLOWUP_CUSTOMERS = Table(
    "followup_customers",
    (("customer", "text"), ("customer_id", "text"), ("position", "position")),
    key=("customer",), indexes=(("customer_id",),),
)
# The report summaries (projections/readmodels/summaries.py, docs/reporting.md "Report
# summaries"), kept by the archive from its contact rows. ``month`` is the UTC month
# ("2024-03") of a contact, or of a purchase for the columns about purchases; counts and
# amounts only, nothing personal. Months, not days: a bulk load's batch holds contacts of
# every day, and a row per day and channel made each batch rewrite tens of thousands of rows.
SUMMARY_WITHIN_DAYS = 30  # purchases_after counts purchases within this many days after
REPORT_CHANNEL_MONTHS = Table(
    "report_channel_months",
    (("month", "text"), ("channel", "text"), ("contacts", "int"), ("retracted", "int"),
     ("deliberate", "int"), ("hard", "int"), ("by_company", "int"), ("by_customer", "int"),
     ("by_third_party", "int"), ("judged", "int"), ("positive", "int"), ("neutral", "int"),
     ("negative", "int"), ("purchases", "int"), ("revenue", "amount"),
     ("purchases_after", "int"), ("revenue_after", "amount"),
     ("first_touch_purchases", "int"), ("last_touch_purchases", "int"),
     ("ratings", "int"), ("rating_sum", "int"), ("ratings_4_5", "int"), ("ratings_1_2", "int"),
     ("revenue_value", "number"), ("revenue_after_value", "number")),
    key=("month", "channel"),
    numbers=(("revenue_value", "revenue"), ("revenue_after_value", "revenue_after")),
)
REPORT_CHANNEL_CUSTOMERS = Table(
    "report_channel_customers", (("channel", "text"), ("customers", "int")),
    key=("channel",),
)
REPORT_COHORT_MONTHS = Table(
    "report_cohort_months", (("cohort", "text"), ("month", "text"), ("active", "int")),
    key=("cohort", "month"),
)
# Kept by the stages projection from stage_history: per day and stage, the stays
# entered (entries) and left (exits; a stay that ended before it began left on its first day).
REPORT_STAGE_DAYS = Table(
    "report_stage_days",
    (("day", "text"), ("stage", "text"), ("entries", "int"), ("exits", "int")),
    key=("day", "stage"),
)
# Kept by the stages projection for the funnel: per discovery entry, keyed by its day and
# the day of the customer's discovery entry before it ('' for its first), the stage it got
# furthest to since (customers_furthest, on that stage's row) and its dissolutions since, by
# the stage they left, with how many of those were won back.
REPORT_FUNNEL_STARTS = Table(
    "report_funnel_starts",
    (("day", "text"), ("previous_day", "text"), ("stage", "text"),
     ("customers_furthest", "int"), ("dissolved", "int"), ("won_back", "int")),
    key=("day", "previous_day", "stage"),
)
# Kept by the stages projection for time in stage: the closed stays per stage and span of
# duration, so that a rank among a stage's closed stays is sought among its span's stays
# alone. A span is named by its shortest duration in seconds (``from_seconds``): 0 for the
# stays that lasted no time (discovery, when the first contact signals a later stage), 1
# for those under a day, else the first second of their whole day (86400 × days).
REPORT_STAY_DURATIONS = Table(
    "report_stay_durations",
    (("stage", "text"), ("from_seconds", "int"), ("stays", "int")),
    key=("stage", "from_seconds"),
)


def duration_span(seconds: str) -> str:
    """SQL: the ``from_seconds`` of report_stay_durations that a duration (SQL, in whole
    seconds, never negative) lies in."""
    return (f"CASE WHEN {seconds} = 0 THEN 0 WHEN {seconds} < 86400 THEN 1 "
            f"ELSE {seconds} - {seconds} % 86400 END")


# Kept by the stages projection for the dissolutions report: per day a dissolution began,
# its reason category (UNCATEGORISED without one) and the stage it left, the dissolutions,
# the seconds from their cycles' starts to them (the cycles' earlier stays' durations), the
# ones won back and the seconds until then, and the ratings of the last live contacts at
# or before each (stage_facts.rating).
UNCATEGORISED = "uncategorised"
REPORT_DISSOLUTION_DAYS = Table(
    "report_dissolution_days",
    (("day", "text"), ("reason", "text"), ("from_stage", "text"), ("dissolutions", "int"),
     ("seconds_to_dissolution", "int"), ("won_back", "int"), ("seconds_to_win_back", "int"),
     ("rated", "int"), ("rating_sum", "int")),
    key=("day", "reason", "from_stage"),
)
# Besides its position, each projection records the log it applies (``log_id``) and the
# event at its position (``event_id``), so that tables made from another log, or ahead of
# a log restored from an older backup, are refused (projections/engine/ownership.py).
TRACKING = Table(
    "projection_tracking",
    (("name", "text"), ("position", "position"), ("log_id", "text"), ("event_id", "text")),
    key=("name",),
)

# projection name -> its tables; each projection owns its tables alone.
PROJECTION_TABLES: dict[str, tuple[Table, ...]] = {
    "archive": (ARCHIVE_CONTACTS, ARCHIVE_CUSTOMERS, ARCHIVE_CHANNELS,
                ARCHIVE_CONTACT_ATTRIBUTES, ARCHIVE_CUSTOMER_ATTRIBUTES, REPORT_CHANNEL_MONTHS,
                REPORT_CHANNEL_CUSTOMERS, REPORT_COHORT_MONTHS),
    "stages": (STAGE_CURRENT, STAGE_HISTORY, STAGE_FACTS, REPORT_STAGE_DAYS,
               REPORT_FUNNEL_STARTS, REPORT_STAY_DURATIONS, REPORT_DISSOLUTION_DAYS),
    "followups": (FOLLOWUP_ITEMS, FOLLOWUP_CUSTOMERS),
}
ALL_TABLES: tuple[Table, ...] = (
    TRACKING, *(t for tables in PROJECTION_TABLES.values() for t in tables)
)
