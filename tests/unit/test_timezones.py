"""Time-zone names (SPEC §3): IANA keys from the bundled tzdata, close matches suggested."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import pytest

from app.domain.timezones import load_zone, zone_names
from app.errors import UnknownTimezone


@pytest.mark.parametrize(
    "name",
    [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America/Argentina/Buenos_Aires",  # three levels
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "Australia/Lord_Howe",
        "Etc/GMT-5",
        "Etc/UTC",
        "US/Eastern",  # a backward-compatible link: still an IANA key
        "GMT",
        "EST5EDT",
    ],
)
def test_valid_names_load(name: str) -> None:
    zone = load_zone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name
    assert str(zone) == name
    assert load_zone(name) is zone  # cached


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("America/Chicgo", "unknown time zone 'America/Chicgo': did you mean 'America/Chicago'?"),
        ("america/new_york", "did you mean 'America/New_York'?"),
        ("EUROPE/BERLIN", "did you mean 'Europe/Berlin'?"),
        ("Europe/Berln", "did you mean 'Europe/Berlin'?"),
        ("utc", "did you mean 'UTC'?"),
        (" UTC", "did you mean 'UTC'?"),  # surrounding spaces are rejected, not stripped
        ("Europe/Berlin ", "did you mean 'Europe/Berlin'?"),
        ("America/New York", "did you mean 'America/New_York'?"),
        ("UTC+5", "a UTC offset is not a time zone"),
        ("UTC+5", "'Etc/GMT-5' for a fixed UTC+05:00"),  # POSIX signs are inverted
        ("GMT-3", "'Etc/GMT+3' for a fixed UTC-03:00"),
        ("+05:00", "a UTC offset is not a time zone"),
        ("+05:30", "a UTC offset is not a time zone; use a place name"),
        ("-0800", "'Etc/GMT+8'"),
        ("UTC+0", "or 'UTC'"),
        ("localtime", "unknown time zone 'localtime'"),
        ("posixrules", "unknown time zone 'posixrules'"),
        ("posix/Europe/Berlin", "unknown time zone 'posix/Europe/Berlin'"),
        ("right/UTC", "unknown time zone 'right/UTC'"),
        ("Factory", "unknown time zone 'Factory'"),
        ("/etc/localtime", "unknown time zone '/etc/localtime'"),
        ("/usr/share/zoneinfo/UTC", "unknown time zone"),
        ("../../etc/passwd", "unknown time zone"),
        ("Europe/../UTC", "unknown time zone"),
        ("Mars/Olympus_Mons", "use an IANA name such as"),
        ("", "time zone is empty"),
        ("   ", "time zone is empty"),
        ("Europe/Berlin\x00", "unknown time zone"),
        ("x" * 500, "unknown time zone 'xxxx"),
    ],
)
def test_invalid_names_are_rejected_with_advice(name: str, fragment: str) -> None:
    with pytest.raises(UnknownTimezone) as caught:
        load_zone(name)
    assert fragment in str(caught.value)
    assert caught.value.field == "timezone"


def test_long_names_are_shortened_in_the_message() -> None:
    with pytest.raises(UnknownTimezone) as caught:
        load_zone("x" * 500)
    assert len(str(caught.value)) < 200


def test_non_string_is_rejected() -> None:
    with pytest.raises(UnknownTimezone, match="must be a string"):
        load_zone(5)  # type: ignore[arg-type]


def test_zone_names_are_sorted_valid_and_complete() -> None:
    names = zone_names()
    assert names == sorted(names)
    assert len(names) == len(set(names)) > 400
    for name in ("UTC", "Europe/Berlin", "Pacific/Apia", "Asia/Kathmandu"):
        assert name in names
    for name in ("Factory", "localtime", "posixrules"):
        assert name not in names
    assert not [n for n in names if n.startswith(("posix/", "right/", "/"))]
    names.append("mutating the answer does not change the cache")
    assert "mutating the answer does not change the cache" not in zone_names()


def test_every_listed_name_loads() -> None:
    for name in zone_names():
        assert load_zone(name).key == name


def test_zones_come_from_the_bundled_tzdata() -> None:
    # Cuba stays on daylight time through the 2026 winter in tzdata 2026 (older system copies
    # say otherwise): the bundled data decides, whatever the operating system ships.
    version = resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi")
    assert version.is_file()
    havana = load_zone("America/Havana")
    winter = datetime(2026, 12, 15, 12, tzinfo=UTC).astimezone(havana)
    assert winter.utcoffset() == timedelta(hours=-4)


def test_zones_pickle_and_copy_by_key() -> None:
    zone = load_zone("Europe/Berlin")
    assert pickle.loads(pickle.dumps(zone)) is zone
    assert copy.deepcopy(zone) is zone
    assert copy.copy(zone) is zone
