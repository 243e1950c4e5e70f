"""send_punches through the real client: exact accounting when a call fails midway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from reconciler.attendance.upload import Punch, UploadResult, send_punches
from reconciler.clock import FakeClock
from reconciler.sandbox import ApiError, Sandbox
from reconciler.sandbox import attendance_records as att
from tests.attendance.conftest import SHANGHAI, Spy, make_client, run, seed

UPLOAD = "topapi/attendance/record/upload"


def punches(n: int) -> list[Punch]:
    return [
        Punch(i + 2, f"u000{i}", "门禁", "d1", dt.datetime(2026, 1, 6, 8, i, tzinfo=SHANGHAI))
        for i in range(n)
    ]


def send(sb: Sandbox, clock: FakeClock, items: list[Punch]) -> UploadResult:
    async def go() -> UploadResult:
        async with make_client(sb, clock, max_tries=2) as client:
            return await send_punches(client, items)

    return run(go())


def test_all_sent_in_order(sb: Sandbox, clock: FakeClock) -> None:
    seed(sb.tenant, 4)
    result = send(sb, clock, punches(4))
    assert result.complete
    assert [p.line for p in result.sent] == [2, 3, 4, 5]
    assert [w.body["userid"] for w in sb.writes()] == ["u0000", "u0001", "u0002", "u0003"]


def test_a_refused_call_stops_the_upload_and_splits_the_rows(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    seed(sb.tenant, 4)
    spy.fail = lambda api, n: ApiError(60121, "找不到该用户") if n == 3 else None
    result = send(sb, clock, punches(4))
    assert [p.line for p in result.sent] == [2, 3]
    assert result.failed is not None
    assert result.failed.line == 4
    assert [p.line for p in result.unsent] == [5]
    assert not result.outcome_unknown
    assert spy.count(UPLOAD) == 3  # a terminal error is not retried, the rest not attempted
    assert att.uploads_of(sb.tenant, "u0003", dt.date(2026, 1, 6)) == ()


def test_a_timeout_after_sending_is_reported_as_unknown_and_not_retried(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    seed(sb.tenant, 3)
    items = punches(3)

    async def go() -> UploadResult:
        async with make_client(sb, clock, max_tries=2) as client:
            assert (await send_punches(client, items[:1])).complete  # token fetched, too
            sb.faults.timeout_rate = 1.0  # the next call is executed, then its answer lost
            return await send_punches(client, items[1:])

    result = run(go())
    assert result.failed == items[1]
    assert result.outcome_unknown
    assert result.unsent == (items[2],)
    # It was in fact recorded, exactly once: a write whose outcome is unknown is never resent.
    assert spy.count(UPLOAD) == 2
    assert len(att.uploads_of(sb.tenant, "u0001", dt.date(2026, 1, 6))) == 1


def test_success_false_is_a_failure_not_a_sent_punch() -> None:
    """errcode 0 with success false: DingTalk did not record it, so the upload stops there."""
    answers: list[dict[str, Any]] = [
        {"errcode": 0, "success": True},
        {"errcode": 0, "success": False},
    ]
    asked: list[str] = []

    class Caller:
        async def call(
            self, api: str, body: Mapping[str, Any], *, write: bool = False
        ) -> dict[str, Any]:
            asked.append(str(body["userid"]))
            return answers[len(asked) - 1]

    result = run(send_punches(Caller(), punches(3)))
    assert [p.line for p in result.sent] == [2]
    assert result.failed is not None
    assert result.failed.line == 3
    assert [p.line for p in result.unsent] == [4]
    assert result.error is not None
    assert "success is false" in str(result.error)
    assert not result.outcome_unknown
    assert asked == ["u0000", "u0001"]
