"""Cut an export into API-sized calls and estimate what it will cost, before calling. Pure.

attendance/list takes at most 50 userids and 7 dates per call (errcode 41041 beyond 7), and
returns at most 50 records per page. On a standard-edition org every page counts against the
monthly quota of 5,000 metered calls (errcode 90020 once spent), so the cost is known,
shown and capped before the first call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.attendance.window import MAX_WINDOW_DAYS, Window
from reconciler.model import UserId

MAX_USERS_PER_CALL = 50
"""attendance/list and attendance/listRecord: at most 50 userids per call."""

PAGE_LIMIT = 50
"""attendance/list: ``limit`` is at most 50 records (the doc's curl shows 100; its text, and
007gzs/dingtalk-sdk, say 50)."""

CHECKS_PER_WORKDAY = 2
"""Scheduled check points per person per working day (OnDuty + OffDuty for a 09:00/18:00
shift). attendance/list returns one record per scheduled check point, punched or not."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One attendance/list query: up to 50 people over up to 7 dates, paged by 50 records."""

    userids: tuple[UserId, ...]
    window: Window

    def expected_pages(self) -> int:
        """Pages we expect, assuming a weekday schedule; at least one call is always needed
        to learn that a chunk is empty."""
        records = len(self.userids) * CHECKS_PER_WORKDAY * self.window.weekdays()
        return max(1, math.ceil(records / PAGE_LIMIT))

    def describe(self) -> str:
        people = (
            self.userids[0]
            if len(self.userids) == 1
            else (f"{self.userids[0]}..{self.userids[-1]} ({len(self.userids)} people)")
        )
        return f"{people}, {self.window}"


def batches(
    userids: Sequence[UserId], size: int = MAX_USERS_PER_CALL
) -> tuple[tuple[UserId, ...], ...]:
    """``userids`` sorted, deduplicated and cut into groups of at most ``size``."""
    if size < 1:
        raise ValueError("size must be positive")
    ordered = sorted(set(userids))
    return tuple(tuple(ordered[i : i + size]) for i in range(0, len(ordered), size))


def plan_chunks(
    userids: Sequence[UserId],
    window: Window,
    *,
    users_per_call: int = MAX_USERS_PER_CALL,
    days_per_call: int = MAX_WINDOW_DAYS,
) -> tuple[Chunk, ...]:
    """Every (people × dates) pair exactly once, in chunks the API accepts."""
    if users_per_call > MAX_USERS_PER_CALL or days_per_call > MAX_WINDOW_DAYS:
        raise ValueError("chunks larger than DingTalk accepts")
    return tuple(
        Chunk(group, part)
        for group in batches(userids, users_per_call)
        for part in window.split(days_per_call)
    )


def estimate_calls(chunks: Sequence[Chunk]) -> int:
    """Calls to attendance/list the export is expected to make."""
    return sum(chunk.expected_pages() for chunk in chunks)
