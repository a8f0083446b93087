"""The import pipeline against real stores: ordering, idempotence, strictness, dry runs."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from touchlog.domain.application import TouchpointLog
from touchlog.domain.importing import Rejection, Summary, import_file
from touchlog.domain.settings import Settings

HEADER = "customer,occurred_at,channel,stage,amount,actor,follow_up_due,follow_up_owner\n"


@pytest.fixture
def log(db_url: str) -> Iterator[TouchpointLog]:
    with TouchpointLog(Settings(db=db_url)) as app:
        yield app


class Opener:
    """A LogOpener for a log that may not exist (None)."""

    settings = Settings()

    def __init__(self, log: TouchpointLog | None) -> None:
        self.log = log

    def __call__(self) -> TouchpointLog | None:
        return self.log


def load(log: TouchpointLog | None, text: str, **options: object) -> tuple[Summary, list[str]]:
    rejected: list[Rejection] = []
    summary = import_file(Opener(log), io.StringIO(text),
                         strict=bool(options.get("strict")),
                         dry_run=bool(options.get("dry_run")), on_reject=rejected.append,
                         batch_size=int(options.get("batch_size", 2)))  # type: ignore[call-overload]
    return summary, [r.message for r in rejected]


def stages(log: TouchpointLog, reference: str) -> list[tuple[str, str]]:
    return [(s.from_stage, s.to_stage) for s in log.customer(reference).stage_history[1:]]


def test_rows_of_a_customer_apply_in_occurred_order_whatever_the_file_order(
        log: TouchpointLog) -> None:
    text = HEADER + ("ACME,2018-03-01,meeting,commitment,,,,\n"
                     "BOB,2018-01-01,phone,,,,,\n"
                     "ACME,2018-01-01,phone,exploration,,,,\n"
                     "ACME,2018-02-01,email,expansion,,,,\n")
    summary, rejections = load(log, text)
    assert (summary.imported, summary.customers, rejections) == (4, 2, [])
    assert stages(log, "ACME") == [("discovery", "exploration"), ("exploration", "expansion"),
                                   ("expansion", "commitment")]


def test_importing_the_same_file_again_adds_nothing(log: TouchpointLog) -> None:
    text = HEADER + "ACME,2018-01-01,store,,10.00,,,\nACME,2018-01-02,phone,,,ann,2018-02-01,\n"
    load(log, text)
    again, _ = load(log, text)
    assert (again.imported, again.duplicates) == (0, 2)
    assert len(log.customer("ACME").contact_ids) == 2
    assert len(log.customer("ACME").follow_ups) == 1


def test_identical_rows_are_distinct_contacts_and_stay_so_on_reimport(
        log: TouchpointLog) -> None:
    text = HEADER + "ACME,2018-01-01,store,,10.00,,,\n" * 3
    first, _ = load(log, text)
    second, _ = load(log, text)
    assert (first.imported, second.imported, second.duplicates) == (3, 0, 3)
    assert len(log.customer("ACME").contact_ids) == 3


def test_bad_rows_are_rejected_with_line_field_and_reason_and_the_rest_imported(
        log: TouchpointLog) -> None:
    text = HEADER + "ACME,2018-01-01,store,,abc,,,\nACME,2018-01-02,phone,,,,,\n"
    summary, rejections = load(log, text)
    assert (summary.rows, summary.imported, summary.rejected) == (2, 1, 1)
    assert rejections == ["line 2: amount: not a decimal number (got 'abc')"]


def test_strict_imports_nothing_when_any_row_is_bad(log: TouchpointLog) -> None:
    text = HEADER + "ACME,2018-01-01,store,,,,,\nBOB,2018-13-01,phone,,,,,\n"
    summary, _ = load(log, text, strict=True)
    assert (summary.imported, summary.rejected) == (0, 1)
    with pytest.raises(Exception, match="no customer"):
        log.customer("ACME")


def test_a_dry_run_records_nothing_but_counts_what_an_import_would_skip(
        log: TouchpointLog) -> None:
    load(log, HEADER + "ACME,2018-01-01,store,,,,,\n")
    summary, _ = load(log, HEADER + "ACME,2018-01-01,store,,,,,\nACME,2018-01-05,web,,,,,\n",
                      dry_run=True)
    assert (summary.imported, summary.duplicates) == (1, 1)
    assert len(log.customer("ACME").contact_ids) == 1


def test_a_follow_up_nobody_can_own_rejects_only_its_row(log: TouchpointLog) -> None:
    text = HEADER + ("ACME,2018-01-01,store,,,,,\n"
                     "ACME,2018-01-02,phone,,,,2018-02-01,\n"
                     "ACME,2018-01-03,phone,,,ann,2018-02-01,\n")
    summary, rejections = load(log, text, batch_size=10)
    assert (summary.imported, summary.rejected) == (2, 1)
    assert rejections[0].startswith("line 3: follow_up_owner:")
