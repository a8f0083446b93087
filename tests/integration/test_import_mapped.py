"""``import_file`` through a mapping from Python, on SQLite and PostgreSQL: rows giving two
contacts sorted and recorded in batches, and a contact refused only when recorded."""

from __future__ import annotations

import io
from pathlib import Path

from touchlog.domain.application import TouchpointLog
from touchlog.domain.importing import Reading, Rejection, import_file
from touchlog.domain.settings import Settings

MAPPING = """
[source]
format = "tsv"
timezone = "Asia/Shanghai"

[[records]]
name = "visit"
id = "{deal}:visit"
[records.fields]
customer = "{org}"
occurred_at = { column = "opened", formats = ["%Y%m%d"], type = "date" }
channel = "personal"
actor = "{rep}"

[[records]]
name = "close"
when = { present = "closed" }
id = "{deal}:close"
[records.fields]
customer = "{org}"
occurred_at = { column = "closed", formats = ["%Y%m%d"], type = "date" }
channel = "phone"
follow_up_due = { column = "closed", formats = ["%Y%m%d"], type = "date" }
follow_up_owner = "{rep}"
follow_up_purpose = "check in"
"""

# Rows out of customer order (the spool sorts them); deal 3's close plans a follow-up
# whose owner nobody gives (no rep, no customer owner, no actor on that contact): only the
# log can tell, so it is refused when its batch is recorded.
ROWS = ("deal\torg\topened\tclosed\trep\n"
        "1\tB\t20180105\t20180110\tann\n"
        "2\tA\t20180103\t\tbo\n"
        "3\tA\t20180101\t20180102\t\n")


def contacts(log: TouchpointLog, reference: str) -> list[tuple[str, str]]:
    return [(e.contact_id, e.occurred_at) for e in log.history(reference)
            if e.__class__.__name__ == "ContactLogged"]


def test_a_mapped_import_records_each_rows_contacts_and_names_a_late_refusal(
        db_url: str, tmp_path: Path) -> None:
    mapping = tmp_path / "deals.toml"
    mapping.write_text(MAPPING)
    settings = Settings(db=db_url)
    rejected: list[Rejection] = []
    with TouchpointLog(settings) as log:
        summary = import_file(log, io.BytesIO(ROWS.encode()), batch_size=2,
                              reading=Reading.of(mapping, settings),
                              on_reject=rejected.append)
        # Shanghai is UTC+8: a date is 16:00 UTC the day before.
        assert contacts(log, "A") == [("3:visit", "2017-12-31T16:00:00+00:00"),
                                      ("2:visit", "2018-01-02T16:00:00+00:00")]
        assert contacts(log, "B") == [("1:visit", "2018-01-04T16:00:00+00:00"),
                                      ("1:close", "2018-01-09T16:00:00+00:00")]
    assert (summary.rows, summary.imported, summary.rejected, summary.records) == (
        3, 4, 1, {"visit": 3, "close": 2})
    [late] = rejected
    assert (late.line, late.field, late.rule) == (4, "follow_up_owner", None)
    assert late.values == {"deal": "3", "org": "A", "opened": "20180101",
                           "closed": "20180102", "rep": ""}
