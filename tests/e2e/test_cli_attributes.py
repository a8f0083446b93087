"""Attributes declared in touchlog.toml, the person on a contact and purchases without
amounts, end to end on SQLite and PostgreSQL: recorded by the CLI, the import and mapping
files, shown, filtered, exported with their types, refused when undeclared or mistyped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run

SETTINGS = """
[contact_attributes]
utm_campaign = "text"
quantity = "int"
price = "decimal"
delivered = "date"
referrer_email = {type = "text", personal = true}

[customer_attributes]
sector = "text"
employees = "int"
"""


@pytest.fixture
def db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOUCHLOG_CONFIG", raising=False)
    (tmp_path / "touchlog.toml").write_text(SETTINGS, encoding="utf-8")
    return db_url


def ok(db: str, *args: str) -> Any:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "json" in args else result.stdout


def refused(db: str, *args: str) -> str:
    result = run(db, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr


def contacts(db: str, reference: str, *args: str) -> list[dict[str, Any]]:
    return [e for e in ok(db, "timeline", reference, "--format", "json", *args)
            if e["type"] == "contact"]


def events(db: str) -> int:
    return int(ok(db, "verify", "--format", "json")["events"])


def test_contact_attributes_round_trip_with_their_types(db: str, tmp_path: Path) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-01", "--id", "k1",
       "--attr", "utm_campaign=spring", "--attr", "quantity= 03", "--attr", "price=12.50",
       "--attr", "delivered=2019-03-04")
    ok(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-02", "--id", "k2",
       "--attr", "utm_campaign=summer")
    [first, _] = contacts(db, "ACME")
    assert first["attributes"] == {"delivered": "2019-03-04", "price": "12.50", "quantity": 3,
                                   "utm_campaign": "spring"}
    assert [c["contact_id"] for c in contacts(db, "ACME", "--attr", "utm_campaign=spring")] == [
        "k1"]
    assert [c["contact_id"] for c in contacts(db, "ACME", "--attr", "quantity=3")] == ["k1"]
    ok(db, "contact", "amend", "k1", "--customer", "ACME", "--attr", "quantity=4",
       "--attr", "price=")
    [first, _] = contacts(db, "ACME")
    assert first["attributes"] == {"delivered": "2019-03-04", "quantity": 4,
                                   "utm_campaign": "spring"}
    ok(db, "export", "contact-attributes", "--format", "jsonl", "-o", str(tmp_path / "a.jsonl"))
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [(r["contact_id"], r["name"], r["value"], r["value_number"]) for r in rows] == [
        ("k1", "delivered", "2019-03-04", None), ("k1", "quantity", "4", 4),
        ("k1", "utm_campaign", "spring", None), ("k2", "utm_campaign", "summer", None)]
    ok(db, "export", "contact-attributes", "--format", "csv", "-o", str(tmp_path / "a.csv"))
    assert "k1,quantity,4,4" in (tmp_path / "a.csv").read_text()
    checked = ok(db, "verify", "--projections", "--format", "json")
    assert checked["intact"] is True, checked["differences"]


def test_attributes_export_to_parquet_with_a_number_column(db: str, tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow.parquet")
    ok(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-01",
       "--attr", "price=12.50")
    ok(db, "export", "contact-attributes", "--format", "parquet", "-o",
       str(tmp_path / "a.parquet"))
    table = pyarrow.read_table(tmp_path / "a.parquet")
    assert str(table.schema.field("value").type) == "string"
    assert str(table.schema.field("value_number").type) == "double"
    assert table.column("value_number").to_pylist() == [12.5]


def test_undeclared_or_mistyped_attributes_are_refused_and_nothing_is_recorded(
        db: str) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-01", "--id", "k1")
    before = events(db)
    typo = refused(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-02",
                   "--attr", "utm_campain=spring")
    assert "utm_campain" in typo and "not declared" in typo and "utm_campaign" in typo
    mistyped = refused(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-02",
                       "--attr", "quantity=three")
    assert "attribute quantity" in mistyped and "'three'" in mistyped
    assert "attribute delivered" in refused(db, "contact", "log", "ACME", "--channel", "web",
                                             "--at", "2019-03-02", "--attr",
                                             "delivered=2019-02-30")
    assert "not declared" in refused(db, "contact", "amend", "k1", "--customer", "ACME",
                                     "--attr", "sector=retail")
    assert "not declared" in refused(db, "customer", "set", "ACME", "--attr", "quantity=3")
    assert "expected KEY=VALUE" in refused(db, "customer", "set", "ACME", "--attr", "sector")
    assert "not declared" in refused(db, "timeline", "ACME", "--attr", "campaign=x")
    assert "not declared" in refused(db, "archive", "--attr", "sectr=retail")
    assert "a filter needs a value" in refused(db, "archive", "--attr", "sector=")
    assert "expected a whole number" in refused(db, "timeline", "ACME", "--attr", "quantity=x")
    assert events(db) == before


def test_the_person_is_recorded_amended_and_shown(db: str) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "phone", "--at", "2019-03-01", "--id", "k1",
       "--person", "Ann Lee", "--person-email", "ann@acme.example")
    [card] = contacts(db, "ACME")
    assert card["person"] == {"name": "Ann Lee", "email": "ann@acme.example"}
    assert "Ann Lee <ann@acme.example>" in ok(db, "timeline", "ACME", "--format", "table")
    ok(db, "contact", "amend", "k1", "--customer", "ACME", "--person", "")
    assert contacts(db, "ACME")[0]["person"] == {"name": None, "email": "ann@acme.example"}
    bad = refused(db, "contact", "log", "ACME", "--channel", "phone", "--at", "2019-03-02",
                  "--person-email", "ann at acme")
    assert "person_email" in bad and "e-mail address" in bad


def test_purchases_without_amounts_count_in_the_archive_and_the_channels_report(
        db: str) -> None:
    ok(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-01", "--id", "k1",
       "--purchase")
    ok(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-02", "--id", "k2",
       "--amount", "10.00")
    ok(db, "contact", "log", "ACME", "--channel", "web", "--at", "2019-03-03", "--id", "k3")
    [record] = ok(db, "archive", "ACME", "--format", "json")
    assert (record["purchases"], record["total_amount"], record["last_purchase_at"]) == (
        2, "10.00", "2019-03-02T00:00:00+00:00")
    assert [c["purchase"] for c in contacts(db, "ACME")] == [True, True, False]
    [web] = ok(db, "report", "channels", "--format", "json")
    assert web["purchases"] == 2
    ok(db, "contact", "amend", "k1", "--customer", "ACME", "--no-purchase")
    ok(db, "contact", "amend", "k3", "--customer", "ACME", "--purchase")
    [record] = ok(db, "archive", "ACME", "--format", "json")
    assert (record["purchases"], record["last_purchase_at"]) == (2, "2019-03-03T00:00:00+00:00")
    [then] = ok(db, "archive", "ACME", "--as-of", "2019-03-02", "--format", "json")
    assert then["purchases"] == 1
    checked = ok(db, "verify", "--projections", "--format", "json")
    assert checked["intact"] is True, checked["differences"]


def test_customer_attributes_are_set_shown_filtered_and_cleared(db: str) -> None:
    out = ok(db, "customer", "set", "ACME", "--name", "Acme Ltd", "--email", "info@acme.example",
             "--attr", "sector=retail", "--attr", "employees=0120", "--format", "json")
    assert out["attributes"] == {"employees": 120, "sector": "retail"}
    ok(db, "customer", "set", "GLOBEX", "--attr", "sector=energy")
    shown = ok(db, "customer", "show", "ACME", "--format", "json")
    assert (shown["name"], shown["attributes"]) == ("Acme Ltd",
                                                    {"employees": 120, "sector": "retail"})
    assert [r["customer"] for r in ok(db, "archive", "--attr", "sector=retail",
                                      "--format", "json")] == ["ACME"]
    assert [r["customer"] for r in ok(db, "archive", "--attr", "employees=120",
                                      "--attr", "sector=retail", "--format", "json")] == ["ACME"]
    assert ok(db, "archive", "--attr", "employees=7", "--format", "json") == []
    archived = {r["customer"]: r["attributes"] for r in ok(db, "archive", "--format", "json")}
    assert archived == {"ACME": {"employees": 120, "sector": "retail"},
                        "GLOBEX": {"sector": "energy"}}
    ok(db, "customer", "set", "ACME", "--attr", "employees=")
    assert ok(db, "customer", "show", "ACME", "--format", "json")["attributes"] == {
        "sector": "retail"}
    assert ok(db, "archive", "--attr", "employees=120", "--format", "json") == []
    assert "e-mail address" in refused(db, "customer", "set", "ACME", "--email", "acme")
    checked = ok(db, "verify", "--projections", "--format", "json")
    assert checked["intact"] is True, checked["differences"]


CSV = ("customer,occurred_at,channel,amount,purchase,person,person_email,attr.utm_campaign,"
       "attr.quantity,attr.price\n"
       "B1,2019-01-01,web,,yes,Bob,bob@b.example,spring,2,1.50\n"
       "B2,2019-01-02,web,10.00,,,,summer,,\n"
       "B3,2019-01-03,web,,,,,,,\n")


def test_the_import_records_person_purchase_and_attributes_exactly_once(
        db: str, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(CSV, encoding="utf-8")
    assert ok(db, "import", "in.csv", "--format", "json")["imported"] == 3
    [b1] = contacts(db, "B1")
    assert (b1["person"], b1["purchase"], b1["attributes"]) == (
        {"name": "Bob", "email": "bob@b.example"}, True,
        {"price": "1.50", "quantity": 2, "utm_campaign": "spring"})
    [b3] = contacts(db, "B3")
    assert (b3["person"], b3["purchase"], b3["attributes"]) == (None, False, {})
    before = events(db)
    again = ok(db, "import", "in.csv", "--format", "json")
    assert (again["imported"], again["duplicates"]) == (0, 3)
    assert events(db) == before + 2  # the import's own record alone: started, finished
    purchases = {r["customer"]: r["purchases"] for r in ok(db, "archive", "--format", "json")}
    assert purchases == {"B1": 1, "B2": 1, "B3": 0}


def test_the_import_refuses_an_undeclared_attribute_column_and_names_bad_values(
        db: str, tmp_path: Path) -> None:
    (tmp_path / "typo.csv").write_text("customer,occurred_at,channel,attr.utm_campain\n"
                                       "B1,2019-01-01,web,x\n", encoding="utf-8")
    message = refused(db, "import", "typo.csv")
    assert "attr.utm_campain" in message and "utm_campaign" in message
    (tmp_path / "bad.csv").write_text("customer,occurred_at,channel,attr.quantity,purchase\n"
                                      "B1,2019-01-01,web,many,\n"
                                      "B2,2019-01-01,web,1,perhaps\n", encoding="utf-8")
    message = refused(db, "import", "bad.csv")
    assert "line 2: attr.quantity: expected a whole number (got 'many')" in message
    assert "line 3: purchase" in message
    assert run(db, "timeline", "B1").exit_code == 1  # nothing of either row was recorded


MAPPING = """
[source]
format = "jsonl"

