"""Why relationships end: reason categories on dissolutions, from the CLI, a CSV file and
touchlog.toml, shown by ``stage history`` and kept in ``stage_history``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run

KNOWN = ("another_supplier, competition, died, moved_away, other, product_dissatisfaction, "
         "staff_attitude")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no touchlog.toml but the test's own
    monkeypatch.delenv("TOUCHLOG_CONFIG", raising=False)
    return str(tmp_path / "log.db")


def ok(db: str, *args: str) -> Any:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "json" in args else result.stdout


def categories(db: str, reference: str) -> list[tuple[str, str | None]]:
    rows = ok(db, "stage", "history", reference, "--format", "json")
    return [(r["to_stage"], r["reason_category"]) for r in rows]


def events(db: str) -> int:
    return int(ok(db, "verify", "--format", "json")["events"])


def test_a_dissolution_carries_its_category_from_a_contact_and_from_stage_set(db: str) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05",
       "--stage", "commitment")
    ok(db, "contact", "log", "ACME", "--channel", "letter", "--at", "2018-06-01",
       "--stage", "dissolution", "--reason-category", "Moved_Away")
    ok(db, "stage", "set", "ACME", "exploration", "--at", "2019-01-01", "--reason", "back",
       "--actor", "ann")
    ok(db, "stage", "set", "ACME", "dissolution", "--at", "2019-05-01", "--actor", "ann",
       "--reason", "cheaper offer", "--reason-category", "competition")
    assert categories(db, "ACME") == [
        ("discovery", None), ("commitment", None), ("dissolution", "moved_away"),
        ("exploration", None), ("dissolution", "competition")]
    table = ok(db, "stage", "history", "ACME", "--format", "table")
    assert "reason_category" in table.splitlines()[0]
    assert "moved_away" in table and "competition" in table


def test_an_unknown_category_names_the_known_ones_and_records_nothing(db: str) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05")
    before = events(db)
    for args in (["stage", "set", "ACME", "dissolution", "--reason", "gone", "--actor", "ann",
                  "--reason-category", "pricey"],
                 ["contact", "log", "ACME", "--channel", "letter", "--at", "2018-06-01",
                  "--stage", "dissolution", "--reason-category", "pricey"]):
        result = run(db, *args)
        assert result.exit_code == 1
        assert f"unknown reason category; known: {KNOWN} (got 'pricey')" in result.stderr
        assert "Traceback" not in result.output
    assert events(db) == before


def test_a_category_goes_with_a_dissolution_only(db: str) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05",
       "--stage", "exploration", "--id", "k1")
    before = events(db)
    for args in (["stage", "set", "ACME", "commitment", "--reason", "deal", "--actor", "ann",
                  "--reason-category", "died"],
                 ["contact", "log", "ACME", "--channel", "letter", "--at", "2018-06-01",
                  "--reason-category", "died"],
                 ["contact", "amend", "k1", "--customer", "ACME", "--reason-category", "died"]):
        result = run(db, *args)
        assert result.exit_code == 1, args
        assert "reason_category: a reason category says why a relationship ended" \
            in result.stderr
    assert events(db) == before


def test_amending_the_category_of_a_dissolution_contact_re_derives_the_history(
        db: str) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "letter", "--at", "2018-06-01",
       "--stage", "dissolution", "--reason-category", "other", "--id", "k1")
    ok(db, "contact", "amend", "k1", "--customer", "ACME", "--reason-category", "died")
    assert categories(db, "ACME") == [("discovery", None), ("dissolution", "died")]
    checked = ok(db, "verify", "--projections", "--format", "json")
    assert checked["intact"] is True


def test_touchlog_toml_adds_categories_like_channels(db: str, tmp_path: Path) -> None:
    (tmp_path / "touchlog.toml").write_text(
        '[reason_categories]\nprice = { description = "too expensive" }\nbankrupt = {}\n',
        encoding="utf-8")
    ok(db, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05")
    ok(db, "stage", "set", "ACME", "dissolution", "--reason", "went bust", "--actor", "ann",
       "--at", "2018-02-01", "--reason-category", "bankrupt")
    assert categories(db, "ACME")[-1] == ("dissolution", "bankrupt")
    refused = run(db, "stage", "set", "ACME", "dissolution", "--reason", "x", "--actor", "ann",
                  "--reason-category", "pricey")
    assert refused.exit_code == 1
    assert "known: another_supplier, bankrupt, competition, died, moved_away, other, price," \
        in refused.stderr


@pytest.mark.parametrize(("toml", "message"), [
    ('[reason_categories]\nprice = { share = 5 }\n', "unknown setting(s); known: description"),
    ('[reason_categories]\n"Too Dear" = {}\n', "expected a lower-case name like 'price'"),
    ('[reason_categories]\nprice = { description = 5 }\n', "expected text"),
    ('reason_categories = ["price"]\n', "expected a table of names"),
    ('[reason_categories]\nprice = "too dear"\n', "expected a table like"),
])
def test_a_bad_category_setting_is_a_clear_error(db: str, tmp_path: Path, toml: str,
                                                   message: str) -> None:
    (tmp_path / "touchlog.toml").write_text(toml, encoding="utf-8")
    result = run(db, "contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05")
    assert result.exit_code == 1
    assert "reason_categories" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output
    assert not Path(db).exists()


def test_a_csv_column_gives_a_dissolution_its_category_and_refuses_a_bad_one(
        db: str, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("customer,occurred_at,channel,stage,reason_category\n"
                    "ACME,2018-01-05,phone,expansion,\n"
                    "ACME,2018-06-01,letter,dissolution,staff_attitude\n"
                    "BOB,2018-01-05,phone,dissolution,pricey\n"
                    "BOB,2018-01-06,phone,commitment,died\n", encoding="utf-8")
    result = run(db, "import", str(path), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["imported"] == 2
    assert "rejected line 4: reason_category: unknown reason category" in result.stderr
    assert "rejected line 5: reason_category: a reason category says why" in result.stderr
    assert categories(db, "ACME") == [
        ("discovery", None), ("expansion", None), ("dissolution", "staff_attitude")]
