"""One customer reference, however it is spelled: surrounding white space and Unicode form.

The rule (domain/identity.py ``customer_reference``): surrounding white space is stripped and
the text is put in Unicode NFC. The import and every command that names a customer apply
it, so " PADDED " and "PADDED", or "ÁCME" typed as one character or as "A" and a combining
accent, are one customer everywhere. A log written before the rule may hold a customer under
another spelling; commands still find it (docs/cli.md "Customer references").
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.cli import ok, run
from touchlog.domain.application import TouchpointLog
from touchlog.domain.customer import Customer
from touchlog.domain.identity import customer_id, customer_reference
from touchlog.domain.settings import Settings

NFC = "\u00c1CME"  # "ÁCME" with the precomposed letter
NFD = unicodedata.normalize("NFD", NFC)  # "A" and a combining acute accent
SPELLINGS = {
    "PADDED": ["PADDED", " PADDED ", "\tPADDED\u00a0"],
    NFC: [NFC, NFD, f" {NFD} "],
}
HEADER = "customer,occurred_at,channel,amount,actor\n"
ROWS = ["{},2018-01-05,phone,,ann\n", "{},2018-01-06,email,,ann\n",
        "{},2018-01-05,phone,10.00,ann\n", "{},2018-01-06,phone,,ann\n"]
CSV = HEADER + "".join(row.format(name) for row, name in zip(
    ROWS, [" PADDED ", "PADDED", NFD, NFC], strict=True))
# The same rows, each customer spelled the other way: the same contacts.
SWAPPED = HEADER + "".join(row.format(name) for row, name in zip(
    ROWS, ["PADDED", "\tPADDED", f" {NFC}", NFD], strict=True))


def imported(db: str, tmp_path: Path, text: str = CSV) -> dict[str, Any]:
    path = tmp_path / f"in-{len(list(tmp_path.iterdir()))}.csv"
    path.write_bytes(text.encode("utf-8"))
    return dict(ok(db, "import", str(path)))


def test_the_rule_strips_surrounding_white_space_and_composes_unicode() -> None:
    assert customer_reference(" PADDED\t") == "PADDED"
    assert customer_reference(f" {NFD}\n") == NFC
    assert customer_reference("A  B") == "A  B"  # white space inside is part of the name
    assert customer_reference("acme") != customer_reference("ACME")  # case is kept


def test_an_import_of_two_spellings_makes_one_customer(db_url: str, tmp_path: Path) -> None:
    first = imported(db_url, tmp_path)
    again = imported(db_url, tmp_path, SWAPPED)

    assert (first["imported"], first["customers"]) == (4, 2), first
    assert (again["imported"], again["duplicates"]) == (0, 4), again
    archive = ok(db_url, "archive")
    assert {r["customer"]: r["contacts"] for r in archive} == {NFC: 2, "PADDED": 2}


STAGES = ["exploration", "expansion", "commitment"]


def commands(spelling: str, n: int, contact_id: str, folder: Path) -> list[list[str]]:
    """Every command that names a customer, naming it as ``spelling`` (the ``n``-th time)."""
    return [
        ["timeline", spelling], ["archive", spelling], ["stage", "show", spelling],
        ["stage", "history", spelling], ["customer", "show", spelling],
        ["audit", spelling], ["audit", spelling, "--export", str(folder)],
        ["verify", spelling],
        ["customer", "set", spelling, "--owner", "ann"],
        ["contact", "log", spelling, "--channel", "web", "--at", "2018-02-01"],
        ["followup", "schedule", spelling, "--due", "2018-03-01", "--id", f"f-{n}"],
        ["followup", "reschedule", spelling, f"f-{n}", "--due", "2018-03-02"],
        ["followup", "cancel", spelling, f"f-{n}", "--reason", "done"],
        ["stage", "set", spelling, STAGES[n], "--reason", "grew", "--actor", "ann"],
        ["contact", "amend", contact_id, "--customer", spelling, "--summary", "amended"],
        ["contact", "retract", contact_id, "--customer", spelling, "--reason", "wrong"],
    ]


@pytest.mark.parametrize("canonical", list(SPELLINGS))
def test_every_command_finds_the_same_customer_under_any_spelling(
        db_url: str, tmp_path: Path, canonical: str) -> None:
    imported(db_url, tmp_path)
    for n, spelling in enumerate(SPELLINGS[canonical]):
        [first, *_] = [e for e in ok(db_url, "timeline", spelling) if e["type"] == "contact"]
        for args in commands(spelling, n, first["contact_id"], tmp_path / f"export-{n}"):
            plain = args[:2] == ["stage", "set"]  # the one command without --format
            result = run(db_url, *args, *([] if plain else ["--format", "json"]))
            assert result.exit_code == 0, (args, result.output)
            assert NFD not in result.stdout and " PADDED " not in result.stdout, args
        customers = {r["customer"] for r in ok(db_url, "archive")}
        assert customers == {NFC, "PADDED"}, spelling
    # Two imported contacts and one logged three times (the same contact): each retracted once.
    contacts = [e for e in ok(db_url, "timeline", canonical, "--include-retracted")
                if e["type"] == "contact"]
    assert len(contacts) == 3 and all(c["retracted"] for c in contacts)
    assert ok(db_url, "stage", "show", canonical)["stage"] == STAGES[-1]


def test_a_customer_an_older_log_stored_under_another_spelling_is_still_found(
        sqlite_url: str) -> None:
    with TouchpointLog(Settings(db=sqlite_url)) as log:
        # What a version before the rule recorded for an NFD reference: its own id.
        old = Customer(reference=NFD, at="2018-01-01T00:00:00+00:00")
        log._save([old])
    assert old.id == customer_id(NFD) != customer_id(NFC)

    for spelling in (NFC, NFD, f" {NFD} "):
        assert ok(sqlite_url, "customer", "show", spelling)["customer"] == NFD
        assert ok(sqlite_url, "archive", spelling)[0]["customer"] == NFD
        assert ok(sqlite_url, "stage", "show", spelling)["customer"] == NFD
        assert ok(sqlite_url, "verify", spelling)["customers"] == 1
        assert ok(sqlite_url, "audit", spelling)["customer"] == NFD
    logged = ok(sqlite_url, "contact", "log", NFC, "--channel", "phone", "--at", "2018-02-01")
    assert logged["customer"] == NFD  # recorded on the old customer, not a second one
    assert [r["customer"] for r in ok(sqlite_url, "archive")] == [NFD]
    assert len(ok(sqlite_url, "timeline", NFC)) == 1
