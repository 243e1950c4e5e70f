"""Attendance date windows: parsing, time zones, the 180-day limit, cutting."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.attendance.window import (
    MAX_WINDOW_DAYS,
    Window,
    check_window,
    local_today,
    parse_date,
    zone,
)
from reconciler.errors import InputError

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 1, 1)


@pytest.mark.parametrize("text", ["2026-13-01", "2026/01/01", "", "yesterday", "2026-02-30"])
def test_malformed_dates_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="--from"):
        parse_date(text, "--from")


def test_dates_parse() -> None:
    assert parse_date(" 2026-01-05 ", "--from") == dt.date(2026, 1, 5)


def test_window_in_the_wrong_order_is_refused() -> None:
    with pytest.raises(InputError, match="wrong order"):
        check_window(dt.date(2025, 12, 20), dt.date(2025, 12, 10), today=TODAY)


def test_the_oldest_kept_date_is_accepted_and_the_day_before_is_not() -> None:
    oldest = TODAY - dt.timedelta(days=180)
    assert check_window(oldest, oldest, today=TODAY) == Window(oldest, oldest)
    with pytest.raises(InputError, match="180 days"):
        check_window(oldest - dt.timedelta(days=1), TODAY, today=TODAY)


def test_a_window_starting_in_the_future_is_refused() -> None:
    with pytest.raises(InputError, match="future"):
        check_window(dt.date(2026, 1, 2), dt.date(2026, 1, 3), today=TODAY)


def test_a_window_running_past_today_stops_today() -> None:
    assert check_window(dt.date(2025, 12, 30), dt.date(2026, 1, 9), today=TODAY) == Window(
        dt.date(2025, 12, 30), TODAY
    )


def test_today_is_the_org_time_zones_today() -> None:
    # 2025-12-31 16:30 UTC is already 2026-01-01 00:30 in Shanghai.
    now = dt.datetime(2025, 12, 31, 16, 30, tzinfo=dt.UTC).timestamp()
    assert local_today(now, SHANGHAI) == dt.date(2026, 1, 1)
    assert local_today(now, dt.UTC) == dt.date(2025, 12, 31)


def test_unknown_time_zone_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Mars/Olympus"):
        zone("Mars/Olympus")
    assert zone("Asia/Shanghai") == SHANGHAI


@pytest.mark.parametrize(
    ("days", "parts"),
    [(1, [1]), (7, [7]), (8, [7, 1]), (14, [7, 7]), (15, [7, 7, 1]), (31, [7, 7, 7, 7, 3])],
)
def test_split_cuts_at_exactly_seven_dates(days: int, parts: list[int]) -> None:
    start = dt.date(2025, 12, 1)
    window = Window(start, start + dt.timedelta(days=days - 1))
    split = window.split()
    assert [p.days for p in split] == parts
    assert split[0].start == window.start
    assert split[-1].end == window.end


@given(
    start=st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 1, 1)),
    days=st.integers(min_value=1, max_value=200),
    size=st.integers(min_value=1, max_value=MAX_WINDOW_DAYS),
)
def test_split_covers_every_date_exactly_once(start: dt.date, days: int, size: int) -> None:
    window = Window(start, start + dt.timedelta(days=days - 1))
    covered = [d for part in window.split(size) for d in part.dates()]
    assert covered == list(window.dates())
    assert all(1 <= part.days <= size for part in window.split(size))


def test_weekdays_counts_monday_to_friday() -> None:
    # 2025-12-29 is a Monday.
    assert Window(dt.date(2025, 12, 29), dt.date(2026, 1, 4)).weekdays() == 5
    assert Window(dt.date(2026, 1, 3), dt.date(2026, 1, 4)).weekdays() == 0
