"""Mapping files: every kind of mistake is found before any row is read, named with its
place in the file; a good mapping reads rows as it says (records.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchlog.domain.errors import InvalidInput, MappingError
from touchlog.domain.importing.csv_rows import COLUMNS
from touchlog.domain.importing.fields import numeric_format
from touchlog.domain.importing.mapping import Mapping, identity, load_mapping
from touchlog.domain.importing.records import RowReader, RowRefused, Unlisted
from touchlog.domain.settings import Settings

SETTINGS = Settings()
GOOD = """
[[records]]
name = "visit"
[records.fields]
customer = "{cust}"
occurred_at = "{at}"
channel = "web"
"""


def mapping(tmp_path: Path, text: str) -> Mapping:
    path = tmp_path / "map.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path, SETTINGS)


def problems(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(MappingError) as refused:
        mapping(tmp_path, text)
    assert str(tmp_path / "map.toml") in str(refused.value)
    return dict(refused.value.problems)


def with_field(field: str) -> str:
    return GOOD + field + "\n"


@pytest.mark.parametrize(("text", "place", "words"), [
    (with_field('summary = "{note"'), "records.visit.fields.summary", "not a template"),
    (with_field('summary = "{note!r}"'), "records.visit.fields.summary", "column names only"),
    (with_field('mood = "happy"'), "records.visit.fields.mood", "unknown field"),
    (with_field('contact_id = "{id}"'), "records.visit.fields.contact_id", "record's id"),
    (with_field('rating = { column = "r", formats = ["%Y"], type = "int" }'),
     "records.visit.fields.rating.formats", "type date or datetime"),
    (with_field('follow_up_due = { column = "d", formats = ["%Q-%m"] }'),
     "records.visit.fields.follow_up_due.formats[1]", "bad directive"),
    (with_field('follow_up_due = { column = "d", formats = ["yyyy-mm-dd"] }'),
     "records.visit.fields.follow_up_due.formats[1]", "no % directive"),
    (with_field('place = { column = "url", pattern = "([a-z" }'),
     "records.visit.fields.place.pattern", "not a regular expression"),
    (with_field('place = { column = "url", pattern = "(a)", group = 2 }'),
     "records.visit.fields.place.group", "no group 2"),
    (with_field('place = { column = "url", default = "x" }'),
     "records.visit.fields.place.default", "needs a map"),
    (with_field('place = { column = "url", colum = "x" }'),
     "records.visit.fields.place.colum", "unknown key"),
    (with_field('place = { template = "{a}", column = "b" }'),
     "records.visit.fields.place", "one of them"),
    (with_field('amount = { column = "a", type = "money" }'),
     "records.visit.fields.amount.type", "unknown type"),
    (with_field('stage = "winning"'), "records.visit.fields.stage", "unknown stage"),
    (with_field('outcome = { column = "o", map = { yes = "great" } }'),
     "records.visit.fields.outcome.map.yes", "expected one of"),
    (GOOD.replace('channel = "web"', 'channel = "pigeon"'), "records.visit.fields.channel",
     "unknown channel"),
    (GOOD.replace('channel = "web"', 'channel = { column = "c", map = { x = "pigeon" } }'),
     "records.visit.fields.channel.map.x", "unknown channel"),
    (GOOD.replace('channel = "web"\n', ''), "records.visit.fields", "missing required"),
    (GOOD.replace('name = "visit"', 'name = "visit"\nkind = "deal"'), "records.visit.kind",
     "unknown record kind"),
    (GOOD.replace('name = "visit"', 'name = "visit"\nid = "visit"'), "records.visit.id",
     "must name a column"),
    (GOOD.replace('name = "visit"', 'name = "visit"\nwhen = { column = "t" }'),
     "records.visit.when", "expected one of"),
    (GOOD.replace('name = "visit"', 'name = "visit"\nwhen = { column = "t", in = "x" }'),
     "records.visit.when.in", "list of texts"),
    ('[source]\nformat = "xml"\n' + GOOD, "source.format", "unknown format"),
    ('[source]\nencoding = "klingon"\n' + GOOD, "source.encoding", "unknown encoding"),
    ('[source]\ntimezone = "Mars/Olympus"\n' + GOOD, "source.timezone", "unknown time zone"),
    ('[source]\ndelimiter = ";;"\n' + GOOD, "source.delimiter", "one character"),
    ('[source]\nheader = false\n' + GOOD, "source.columns", "needs the column names"),
    ('[source]\nskip_rows = -1\n' + GOOD, "source.skip_rows", "whole number"),
    ('[customer]\nzero_pad = 0\n' + GOOD, "customer.zero_pad", "width from 1 to 64"),
    ('[customer]\ncase = "title"\n' + GOOD, "customer.case", "expected one of"),
    ('[sources]\n' + GOOD, "sources", "unknown key"),
    ('', "records", "at least one"),
])
def test_a_mistake_in_a_mapping_is_named_with_its_place(
        tmp_path: Path, text: str, place: str, words: str) -> None:
    found = problems(tmp_path, text)
    assert place in found, found
    assert words in found[place]


def test_every_problem_of_a_mapping_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, '[source]\nformat = "xml"\n' + with_field('mood = "x"')
                     + 'stage = "winning"\n')
    assert set(found) == {"source.format", "records.visit.fields.mood",
                          "records.visit.fields.stage"}


def test_a_file_that_is_not_toml_is_a_mapping_error(tmp_path: Path) -> None:
    assert "not a TOML file" in problems(tmp_path, "records = [")["file"]


def test_a_column_the_file_lacks_is_refused_naming_the_place_and_a_near_name(
        tmp_path: Path) -> None:
    loaded = mapping(tmp_path, with_field('summary = "{Note} {more}"'))
    with pytest.raises(MappingError) as refused:
        loaded.check_columns(["cust", "at", "note"])
    found = refused.value.problems
    assert ("records.visit.fields.summary", "no column 'Note' in the file (there is 'note')") \
        in found
    assert ("records.visit.fields.summary", "no column 'more' in the file") in found


def test_a_semicolon_file_read_with_commas_gets_a_delimiter_hint(tmp_path: Path) -> None:
    loaded = mapping(tmp_path, GOOD)
    with pytest.raises(MappingError, match="looks ';'-separated.*--delimiter ';'"):
        loaded.check_columns(["cust;at;channel"])


def read(tmp_path: Path, text: str, columns: list[str], values: list[str],
         settings: Settings = SETTINGS) -> list[tuple[int, Any]]:
    return RowReader(columns, mapping(tmp_path, text), settings).read(values)


def card(tmp_path: Path, fields: str, columns: list[str], values: list[str]) -> dict[str, Any]:
    [(_, row)] = read(tmp_path, with_field(fields), ["cust", "at", *columns],
                      ["ACME", "2018-01-05T10:00", *values])
    return dict(row.card)


def test_a_template_of_empty_columns_is_empty_and_literals_stay_otherwise(
        tmp_path: Path) -> None:
    fields = 'summary = "{a}: {b}"'
    assert card(tmp_path, fields, ["a", "b"], ["", " "])["summary"] is None
    assert card(tmp_path, fields, ["a", "b"], ["x", ""])["summary"] == "x: "
    assert card(tmp_path, 'summary = "{{literal}} {a}"', ["a"], ["y"])["summary"] == \
        "{literal} y"


def test_formats_are_tried_in_order_and_a_value_matching_none_is_refused(
        tmp_path: Path) -> None:
    fields = 'follow_up_due = { column = "d", formats = ["%m/%d/%Y", "%Y%m%d", "%d %b %Y"] }'
    for text, due in (("01/24/2018", "2018-01-24"), ("20170109", "2017-01-09"),
                      ("9 Jan 2017", "2017-01-09")):
        [(_, row)] = read(tmp_path, with_field(fields), ["cust", "at", "d"],
                          ["A", "2018-01-05", text])
        assert row.plan.due_at == f"{due}T00:00:00+00:00"
    with pytest.raises(RowRefused) as refused:
        read(tmp_path, with_field(fields), ["cust", "at", "d"], ["A", "2018-01-05", "2018-1"])
    assert (refused.value.field, refused.value.value) == ("follow_up_due", "2018-1")
    assert "matches none of the formats" in refused.value.reason
    assert refused.value.rule == "record 'visit', follow_up_due from {d}"


def test_a_map_translates_values_and_its_default_takes_the_others(tmp_path: Path) -> None:
    fields = ('initiated_by = { column = "dir", map = { IN = "customer", "" = "third_party" },'
              ' default = "company" }')
    got = [card(tmp_path, fields, ["dir"], [value])["initiated_by"]
           for value in (" IN ", "OUT", "")]
    assert got == ["customer", "company", "third_party"]


def test_a_value_a_map_without_default_does_not_list_is_the_mappings_problem(
        tmp_path: Path) -> None:
    text = GOOD.replace('channel = "web"', 'channel = { column = "src", map = { g = "web" } }')
    with pytest.raises(Unlisted) as unlisted:
        read(tmp_path, text, ["cust", "at", "src"], ["A", "2018-01-05", "nytimes"])
    assert (unlisted.value.place, unlisted.value.value) == (
        "records.visit.fields.channel.map", "nytimes")


def test_a_pattern_pulls_a_value_out_of_text_and_a_mismatch_is_refused(
        tmp_path: Path) -> None:
    fields = 'amount = { column = "price", pattern = "([0-9.]+) EUR", type = "decimal" }'
    assert card(tmp_path, fields, ["price"], ["total 12.50 EUR"])["amount"] == "12.50"
    with pytest.raises(RowRefused, match="does not match the pattern"):
        card(tmp_path, fields, ["price"], ["twelve"])


def test_types_read_decimal_commas_and_whole_numbers(tmp_path: Path) -> None:
    fields = ('amount = { column = "v", type = "decimal", decimal = ",", thousands = "." }\n'
              'rating = { column = "r", type = "int" }')
    got = card(tmp_path, fields, ["v", "r"], ["1.054,50", " 4 "])
    assert (got["amount"], got["rating"]) == ("1054.50", 4)
    with pytest.raises(RowRefused, match="not a decimal number"):
        card(tmp_path, fields, ["v", "r"], ["1,05,4", "4"])
    with pytest.raises(RowRefused, match="not a whole number"):
        card(tmp_path, fields, ["v", "r"], ["1", "4.5"])


def test_customer_references_are_zero_padded_and_cased_as_the_mapping_says(
        tmp_path: Path) -> None:
    text = '[customer]\nzero_pad = 5\ncase = "upper"\n' + GOOD
    got = [row.reference for value in ("2", " 00002 ", "ab7", "123456")
           for _, row in read(tmp_path, text, ["cust", "at"], [value, "2018-01-05"])]
    assert got == ["00002", "00002", "AB7", "123456"]


def test_when_filters_give_a_row_several_contacts_or_none(tmp_path: Path) -> None:
    text = GOOD.replace('name = "visit"', 'name = "visit"\nid = "{cust}:v"') + """
