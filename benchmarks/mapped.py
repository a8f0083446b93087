"""The mapped variant of the import benchmark: the generator's contacts as someone else's
export, imported through a mapping (docs/import.md "Mapping files").

The export has the same rows as the plain CSV, in a European CRM's shape: semicolons, its
own column names, day.month.year times in Berlin time, its own words for channels, parties,
outcomes and stages (value maps), decimal commas, customer numbers without their leading
zeros (zero-padded back), an activity id (the record's id) and a type column the record
filters on. Every contact field is computed by the mapping, none read as it is: the
dearest mapping of this shape, to set against the plain contract's time per row.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from benchmarks.generate import CHANNELS, DataStats, rows

COLUMNS = ("Activity ID", "Type", "Customer No", "Date", "Medium", "Direction", "Subject",
           "Notes", "Location", "Rep", "Result", "Score", "Value", "Phase", "Next Date",
           "Next Owner", "Next Step")
MEDIA = {name: f"{name.replace('_', ' ').title()} (CRM)" for name in CHANNELS}
DIRECTIONS = {"company": "Outbound", "customer": "Inbound", "third_party": "Partner"}
RESULTS = {"positive": "Good", "neutral": "OK", "negative": "Bad", "": ""}
PHASES = {"exploration": "Qualify", "expansion": "Grow", "commitment": "Key account",
          "dissolution": "Lost", "": ""}


def _map(table: dict[str, str]) -> str:
    return "{ " + ", ".join(f'"{theirs}" = "{ours}"' for ours, theirs in table.items()
                            if theirs) + " }"


MAPPING = f"""
[source]
format = "csv"
delimiter = ";"
timezone = "Europe/Berlin"

[customer]
zero_pad = 7

[[records]]
name = "activity"
when = {{ column = "Type", not_in = ["Note"] }}
id = "act-{{Activity ID}}"

[records.fields]
customer = "{{Customer No}}"
occurred_at = {{ column = "Date", formats = ["%d.%m.%Y %H:%M:%S"] }}
channel = {{ column = "Medium", map = {_map(MEDIA)} }}
initiated_by = {{ column = "Direction", map = {_map(DIRECTIONS)} }}
purpose = "{{Subject}}"
summary = "{{Notes}}"
place = "{{Location}}"
actor = "{{Rep}}"
outcome = {{ column = "Result", map = {_map(RESULTS)} }}
rating = {{ column = "Score", type = "int" }}
amount = {{ column = "Value", type = "decimal", decimal = "," }}
stage = {{ column = "Phase", map = {_map(PHASES)} }}
follow_up_due = {{ column = "Next Date", formats = ["%d.%m.%Y %H:%M:%S"] }}
follow_up_owner = "{{Next Owner}}"
follow_up_purpose = "{{Next Step}}"
"""


def _local(text: str) -> str:
    """A generated UTC time written as Berlin wall-clock text (the zone is read back)."""
    from zoneinfo import ZoneInfo

    if not text:
        return ""
    moment = datetime.fromisoformat(text + "+00:00").astimezone(ZoneInfo("Europe/Berlin"))
    return moment.strftime("%d.%m.%Y %H:%M:%S")


def write_mapped(path: Path, mapping_path: Path, contacts: int, seed: int = 6) -> DataStats:
    """The generator's ``contacts`` rows as the export, and the mapping beside it."""
    mapping_path.write_text(MAPPING, encoding="utf-8")
    stats = DataStats()
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(COLUMNS)
        for number, row in enumerate(rows(contacts, seed, stats), 1):
            writer.writerow((
                number, "Activity", str(int(row["customer"][1:])), _local(row["occurred_at"]),
                MEDIA[row["channel"]], DIRECTIONS[row["initiated_by"]], row["purpose"],
                row["summary"], row["place"], row["actor"], RESULTS[row["outcome"]],
                row["rating"], row["amount"].replace(".", ","), PHASES[row["stage"]],
                _local(row["follow_up_due"]), row["follow_up_owner"],
                row["follow_up_purpose"]))
    return stats
