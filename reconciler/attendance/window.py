"""Dates and time zones for attendance: parse, check and cut a date window. Pure.

DingTalk takes attendance dates as ``yyyy-MM-dd HH:mm:ss`` strings whose time zone is not
documented; we send them in the org's time zone, which is also the zone in
which a punch belongs to a work date. Everything here takes "now" as an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconciler.errors import InputError

RETENTION_DAYS = 180
"""DingTalk keeps attendance for half a year: older results cannot be queried (attendance/list,
attendance/listRecord) and older punches cannot be uploaded (record/upload)."""

MAX_WINDOW_DAYS = 7
"""attendance/list: workDateFrom..workDateTo may cover at most 7 dates, both ends included;
one more and DingTalk answers errcode 41041 "时间跨度太大"."""

DATE_FORMAT = "%Y-%m-%d"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or an InputError a person can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InputError(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)"
        ) from error


def local_today(now: float, tz: dt.tzinfo) -> dt.date:
    """Today's date in ``tz`` at epoch second ``now``."""
    return dt.datetime.fromtimestamp(now, tz).date()


def oldest_date(today: dt.date) -> dt.date:
    """The oldest work date DingTalk still answers for."""
    return today - dt.timedelta(days=RETENTION_DAYS)


def parse_date(text: str, what: str) -> dt.date:
    """A calendar date written ``YYYY-MM-DD``; ``what`` names the flag in the message."""
    try:
        return dt.datetime.strptime(text.strip(), DATE_FORMAT).date()
    except ValueError as error:
        raise InputError(f"{what}: {text!r} is not a date (expected YYYY-MM-DD)") from error


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """Calendar dates ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window ends before it starts: {self.start}..{self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> Iterator[dt.date]:
        for offset in range(self.days):
            yield self.start + dt.timedelta(days=offset)

    def weekdays(self) -> int:
        return sum(1 for day in self.dates() if day.weekday() < 5)

    def split(self, days: int = MAX_WINDOW_DAYS) -> tuple[Window, ...]:
        """Consecutive windows of at most ``days`` dates that cover this one exactly."""
        if days < 1:
            raise ValueError("days must be positive")
        parts: list[Window] = []
        start = self.start
        while start <= self.end:
            end = min(self.end, start + dt.timedelta(days=days - 1))
            parts.append(Window(start, end))
            start = end + dt.timedelta(days=1)
        return tuple(parts)

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


def check_window(start: dt.date, end: dt.date, *, today: dt.date) -> Window:
    """The window to export for ``--from start --to end``, or an InputError.

    A window that runs past today is cut at today (there is no data in the future); the
    caller compares ``end`` with the result to tell the user.
    """
    if end < start:
        raise InputError(f"--from {start} is after --to {end}: the window is in the wrong order")
    if start > today:
        raise InputError(f"--from {start} is in the future (today is {today})")
    oldest = oldest_date(today)
    if start < oldest:
        raise InputError(
            f"--from {start} is older than {RETENTION_DAYS} days: DingTalk keeps attendance "
            f"for {RETENTION_DAYS} days, so the oldest date you can export is {oldest}"
        )
    return Window(start, min(end, today))
