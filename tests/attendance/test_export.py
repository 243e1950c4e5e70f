"""Exports through the real client into the sandbox, compared with its generator directly."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from reconciler.attendance.chunks import Chunk, plan_chunks
from reconciler.attendance.export import Export, ExportPlan, plan_export, run_export
from reconciler.attendance.fetch import FetchResult, Progress, Stop, fetch_results
from reconciler.attendance.records import to_rows
from reconciler.attendance.window import Window
from reconciler.clock import FakeClock
from reconciler.errors import InputError, QuotaExhaustedError
from reconciler.live.snapshot import read_live
from reconciler.model import Org
from reconciler.sandbox import ApiError, Sandbox
from reconciler.sandbox import attendance_records as att
from tests.attendance.conftest import SHANGHAI, TODAY, Spy, make_client, run, seed

LIST = "attendance/list"


def window(first: dt.date, last: dt.date) -> Window:
    return Window(first, last)


def brute_force(sb: Sandbox, users: list[str] | tuple[str, ...], w: Window) -> list[dict[str, Any]]:
    return [r for u in users for d in w.dates() for r in att.day_results(sb.tenant, u, d)]


async def live(sb: Sandbox, clock: FakeClock) -> Org:
    async with make_client(sb, clock) as client:
        return await read_live(client)


def export(
    sb: Sandbox, clock: FakeClock, w: Window, *, concurrency: int = 8, **selectors: Any
) -> tuple[Org, ExportPlan, Export, int]:
    async def go() -> tuple[Org, ExportPlan, Export, int]:
        async with make_client(sb, clock) as client:
            org = await read_live(client)
            plan = plan_export(org, w, **selectors)
            result = await run_export(client, org, plan, SHANGHAI, concurrency=concurrency)
            return org, plan, result, client.calls_made[LIST]

    return run(go())


def test_an_export_equals_the_sandboxs_own_data(sb: Sandbox, clock: FakeClock, spy: Spy) -> None:
    userids = seed(sb.tenant, 120)  # 3 batches: 50 + 50 + 20
    w = window(TODAY - dt.timedelta(days=14), TODAY)  # 15 dates: 7 + 7 + 1
    org, plan, result, http_calls = export(sb, clock, w)

    assert result.complete
    assert len(plan.chunks) == 9
    expected = to_rows(brute_force(sb, userids, w), org, SHANGHAI)
    assert result.rows == expected
    assert len(result.rows) > 1000
    # Every page the sandbox answered is a call we counted; the client sent no retry.
    assert result.fetch.calls == spy.count(LIST) == http_calls
    # DingTalk's limits were never crossed, so 41041 (or any error) was never answered.
    assert {code for _, code in spy.errcodes} == {0}
    for _api, body in spy.calls:
        first = dt.date.fromisoformat(body["workDateFrom"][:10])
        last = dt.date.fromisoformat(body["workDateTo"][:10])
        assert (last - first).days <= 6
        assert len(body["userIdList"]) <= 50
        assert body["limit"] == 50


def test_the_estimate_is_the_call_count_on_a_weekday_schedule(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    seed(sb.tenant, 51)
    past_week = window(dt.date(2025, 12, 22), dt.date(2025, 12, 28))  # Mon..Sun, all past
    _, plan, result, _ = export(sb, clock, past_week)
    assert [len(c.userids) for c in plan.chunks] == [50, 1]
    # 50 people × 5 weekdays × 2 = 500 records = 10 pages; 1 person = 10 records = 1 page.
    assert plan.estimated_calls == result.fetch.calls == spy.count(LIST) == 11


def test_a_page_of_exactly_fifty_records_takes_one_call(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    seed(sb.tenant, 5)
    _, _, result, _ = export(sb, clock, window(dt.date(2025, 12, 22), dt.date(2025, 12, 28)))
    assert len(result.rows) == 50
    assert spy.count(LIST) == 1


def test_a_department_selects_its_subtree(sb: Sandbox, clock: FakeClock) -> None:
    seed(sb.tenant, 40)  # spread over eng, eng-platform, eng-platform-db, sales
    w = window(dt.date(2025, 12, 29), dt.date(2026, 1, 2))
    org, plan, result, _ = export(sb, clock, w, departments=["eng-platform"])
    members = sorted(
        u.userid
        for u in org.users.values()
        if set(u.departments) & {"eng-platform", "eng-platform-db"}
    )
    assert plan.userids == tuple(members)
    assert len(members) == 20
    assert {r.userid for r in result.rows} == set(members)
    assert {r.department for r in result.rows} == {"研发中心/平台组", "研发中心/平台组/数据库"}


def test_unknown_people_are_refused_before_any_attendance_call(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    seed(sb.tenant, 3)
    org = run(live(sb, clock))
    with pytest.raises(InputError, match=r"--department nope.*--user ghost"):
        plan_export(org, window(TODAY, TODAY), departments=["nope"], users=["ghost"])
    assert spy.calls == []


def test_max_calls_below_the_estimate_refuses_before_calling(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    seed(sb.tenant, 51)
    org = run(live(sb, clock))
    w = window(dt.date(2025, 12, 22), dt.date(2025, 12, 28))
    with pytest.raises(
        InputError, match="about 11 attendance/list calls, more than --max-calls 10"
    ):
        plan_export(org, w, max_calls=10)
    assert spy.calls == []
    assert plan_export(org, w, max_calls=11).estimated_calls == 11


def test_the_call_budget_stops_a_run_cleanly(sb: Sandbox, clock: FakeClock, spy: Spy) -> None:
    userids = seed(sb.tenant, 60)
    w = window(dt.date(2025, 12, 15), dt.date(2025, 12, 28))  # 2 weeks: 4 chunks, 24 pages

    async def go() -> FetchResult:
        async with make_client(sb, clock) as client:
            return await fetch_results(client, plan_chunks(userids, w), max_calls=7, concurrency=1)

    result = run(go())
    assert result.stop is Stop.BUDGET
    assert result.calls == spy.count(LIST) == 7
    # concurrency 1: the first chunk (50 people, first week: 10 pages) was not finished.
    assert result.done == ()
    assert len(result.missing) == 4
    assert result.records == ()


def test_quota_exhaustion_stops_cleanly_and_keeps_whole_chunks(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    userids = seed(sb.tenant, 60)
    w = window(dt.date(2025, 12, 15), dt.date(2025, 12, 28))
    quota = ApiError(90020, "您的企业本月api调用量已超过限制,调用量:5001次,额度:5000次")
    spy.fail = lambda api, n: quota if api == LIST and n > 20 else None

    async def go() -> tuple[tuple[Chunk, ...], FetchResult]:
        async with make_client(sb, clock) as client:
            chunks = plan_chunks(userids, w)
            return chunks, await fetch_results(client, chunks, concurrency=1)

    chunks, result = run(go())
    assert result.stop is Stop.QUOTA
    assert isinstance(result.error, QuotaExhaustedError)
    # 10 pages each for the first 50 people's two weeks, then 90020 once: no retry of a
    # terminal error, no further call.
    assert spy.count(LIST) == 21
    assert result.calls == 21
    assert result.done == chunks[:2]
    assert result.missing == chunks[2:]
    done_truth = [r for c in chunks[:2] for r in brute_force(sb, c.userids, c.window)]
    assert sorted(result.records, key=lambda r: r["id"]) == sorted(
        done_truth, key=lambda r: r["id"]
    )


def test_quota_exhaustion_with_concurrent_chunks_starts_nothing_new(
    sb: Sandbox, clock: FakeClock, spy: Spy
) -> None:
    userids = seed(sb.tenant, 200)
    w = window(dt.date(2025, 12, 1), dt.date(2025, 12, 28))  # 4 batches × 4 weeks = 16 chunks
    spy.fail = lambda api, n: ApiError(90020, "quota") if n > 20 else None

    async def go() -> FetchResult:
        async with make_client(sb, clock) as client:
            return await fetch_results(client, plan_chunks(userids, w), concurrency=8)

    result = run(go())
    assert result.stop is Stop.QUOTA
    # Calls already in flight when the first 90020 came back may still be answered; after
    # that nothing new is sent. At most one in-flight call per worker: 20 + 8.
    assert 21 <= spy.count(LIST) <= 28
    assert result.calls == spy.count(LIST)
    assert len(result.done) + len(result.missing) == 16
    assert result.missing


def test_a_punch_at_half_past_midnight_exports_on_its_local_date(
    sb: Sandbox, clock: FakeClock
) -> None:
    seed(sb.tenant, 4)
    moment = dt.datetime(2026, 1, 6, 0, 30, tzinfo=SHANGHAI)  # 2026-01-05 16:30 UTC
    sb.tenant.db.execute(
        "INSERT INTO attendance_uploads (userid, device_name, device_id, check_ms, created_ms) "
        "VALUES ('u0001', 'door', 'd1', ?, ?)",
        (round(moment.timestamp() * 1000), round(clock.now() * 1000)),
    )
    _, _, result, _ = export(
        sb, clock, window(dt.date(2026, 1, 5), dt.date(2026, 1, 6)), users=["u0001"]
    )
    punched = [r for r in result.rows if r.user_check_time == moment]
    assert len(punched) == 1
    row = punched[0].as_dict()
    assert row["work_date"] == "2026-01-06"
    assert row["check_type"] == "OnDuty"
    assert row["user_check_time"] == "2026-01-06T00:30:00+08:00"
    assert row["time_result"] == "Normal"
    assert row["source_type"] == "ATM"


def test_progress_counts_calls_chunks_and_records_as_they_happen(
    sb: Sandbox, clock: FakeClock
) -> None:
    userids = seed(sb.tenant, 60)
    w = window(TODAY - dt.timedelta(days=9), TODAY)
    seen: list[Progress] = []

    async def go() -> tuple[tuple[Chunk, ...], FetchResult]:
        async with make_client(sb, clock) as client:
            chunks = plan_chunks(userids, w)
            return chunks, await fetch_results(client, chunks, on_progress=seen.append)

    chunks, result = run(go())
    assert result.complete
    assert seen[0] == Progress(0, result.estimated, 0, len(chunks), 0)
    last = seen[-1]
    assert (last.calls, last.chunks_done, last.records) == (
        result.calls,
        len(chunks),
        len(result.records),
    )
    for before, after in itertools.pairwise(seen):
        assert before.calls <= after.calls
        assert before.chunks_done <= after.chunks_done
        assert before.records <= after.records