[[records]]
name = "visit"
id = "visit-{event_id}"

[records.fields]
customer = "{customer_id}"
occurred_at = "{timestamp}"
channel = "web"
purchase = { column = "page", map = { "/cart" = "yes" }, default = "no" }
person_email = "{email}"
attr.utm_campaign = "{campaign}"
"attr.quantity" = { column = "items", type = "int" }
"""
VISITS = [
    {"event_id": "e1", "timestamp": "2018-04-02T08:15:00Z", "customer_id": "C1",
     "page": "/cart", "email": "c1@example.com", "campaign": "spring", "items": "2"},
    {"event_id": "e2", "timestamp": "2018-04-03T08:15:00Z", "customer_id": "C1",
     "page": "/home", "email": "", "campaign": "", "items": ""},
]


def test_a_mapping_maps_columns_to_person_purchase_and_attributes(
        db: str, tmp_path: Path) -> None:
    (tmp_path / "visits.toml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "visits.jsonl").write_text(
        "".join(json.dumps(v) + "\n" for v in VISITS), encoding="utf-8")
    assert ok(db, "import", "visits.jsonl", "--mapping", "visits.toml",
              "--format", "json")["imported"] == 2
    cart, home = contacts(db, "C1")
    assert (cart["purchase"], cart["person"], cart["attributes"]) == (
        True, {"name": None, "email": "c1@example.com"}, {"quantity": 2, "utm_campaign": "spring"})
    assert (home["purchase"], home["person"], home["attributes"]) == (False, None, {})
    assert ok(db, "archive", "C1", "--format", "json")[0]["purchases"] == 1
    (tmp_path / "typo.toml").write_text(MAPPING.replace("attr.utm_campaign", "attr.campaign"),
                                        encoding="utf-8")
    message = refused(db, "import", "visits.jsonl", "--mapping", "typo.toml")
    assert "fields.attr.campaign" in message and "not declared" in message


def test_a_file_of_kinds_gives_contact_rows_contact_attributes_and_profile_rows_customer_ones(
        db: str, tmp_path: Path) -> None:
    (tmp_path / "mixed.csv").write_text(
        "kind,customer,occurred_at,channel,name,attr.utm_campaign,attr.sector,attr.employees\n"
        "contact,ACME,2024-03-01T10:00,web,,spring,,\n"
        "profile,ACME,,,Acme Ltd,,retail,250\n", encoding="utf-8")
    first = ok(db, "import", "mixed.csv", "--format", "json")
    assert (first["imported"], first["rejected"]) == (2, 0)
    acme = ok(db, "customer", "show", "ACME", "--format", "json")
    assert acme["attributes"] == {"employees": 250, "sector": "retail"}
    [contact] = [e for e in ok(db, "timeline", "ACME", "--format", "json")
                 if e["type"] == "contact"]
    assert contact["attributes"] == {"utm_campaign": "spring"}
    again = ok(db, "import", "mixed.csv", "--format", "json")
    assert (again["imported"], again["duplicates"]) == (0, 2)

    # A profile's attribute is a customer attribute: its type is checked as declared.
    (tmp_path / "bad.csv").write_text("customer,attr.employees\nACME,many\n", encoding="utf-8")
    bad = run(db, "import", "bad.csv", "--kind", "profile")
    assert bad.exit_code == 1
    assert "line 2: attr.employees: expected a whole number (got 'many')" in bad.output
    # Declared as neither, a column refuses the file, naming the closest declared names.
    (tmp_path / "typo.csv").write_text("kind,customer,attr.sektor\nprofile,ACME,retail\n",
                                       encoding="utf-8")
    typo = run(db, "import", "typo.csv")
    assert typo.exit_code == 1 and "attr.sektor" in typo.stderr
    # A file of one kind without attributes refuses attr.NAME columns.
    (tmp_path / "retract.csv").write_text("customer,contact_id,reason,attr.sector\n"
                                          "ACME,c-1,typo,retail\n", encoding="utf-8")
    retract = run(db, "import", "retract.csv", "--kind", "retraction")
    assert retract.exit_code == 1 and "attr.sector" in retract.stderr
    assert ok(db, "verify", "--projections", "--format", "json")["intact"] is True
