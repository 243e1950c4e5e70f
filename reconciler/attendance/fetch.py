"""Read attendance/list for a set of chunks: concurrently, paged, within a call budget.
I/O: attendance/list calls through the injected `Caller`.

The client paces each API (20 QPS, errcode 90018) and retries throttles; this module decides
what to ask and when to stop. It stops cleanly — finishing no new page, starting no new chunk
— when the monthly quota is spent (errcode 90020), when the call budget (``--max-calls``)
would be exceeded, or on any other DingTalk error, and says which chunks were read and which
were not. Records of a chunk count only once the chunk is read to its last page: half a chunk
is never presented as data.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.attendance.chunks import PAGE_LIMIT, Chunk, estimate_calls
from reconciler.errors import DingTalkError, OrgctlError, QuotaExhaustedError

LIST_API = "attendance/list"
DEFAULT_CONCURRENCY = 8
"""Chunks read at once. The client's per-API limiter (20 QPS) is what paces them; this only
bounds how many pages wait in its queue."""


class Caller(Protocol):
    """What we need from reconciler.dingtalk.DingTalkClient."""

    async def call(
        self, api: str, body: Mapping[str, Any], *, write: bool = False
    ) -> dict[str, Any]: ...


class Stop(enum.Enum):
    COMPLETE = "complete"
    QUOTA = "quota"  # errcode 90020
    BUDGET = "budget"  # --max-calls reached
    ERROR = "error"  # any other DingTalk error


@dataclass(frozen=True, slots=True)
class Progress:
    calls: int
    estimated: int
    chunks_done: int
    chunks_total: int
    records: int


@dataclass(frozen=True, slots=True)
class FetchResult:
    records: tuple[dict[str, Any], ...]  # from fully read chunks only
    done: tuple[Chunk, ...]
    missing: tuple[Chunk, ...]  # not read, or not read to the end
    calls: int
    estimated: int
    stop: Stop
    error: OrgctlError | None = None

    @property
    def complete(self) -> bool:
        return self.stop is Stop.COMPLETE


class _BudgetExceeded(Exception):
    """Internal: the next call would go past --max-calls."""


@dataclass(slots=True)
class _Run:
    caller: Caller
    max_calls: int | None
    estimated: int
    total: int
    on_progress: Callable[[Progress], None] | None
    calls: int = 0
    stop: Stop = Stop.COMPLETE
    error: OrgctlError | None = None
    records: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    record_count: int = 0  # kept, not summed: progress is reported after every page

    @property
    def stopping(self) -> bool:
        return self.stop is not Stop.COMPLETE

    def report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    calls=self.calls,
                    estimated=self.estimated,
                    chunks_done=len(self.records),
                    chunks_total=self.total,
                    records=self.record_count,
                )
            )

    async def page(self, chunk: Chunk, offset: int) -> dict[str, Any]:
        if self.max_calls is not None and self.calls >= self.max_calls:
            raise _BudgetExceeded
        self.calls += 1  # counted before awaiting, so concurrent chunks share one budget
        body = {
            # The time part is ignored by attendance/list: whole days are returned.
            "workDateFrom": f"{chunk.window.start} 00:00:00",
            "workDateTo": f"{chunk.window.end} 00:00:00",
            "userIdList": list(chunk.userids),
            "offset": offset,
            "limit": PAGE_LIMIT,
        }
        response = await self.caller.call(LIST_API, body)
        self.report()
        return response

    async def read(self, index: int, chunk: Chunk) -> None:
        records: list[dict[str, Any]] = []
        seen: set[Any] = set()
        offset = 0
        while not self.stopping:
            try:
                response = await self.page(chunk, offset)
            except _BudgetExceeded:
                self.halt(Stop.BUDGET, None)
                return
            except QuotaExhaustedError as error:
                self.halt(Stop.QUOTA, error)
                return
            except DingTalkError as error:
                self.halt(Stop.ERROR, error)
                return
            page = response.get("recordresult") or []
            if not isinstance(page, list):
                raise TypeError(f"{LIST_API}: recordresult is not a list")
            for record in page:
                # Offset paging over live data can repeat a record when new ones arrive
                # between pages; the id identifies a check point.
                key = record.get("id")
                if key is None or key not in seen:
                    seen.add(key)
                    records.append(record)
            # Follow hasMore; an empty page ends the chunk too, so a server that keeps saying
            # hasMore can never loop us forever. Advance by what came back, not by limit, so
            # a server that pages shorter than asked skips nothing.
            if not response.get("hasMore") or not page:
                self.records[index] = records
                self.record_count += len(records)
                self.report()
                return
            offset += len(page)

    def halt(self, stop: Stop, error: OrgctlError | None) -> None:
        if not self.stopping:  # the first reason wins; later ones are its echoes
            self.stop = stop
            self.error = error


async def fetch_results(
    caller: Caller,
    chunks: Sequence[Chunk],
    *,
    max_calls: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[Progress], None] | None = None,
) -> FetchResult:
    """Read every chunk; see the module docstring for when and how it stops early."""
    if concurrency < 1:
        raise ValueError("concurrency must be positive")
    run = _Run(
        caller=caller,
        max_calls=max_calls,
        estimated=estimate_calls(chunks),
        total=len(chunks),
        on_progress=on_progress,
    )
    queue: asyncio.Queue[tuple[int, Chunk]] = asyncio.Queue()
    for item in enumerate(chunks):
        queue.put_nowait(item)

    async def worker() -> None:
        while not run.stopping:
            try:
                index, chunk = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await run.read(index, chunk)

    run.report()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(chunks))):
            group.create_task(worker())

    done = tuple(chunk for i, chunk in enumerate(chunks) if i in run.records)
    missing = tuple(chunk for i, chunk in enumerate(chunks) if i not in run.records)
    return FetchResult(
        records=tuple(r for i in sorted(run.records) for r in run.records[i]),
        done=done,
        missing=missing,
        calls=run.calls,
        estimated=run.estimated,
        stop=run.stop,
        error=run.error,
    )
