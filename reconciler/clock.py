"""Time, injected: the real clock for the CLI, a fake one for tests (which never sleep).
The system clock is this module's only I/O.

`monotonic()` paces rate limiters and backoff; `now()` is wall time (epoch seconds) for
tokens' expiry, journals and attendance. The fake clock advances only when something sleeps
on it, so a test of a 20 QPS limiter over 1,000 calls runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
import zoneinfo
from datetime import UTC, date, datetime
from typing import Literal, Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def sleep_sync(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def sleep_sync(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to, or when slept on. Records every sleep."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleep_sync(seconds)
        await asyncio.sleep(0)  # still yield, so concurrent tasks interleave as they would

    def sleep_sync(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.advance(seconds)


SYSTEM_CLOCK = SystemClock()


def utc_stamp(epoch: float, timespec: Literal["seconds", "milliseconds"] = "seconds") -> str:
    """Epoch seconds as ISO 8601 UTC with a ``Z``: how journals, lock files and logs say when."""
    when = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec=timespec)
    return when.replace("+00:00", "Z")


def local_date(epoch: float, timezone: str) -> date:
    """The calendar day at ``epoch`` in ``timezone`` (an IANA name): which day it is for the
    org. 23:30 UTC is already the next day in Asia/Shanghai."""
    return datetime.fromtimestamp(epoch, tz=zoneinfo.ZoneInfo(timezone)).date()
