"""read_live against the sandbox tenant: in-process on the fake clock, and over loopback HTTP."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.live.snapshot import Progress, live_user, read_live
from reconciler.model import Org
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox, serve
from tests.live.helpers import seed

LISTSUBID = "topapi/v2/department/listsubid"
GET = "topapi/v2/department/get"
LIST = "topapi/v2/user/list"


@pytest.fixture
def expected(sb: Sandbox) -> Org:
    return seed(sb.tenant, departments=40, users=450)


def read(
    sb: Sandbox,
    clock: FakeClock,
    *,
    base_url: str | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> tuple[Org, DingTalkClient]:
    client = DingTalkClient(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        base_url=base_url or sb.base_url,
        transport=None if base_url else sb.transport(),
        clock=clock,
        rng=random.Random(5),
        **options,
    )

    async def go() -> Org:
        async with client:
            return await read_live(client, progress=progress)

    return asyncio.run(go()), client


def expected_calls(sb: Sandbox) -> dict[str, int]:
    departments = [d for d in sb.tenant.departments() if d["dept_id"] != 1]
    with_members = [d for d in departments if d["owning_member_count"]]
    root_members = len(sb.tenant.member_ids(1))
    pages = sum(-(-d["owning_member_count"] // 100) for d in with_members)
    return {
        "gettoken": 1,
        LISTSUBID: len(departments) + 1,
        GET: len(departments),
        LIST: pages + max(1, -(-root_members // 100)),
    }


def test_the_snapshot_reads_back_exactly_what_was_seeded(
    sb: Sandbox, clock: FakeClock, expected: Org
):
    live, client = read(sb, clock)
    assert live == expected
    # the client's limiter kept every API under the sandbox's 20 QPS: no call was throttled
    # and repeated, and nothing was read twice
    assert client.calls_made == expected_calls(sb)


def test_faults_are_survived_and_change_nothing(sb: Sandbox, clock: FakeClock, expected: Org):
    sb.faults.throttle_rate = 0.05
    sb.faults.error_rate = 0.05
    sb.faults.timeout_rate = 0.05
    live, client = read(sb, clock)
    assert live == expected
    assert sum(client.calls_made.values()) > sum(expected_calls(sb).values())


def test_tokens_expiring_mid_snapshot_are_refreshed(sb: Sandbox, clock: FakeClock, expected: Org):
    expired: list[int] = []

    def expire_once(stream: str, done: int, total: int) -> None:
        if stream == "departments" and done == 10 and not expired:
            sb.expire_tokens()
            expired.append(done)

    live, client = read(sb, clock, progress=expire_once)
    assert expired == [10]
    assert live == expected
    assert client.calls_made["gettoken"] == 2


def test_the_snapshot_works_over_http(sb: Sandbox, clock: FakeClock, expected: Org):
    # Over real sockets the fake clock moves by every API's limiter sleeps while a request is
    # on its way, so the sandbox would stamp arrivals closer than the client sent them. The
    # rate limit is checked in simulated time (tests/dingtalk/test_throttling.py); here, HTTP.
    sb.limiter.qps = 0
    with serve(sb) as server:
        live, client = read(sb, clock, base_url=server.url)
    assert live == expected
    assert client.calls_made == expected_calls(sb)


def test_the_snapshot_keeps_who_has_not_accepted_their_invitation(sb: Sandbox, clock: FakeClock):
    sb.tenant.add_user("joined", "已加入", "+86-13700000001", [1])
    sb.tenant.add_user("invited", "待加入", "+86-13700000002", [1])
    sb.tenant.set_active("invited", False)  # user/create answered 40103
    live, _ = read(sb, clock)
    assert (live.users["joined"].active, live.users["invited"].active) == (True, False)
    assert live.users["invited"].hired_date is None  # DingTalk has no invitation time


def test_flags_and_hire_dates_are_read_from_type_erased_answers():
    item = {"name": "张三", "active": "false", "hired_date": "1597573616828"}
    user = live_user("zs", item)
    assert (user.active, user.hired_date) == (False, 1597573616828)
    assert live_user("zs", {"name": "张三", "active": True}).active is True
    assert live_user("zs", {"name": "张三"}).active is None
