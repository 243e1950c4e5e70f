"""An attendance export from start to finish: who, which dates, what it costs, then read.
I/O: attendance reads through the injected `Caller` (the client's ``call``).

`plan_export` is pure and runs before any attendance call: it resolves the people, cuts the
window into chunks and estimates the calls, so the CLI can show the cost and refuse a budget
(``--max-calls``) up front. `run_export` reads and turns records into rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.attendance.chunks import Chunk, estimate_calls, plan_chunks
from reconciler.attendance.fetch import (
    DEFAULT_CONCURRENCY,
    Caller,
    FetchResult,
    Progress,
    fetch_results,
)
from reconciler.attendance.people import select_people
from reconciler.attendance.records import AttendanceRow, to_rows
from reconciler.attendance.window import Window
from reconciler.errors import InputError
from reconciler.model import DeptKey, Org, UserId


@dataclass(frozen=True, slots=True)
class ExportPlan:
    userids: tuple[UserId, ...]
    window: Window
    chunks: tuple[Chunk, ...]

    @property
    def estimated_calls(self) -> int:
        return estimate_calls(self.chunks)

    def describe(self) -> str:
        people = "person" if len(self.userids) == 1 else "people"
        days = "date" if self.window.days == 1 else "dates"
        calls = "call" if self.estimated_calls == 1 else "calls"
        return (
            f"{len(self.userids)} {people} × {self.window.days} {days} ({self.window}) → "
            f"{len(self.chunks)} chunks, about {self.estimated_calls} attendance/list {calls}"
        )


def plan_export(
    org: Org,
    window: Window,
    *,
    departments: Sequence[DeptKey] = (),
    users: Sequence[UserId] = (),
    max_calls: int | None = None,
) -> ExportPlan:
    """The export's people, chunks and cost; InputError for unknown selectors or a budget
    the estimate already exceeds (nothing has been called yet)."""
    if max_calls is not None and max_calls < 1:
        raise InputError(f"--max-calls {max_calls}: must be at least 1")
    userids = select_people(org, departments, users)
    plan = ExportPlan(userids, window, plan_chunks(userids, window))
    if max_calls is not None and plan.estimated_calls > max_calls:
        raise InputError(
            f"this export needs about {plan.estimated_calls} attendance/list calls, more than "
            f"--max-calls {max_calls}: narrow the window or the people, or raise --max-calls "
            "(nothing was called)"
        )
    return plan


@dataclass(frozen=True, slots=True)
class Export:
    plan: ExportPlan
    rows: tuple[AttendanceRow, ...]
    fetch: FetchResult

    @property
    def complete(self) -> bool:
        return self.fetch.complete


async def run_export(
    caller: Caller,
    org: Org,
    plan: ExportPlan,
    tz: dt.tzinfo,
    *,
    max_calls: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[Progress], None] | None = None,
) -> Export:
    result = await fetch_results(
        caller, plan.chunks, max_calls=max_calls, concurrency=concurrency, on_progress=on_progress
    )
    return Export(plan, to_rows(result.records, org, tz), result)
