"""The client's work notices against the sandbox: the call, the result, and DingTalk's own
limits for them (≤ 100 people a call, 5,000 recipients a minute, 20 calls a second)."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk.client import NOTICE_API
from reconciler.dingtalk.ratelimit import CountWindow
from reconciler.errors import TerminalError
from reconciler.sandbox import AGENT_ID, Sandbox
from tests.apply.helpers import make_client


def text(content: str) -> dict[str, object]:
    return {"msgtype": "text", "text": {"content": content}}


@pytest.fixture
def hundred(sb: Sandbox) -> list[str]:
    dept = sb.tenant.add_department("研发中心")
    userids = [f"u{n:03d}" for n in range(100)]
    for n, userid in enumerate(userids):
        sb.tenant.add_user(userid, f"员工{n}", f"+86-1380000{n:04d}", [dept])
    return userids


def test_send_and_read_the_result(sb: Sandbox, clock: FakeClock, hundred: list[str]):
    async def scenario() -> tuple[int, dict[str, object]]:
        async with make_client(sb, clock) as client:
            task_id = await client.send_work_notice(AGENT_ID, [*hundred[:2], "ghost"], text("x"))
            return task_id, await client.notice_result(AGENT_ID, task_id)

    task_id, result = asyncio.run(scenario())
    assert [n.task_id for n in sb.notices()] == [task_id]
    assert result["unread_user_id_list"] == hundred[:2]
    assert result["invalid_user_id_list"] == ["ghost"]


def test_a_wrong_agent_id_is_a_terminal_error_with_a_hint(
    sb: Sandbox, clock: FakeClock, hundred: list[str]
):
    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            await client.send_work_notice(AGENT_ID + 1, hundred[:1], text("x"))

    with pytest.raises(TerminalError) as raised:
        asyncio.run(scenario())
    assert raised.value.errcode == 40056
    assert "agent_id" in raised.value.hint


def test_more_than_100_people_or_none_is_refused_before_sending(sb: Sandbox, clock: FakeClock):
    async def scenario(userids: list[str]) -> None:
        async with make_client(sb, clock) as client:
            await client.send_work_notice(AGENT_ID, userids, text("x"))

    for userids in ([f"u{n}" for n in range(101)], []):
        with pytest.raises(ValueError, match=r"1\.\.100"):
            asyncio.run(scenario(userids))
    assert sb.notices() == []


def test_5000_recipients_a_minute_are_respected_so_nobody_is_dropped(
    sb: Sandbox, clock: FakeClock, hundred: list[str]
):
    """60 notices of 100 people: the first 50 go at the API's 20 a second, the 51st waits
    until the first has left DingTalk's minute; DingTalk then drops nobody (no 143103)."""
    start = clock.monotonic()

    async def scenario() -> list[float]:
        sent_at: list[float] = []
        async with make_client(sb, clock) as client:
            for n in range(60):
                await client.send_work_notice(AGENT_ID, hundred, text(f"第{n}批"))
                sent_at.append(clock.monotonic() - start)
        return sent_at

    sent_at = asyncio.run(scenario())
    assert sent_at[49] < 10  # 50 calls at ≤ 20 a second
    assert sent_at[50] >= 60  # the 51st waited for the minute
    arrivals = [at for at, ok in sb.limiter.arrivals[("orgctl-sandbox", NOTICE_API)] if ok]
    for index in range(len(arrivals) - 50):
        assert arrivals[index + 50] - arrivals[index] > 60, index  # ≤ 5,000 in any minute
    statuses = {status for notice in sb.notices() for _, status, _ in notice.recipients}
    assert statuses == {"unread"}
    assert sb.limiter.peak(NOTICE_API) <= 20


def test_count_window_waits_only_as_long_as_needed(clock: FakeClock):
    window = CountWindow(10, 60.0, clock)

    async def scenario() -> list[float]:
        times = []
        for units in (4, 6, 3, 7, 10):
            await window.acquire(units)
            times.append(clock.monotonic() - 1000.0)
            clock.advance(1)
        return times

    times = asyncio.run(scenario())
    # 4+6 fit at once; 3 waits for the first spend (t=0) to leave the minute (with a 5 %
    # margin); 7 then fits (the t=1 spend has left too); 10 needs the whole minute after both.
    assert times[:2] == [0, 1]
    assert 63 <= times[2] < 64
    assert 64 <= times[3] < 65
    assert times[4] > times[3] + 60
    with pytest.raises(ValueError, match="units"):
        asyncio.run(window.acquire(11))
