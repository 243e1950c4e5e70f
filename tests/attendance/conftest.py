"""Attendance fixtures: a seeded sandbox tenant on a fake clock, and a real client into it.

"Now" is Wednesday 2026-01-07 13:15 in Shanghai: every OnDuty punch of the day has happened
(the latest is 13:00) and no OffDuty one can have (the earliest is 16:00), so a test whose
clock moves a few seconds while the client paces itself still sees the same data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.live.target import sandbox_client
from reconciler.sandbox import ApiError, Sandbox, Tenant
from reconciler.sandbox import attendance as sandbox_attendance
from reconciler.sandbox import core as sandbox_core

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 1, 7, 13, 15, tzinfo=SHANGHAI)
TODAY = NOW.date()

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW.timestamp())


DEPARTMENTS = (
    # key, name, parent key
    ("eng", "研发中心", None),
    ("eng-platform", "平台组", "eng"),
    ("eng-platform-db", "数据库", "eng-platform"),
    ("sales", "销售部", None),
)


def seed(tenant: Tenant, people: int) -> list[str]:
    """Departments above, and ``people`` users spread over them; returns the userids."""
    ids: dict[str, int] = {}
    for key, name, parent in DEPARTMENTS:
        ids[key] = tenant.add_department(name, ids[parent] if parent else 1, source_identifier=key)
    keys = [key for key, _, _ in DEPARTMENTS]
    userids = []
    for i in range(people):
        userid = f"u{i:04d}"
        tenant.add_user(userid, f"员工{i}", f"+86-1380000{i:04d}", [ids[keys[i % len(keys)]]])
        userids.append(userid)
    return userids


@dataclass
class Spy:
    """Records what the sandbox's attendance handlers were asked and answered."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    errcodes: list[tuple[str, int]] = field(default_factory=list)
    fail: Callable[[str, int], ApiError | None] = lambda api, n: None

    def count(self, api: str) -> int:
        return sum(1 for a, _ in self.calls if a == api)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Wrap every attendance route: record each request and its errcode; `spy.fail(api, n)`
    may return an ApiError to answer the n-th call (1-based) of `api` with instead."""
    recorder = Spy()
    for api, handler in list(sandbox_attendance.ROUTES.items()):

        def wrapped(tenant: Tenant, body: dict[str, Any], api: str = api, handler: Any = handler):
            recorder.calls.append((api, body))
            try:
                injected = recorder.fail(api, recorder.count(api))
                if injected is not None:
                    raise injected
                answer: dict[str, Any] = handler(tenant, body)
            except ApiError as error:
                recorder.errcodes.append((api, error.errcode))
                raise
            recorder.errcodes.append((api, int(answer["errcode"])))
            return answer

        # The gateway routes through its own table (built once at import), so patch that one;
        # if routing moves again, fail here rather than spy on nothing.
        assert sandbox_core.ROUTES[api] is handler, f"the gateway does not route {api}"
        monkeypatch.setitem(sandbox_core.ROUTES, api, wrapped)
    return recorder


def make_client(sb: Sandbox, clock: FakeClock, **options: Any) -> DingTalkClient:
    return sandbox_client(sb, clock, **options)
