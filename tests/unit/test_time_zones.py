"""Times without an offset read in a time zone: daylight-saving time included, a time the
clocks skipped refused, a time they went through twice read as the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from touchlog.domain.errors import InvalidInput
from touchlog.domain.settings import Settings
from touchlog.domain.values import instant_text, time_zone

NEW_YORK = time_zone("America/New_York", "tz")


@pytest.mark.parametrize(("given", "stored"), [
    ("2018-03-10T09:30", "2018-03-10T14:30:00+00:00"),  # EST, UTC-5
    ("2018-03-11 03:30:00", "2018-03-11T07:30:00+00:00"),  # EDT from 02:00, UTC-4
    ("2018-11-04T01:30", "2018-11-04T05:30:00+00:00"),  # twice that night: the first, EDT
    ("2018-11-04T02:30", "2018-11-04T07:30:00+00:00"),  # EST again
    ("2018-07-01", "2018-07-01T04:00:00+00:00"),  # a date is midnight there
    ("2018-07-01T10:00+02:00", "2018-07-01T08:00:00+00:00"),  # an offset wins
    ("2018-07-01T10:00Z", "2018-07-01T10:00:00+00:00"),
])
def test_a_wall_clock_time_is_stored_in_utc(given: str, stored: str) -> None:
    assert instant_text(given, "occurred_at", NEW_YORK) == stored


def test_a_time_the_clocks_skipped_does_not_exist_and_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not exist in America/New_York"):
        instant_text("2018-03-11T02:30", "occurred_at", NEW_YORK)


def test_without_a_zone_times_are_utc_as_before() -> None:
    assert instant_text("2018-03-11T02:30:00", "occurred_at") == "2018-03-11T02:30:00+00:00"


def test_touchlog_toml_names_the_import_time_zone_and_a_bad_one_is_refused(
        tmp_path: Path) -> None:
    config = tmp_path / "touchlog.toml"
    config.write_text('[import]\ntimezone = "Asia/Shanghai"\n')
    assert Settings.load(config=config).import_timezone == "Asia/Shanghai"
    config.write_text('[import]\ntimezone = "Asia/Atlantis"\n')
    with pytest.raises(InvalidInput, match="import.timezone.*unknown time zone"):
        Settings.load(config=config)
    config.write_text('[import]\nzone = "UTC"\n')
    with pytest.raises(InvalidInput, match="unknown setting"):
        Settings.load(config=config)