[[records]]
name = "sale"
when = [{ column = "kind", in = ["won", "paid"] }, { present = "sum" }]
id = "{cust}:s"
[records.fields]
customer = "{cust}"
occurred_at = "{at}"
channel = "store"
amount = "{sum}"
[[records]]
name = "quiet"
when = { empty = "kind" }
id = "{cust}:q"
[records.fields]
customer = "{cust}"
occurred_at = "{at}"
channel = "web"
"""
    columns = ["cust", "at", "kind", "sum"]

    def ids(*values: str) -> list[tuple[int, str]]:
        return [(number, row.card["contact_id"])
                for number, row in read(tmp_path, text, columns, ["A", "2018-01-05", *values])]
    assert ids("won", "5") == [(0, "A:v"), (1, "A:s")]
    assert ids("won", "") == [(0, "A:v")]
    assert ids("", "") == [(0, "A:v"), (2, "A:q")]


def test_a_row_refused_by_one_record_is_refused_whole(tmp_path: Path) -> None:
    text = GOOD + """
[[records]]
name = "sale"
[records.fields]
customer = "{cust}"
occurred_at = "{at}"
channel = "store"
amount = "{sum}"
"""
    with pytest.raises(RowRefused) as refused:
        read(tmp_path, text, ["cust", "at", "sum"], ["A", "2018-01-05", "lots"])
    assert (refused.value.field, refused.value.rule) == ("amount", "record 'sale', amount "
                                                         "from {sum}")


def test_a_mappings_follow_up_owner_counts_only_with_a_due_time(tmp_path: Path) -> None:
    fields = 'follow_up_due = "{due}"\nfollow_up_owner = "{rep}"'
    [(_, without)] = read(tmp_path, with_field(fields), ["cust", "at", "due", "rep"],
                          ["A", "2018-01-05", "", "ann"])
    assert without.plan is None
    [(_, planned)] = read(tmp_path, with_field(fields), ["cust", "at", "due", "rep"],
                          ["A", "2018-01-05", "2018-02-01", "ann"])
    assert planned.plan.owner == "ann"


def test_the_plain_contract_is_the_identity_mapping_read_by_column(tmp_path: Path) -> None:
    plain = identity(["customer", "occurred_at", "channel", "contact_id", "line"])
    assert set(plain.columns()) == {"customer", "occurred_at", "channel", "contact_id"}
    reader = RowReader(["customer", "occurred_at", "channel", "contact_id", "line"], plain,
                       SETTINGS)
    assert reader.read == reader._direct  # no computed field: RowParser alone
    [(_, row)] = reader.read(["A", "2018-01-05", "phone", "mine", "7"])
    assert row.card["contact_id"] == "mine"
    assert set(COLUMNS) - {"contact_id"} >= set(identity(list(COLUMNS)).records[0].fields)


def test_an_unknown_channel_in_a_row_is_refused_without_the_whole_vocabulary(
        tmp_path: Path) -> None:
    text = GOOD.replace('channel = "web"', 'channel = "{ch}"')
    with pytest.raises(InvalidInput) as refused:
        read(tmp_path, text, ["cust", "at", "ch"], ["A", "2018-01-05", "nytimes"])
    assert refused.value.reason == "unknown channel"


NUMERIC_FORMATS = ["%d.%m.%Y %H:%M:%S", "%Y%m%d", "%m/%d/%Y %H:%M", "%Y-%m-%dT%H:%M",
                   "%d%m%Y", "%H:%M %d/%m/%Y", "%Y%m%d%H%M%S"]


@settings(max_examples=500, deadline=None)
@given(form=st.sampled_from(NUMERIC_FORMATS), data=st.data())
def test_the_numeric_format_reader_reads_as_strptime_does(form: str, data: st.DataObject
                                                          ) -> None:
    text = data.draw(st.one_of(
        st.text(alphabet="0123456789 .:/-T\t٣", max_size=20),
        st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda d: d.strftime(form)),
        st.datetimes(min_value=datetime(1000, 1, 1)).map(
            lambda d: d.strftime(form).replace("0", "", 1))))
    reader = numeric_format(form)
    assert reader is not None
    try:
        expected: datetime | None = datetime.strptime(text, form)
    except ValueError:
        expected = None
    assert reader(text) == expected


def test_formats_with_other_directives_are_left_to_strptime() -> None:
    assert numeric_format("%d %b %Y") is None
    assert numeric_format("%Y-%m-%d %z") is None
    assert numeric_format("%d.%m.%Y %%") is None
