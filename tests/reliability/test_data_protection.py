"""Data protection: owner-only database files, passwords never shown, personal fields named."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import pytest

from touchlog.domain.customer import Customer

if TYPE_CHECKING:
    from tests.conftest import PasswordDB

SECRET = "S3cr3t/pa55:w@rd"  # "/", ":" and "@" would break a naive parser
ENCODED = "S3cr3t%2Fpa55%3Aw%40rd"


def test_every_sqlite_file_is_created_readable_by_its_owner_only(
        tmp_path: Path, touchlog: Any, figures: Counter[str]) -> None:
    data = tmp_path / "in.csv"
    data.write_text("customer,occurred_at,channel,summary\nACME,2018-01-05,phone,private\n")
    reporting = tmp_path / "reports.db"
    runs = {
        "log.db": [["contact", "log", "A", "--channel", "phone", "--at", "2018-01-05"]],
        "import.db": [["import", str(data)]],
        "demo.db": [["demo"]],
        "events.db": [["contact", "log", "A", "--channel", "phone", "--at", "2018-01-05"],
                      ["projections", "run"]],
    }
    for name, commands in runs.items():
        env = {"TOUCHLOG_REPORTING_DB": str(reporting)} if name == "events.db" else {}
        for args in commands:  # umask 0 would leave a plainly created file world-writable
            result = touchlog("--db", str(tmp_path / name), *args, env=env, umask=0,
                              cwd=tmp_path)
            assert result.returncode == 0, result.stderr
    created = [p for p in tmp_path.iterdir() if p.suffix == ".db" or ".db-" in p.name]
    assert {p.name for p in created} >= {*runs, "reports.db"}
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    figures["data protection: database files checked 0600"] += len(created)


def leaks(text: str) -> bool:
    return any(form in text for form in (SECRET, ENCODED, "pa55"))


@pytest.mark.postgres
def test_a_postgres_password_never_appears_in_output_or_errors(
        pg_db_url: str, touchlog: Any, figures: Counter[str],
        clear_error: Callable[..., None]) -> None:
    parts = urlsplit(pg_db_url)  # the test server trusts local connections: any password works
    good = f"postgresql://postgres:{ENCODED}@{parts.hostname}:{parts.port}{parts.path}"
    host = f"{parts.hostname}:{parts.port}"
    bad_urls = [
        f"postgresql://postgres:{ENCODED}@127.0.0.1:1/touchlog",  # nothing listens
        f"postgresql://postgres:{ENCODED}@no-such-host.invalid:5432/touchlog",
        f"postgresql://postgres:{ENCODED}@{host}/no_such_database",
        f"postgresql://nobody_here:{ENCODED}@{host}{parts.path}",
        f"postgresql://postgres:{ENCODED}@{parts.hostname}:port/touchlog",
        f"postgresql://postgres:{SECRET}@{host}{parts.path}",  # unescaped: malformed
        f"postgresql://postgres:{ENCODED}@[::1/touchlog",
        f"postgresql+psycopg://postgres:{ENCODED}@{host}/no_such_database?sslmode=bogus",
    ]
    runs = [(good, ["contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05"], {}),
            (good, ["projections", "status"], {}), (good, ["timeline", "ACME"], {}),
            (good, ["customer", "show", "NOBODY"], {}), (good, ["verify"], {})]
    runs += [(url, ["timeline", "ACME"], {}) for url in bad_urls]
    runs += [(good, ["archive"], {"TOUCHLOG_REPORTING_DB": url}) for url in bad_urls[:4]]
    for url, args, env in runs:
        result = touchlog("--db", url, *args, env=env)
        output = result.stdout + result.stderr
        assert not leaks(output), (url, args, output)
        if result.returncode != 0:
            clear_error(result)
            if url != good or env:
                assert "***" in result.stderr or "postgres:" not in result.stderr, output
        figures["data protection: runs with a password, none shown"] += 1


@pytest.mark.postgres
def test_a_password_in_the_url_is_used_wherever_it_is_given_and_never_shown(
        pg_password_db: PasswordDB, touchlog: Any, figures: Counter[str],
        clear_error: Callable[..., None]) -> None:
    password, base = pg_password_db.password, pg_password_db.url
    user, host = base.split("://", 1)[1].split("@", 1)
    in_query = f"{base}?password={quote(password, safe='')}"  # libpq's own form
    in_userinfo = f"postgresql://{user}:{quote(password, safe='')}@{host}"
    wrong = f"{base}?sslmode=disable&password={quote(password[::-1], safe='')}"
    secrets = (password, quote(password, safe=""), password[::-1],
               quote(password[::-1], safe=""), "pa55")

    def shown(output: str) -> bool:
        return any(secret in output for secret in secrets)

    works = [(url, args, {}) for url in (in_query, in_userinfo) for args in (
        ["contact", "log", "ACME", "--channel", "phone", "--at", "2018-01-05"],
        ["projections", "status"], ["timeline", "ACME"], ["archive"], ["verify"],
        ["verify", "--projections"], ["projections", "rebuild"],
        ["demo", "--customers", "2", "--force"])]  # --force: the same database each time
    works.append((in_userinfo, ["archive"], {"TOUCHLOG_REPORTING_DB": in_query}))
    for url, args, env in works:
        result = touchlog("--db", url, *args, env=env)
        assert result.returncode == 0, (url, args, result.stderr)
        assert not shown(result.stdout + result.stderr)
        figures["data protection: runs with a password, none shown"] += 1
    refused = [(wrong, ["timeline", "ACME"], {}), (wrong, ["contact", "log", "ACME",
               "--channel", "phone", "--at", "2018-01-05"], {}),
               (in_query, ["archive"], {"TOUCHLOG_REPORTING_DB": wrong})]
    for url, args, env in refused:
        result = touchlog("--db", url, *args, env=env)
        clear_error(result, "password=***")
        assert not shown(result.stdout + result.stderr), result.stderr
        figures["data protection: runs with a password, none shown"] += 1


def _fields(event_class: type) -> list[str]:
    names = [f.name for f in dataclasses.fields(event_class)]  # type: ignore[arg-type]
    return [n for n in names if n not in BOOKKEEPING]


BOOKKEEPING = {"originator_id", "originator_version", "timestamp", "originator_topic", "link"}
# Every field that is not personal data says why; anything else must be in personal_fields.
NOT_PERSONAL = {
    "reference": "the customer number; docs/events.md: not personal data",
    "into": "a customer number (a merge's)", "merged": "a customer number (a merge's)",
    "contact_id": "an id", "follow_up_id": "an id", "at": "an instant",
    "occurred_at": "an instant", "due_at": "an instant", "scheduled_at": "an instant",
    "channel": "a configured name",
    "initiated_by": "a choice", "outcome": "a choice", "rating": "a number 1-5",
    "amount": "a number", "stage_signal": "a stage", "from_stage": "a stage",
    "reason_category": "a configured name",
    "to_stage": "a stage", "cycle": "a number", "deliberate": "a flag", "hard": "a flag",
    "active": "a flag", "purchase": "a flag",
    "attributes": "declared values; those declared personal are found by "
                  "domain/personal.py's personal_paths, from the settings",
    "actor": "a staff member of the company, not the customer's data",
    "owner": "a staff member of the company, not the customer's data",
    "source": "an import's id and a line number",
    "by": "a staff member of the company, not the customer's data",
    "basis": "a legal basis's name (gdpr-17)", "request": "the erasure request's id",
    "events": "a number", "epoch": "a number",
}
# Free text inside the ``changes`` objects, by the fields they may change.
CHANGES = {
    "ProfileUpdated": {"name": True, "email": True, "phone": True, "owner": False},
    "ContactAmended": {"purpose": True, "summary": True, "place": True, "actor": False},
}


def event_classes() -> list[type]:
    return [c for c in vars(Customer).values()
            if isinstance(c, type) and issubclass(c, Customer.Event) and c is not Customer.Event]


def test_every_free_text_field_of_every_event_is_declared_personal(
        figures: Counter[str]) -> None:
    classes = event_classes()  # the 16 of docs/events.md and the library's unused Created
    assert len(classes) == 17
    checked = 0
    for event_class in classes:
        declared = set(event_class.personal_fields)  # type: ignore[attr-defined]
        for field in _fields(event_class):
            checked += 1
            if field == "changes":
                nested = CHANGES[event_class.__name__]
                assert {f"changes.{k}" for k, personal in nested.items() if personal} <= declared
                continue
            if field not in NOT_PERSONAL:  # the field, or its parts (person.name)
                assert field in declared or any(d.startswith(f"{field}.") for d in declared), \
                    f"{event_class.__name__}.{field} holds free text " \
                    "but is not in personal_fields"
        fields = set(_fields(event_class))
        for name in declared:  # and nothing declared that the event does not have
            assert name.split(".")[0] in fields, f"{event_class.__name__}: {name}"
    figures["data protection: event fields classified"] = checked


def test_the_documentation_lists_the_same_personal_fields_as_the_code() -> None:
    table = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    for event_class in event_classes():
        if event_class.__name__ == "Created":
            assert not _fields(event_class)  # nothing but bookkeeping: no row in the table
            continue
        row = next(line for line in table.splitlines()
                   if line.startswith(f"| `{event_class.__name__}` |"))
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        documented = {f.strip() for f in cells[2].split(",") if f.strip()}
        declared = set(event_class.personal_fields)  # type: ignore[attr-defined]
        assert documented == declared, event_class.__name__


if os.name != "posix":  # pragma: no cover - the permission checks need POSIX modes
    pytestmark = pytest.mark.skip("POSIX file modes")
