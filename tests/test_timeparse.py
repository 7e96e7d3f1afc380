"""timeparse: every timestamp form the evidence carries becomes UTC, anything else None (never an error)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamforensics.schema import TS
from iamforensics.timeparse import parse_time, parse_time_column


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T09:00:00Z", utc(2024, 5, 1, 9)),
        ("2024-05-01t09:00:00z", utc(2024, 5, 1, 9)),
        ("2024-05-01T09:00:00.5Z", utc(2024, 5, 1, 9, 0, 0, 500000)),
        ("2024-05-01T09:00:00,250Z", utc(2024, 5, 1, 9, 0, 0, 250000)),
        ("2024-05-01 00:00:00.000000000", utc(2024, 5, 1)),  # Panther nanoseconds
        ("2024-05-01 00:00:00.000", utc(2024, 5, 1)),  # Lake
        ("2024-05-01T09:00:00 UTC", utc(2024, 5, 1, 9)),
        ("2022-02-08 09:23:37+11:00", utc(2022, 2, 7, 22, 23, 37)),  # plaso lookup-events, local zone
        ("2024-01-10T15:07:19+05:30", utc(2024, 1, 10, 9, 37, 19)),
        ("2024-05-01T01:00:00-0300", utc(2024, 5, 1, 4)),
        ("2024-12-31T23:30:00-01:00", utc(2025, 1, 1, 0, 30)),  # crosses a year
        ("20131102T010628Z", utc(2013, 11, 2, 1, 6, 28)),  # ISO basic
        ("2021-02-21T23: 46: 28Z", utc(2021, 2, 21, 23, 46, 28)),  # AWS docs typo
        ("  2024-05-01T09:00:00Z \n", utc(2024, 5, 1, 9)),
        ("1424476529", utc(2015, 2, 20, 23, 55, 29)),
        ("1424476529.0", utc(2015, 2, 20, 23, 55, 29)),
        ("1424476529500", utc(2015, 2, 20, 23, 55, 29, 500000)),  # milliseconds
        ("Oct 2, 2019, 11:12:29 PM", utc(2019, 10, 2, 23, 12, 29)),  # STS expiration, comma
        ("Oct 2, 2019 11:12:29 PM", utc(2019, 10, 2, 23, 12, 29)),  # without
        ("Jul 30, 2021 12:56:03 AM", utc(2021, 7, 30, 0, 56, 3)),
        ("Jan 1, 2019 12:00:00 PM", utc(2019, 1, 1, 12)),
        ("2024-05-01", utc(2024, 5, 1)),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "redacted",
        "...",
        "<eventTime>",
        "2024-02-30T00:00:00Z",  # no such day
        "2024-05-01T25:00:00Z",
        "Foo 2, 2019, 11:12:29 PM",
        "Jan 01, 2019 0:00:00 PM",  # Panther's hour 0 PM: hour % 12 makes it noon, still a time
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "99999999999999999999",
        "-99999999999",
    ],
)
def test_not_a_time_is_none(text):
    got = parse_time(text)
    if text == "Jan 01, 2019 0:00:00 PM":
        assert got == utc(2019, 1, 1, 12)
    else:
        assert got is None


def test_column_mixes_fast_and_slow_forms_in_place():
    values = ["2024-05-01T09:00:00Z", None, "2022-02-08 09:23:37+11:00", "bad", "2024-05-01T09:00:01Z", ""]
    arr = parse_time_column(values)
    assert arr.type == TS
    assert arr.to_pylist() == [
        utc(2024, 5, 1, 9),
        None,
        utc(2022, 2, 7, 22, 23, 37),
        None,
        utc(2024, 5, 1, 9, 0, 1),
        None,
    ]


def test_column_of_nothing():
    assert parse_time_column([]).equals(pa.array([], type=TS))
    assert parse_time_column([None, None]).null_count == 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_time_never_raises(text):
    got = parse_time(text)
    assert got is None or got.tzinfo is dt.UTC


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_iso_round_trip(value):
    value = value.replace(tzinfo=dt.UTC)
    for text in (
        value.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        value.strftime("%Y-%m-%d %H:%M:%S.%f"),
        value.isoformat(),
    ):
        assert parse_time(text) == value
    assert parse_time(value.strftime("%Y-%m-%dT%H:%M:%SZ")) == value.replace(microsecond=0)
    assert parse_time_column([value.strftime("%Y-%m-%dT%H:%M:%SZ")]).to_pylist() == [
        value.replace(microsecond=0)
    ]
