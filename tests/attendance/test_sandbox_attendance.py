"""The sandbox's attendance endpoints: DingTalk's limits, shapes and determinism (§6)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.sandbox import Sandbox
from reconciler.sandbox import attendance_records as att
from reconciler.sandbox.attendance_days import generated_day_results
from tests.attendance.conftest import NOW, SHANGHAI, TODAY, seed
from tests.sandbox.helpers import Api

MONDAY = dt.date(2025, 12, 29)  # the week before NOW's, all in the past


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    sandbox = Sandbox(clock=clock, qps=0)  # rule tests: no rate limit
    seed(sandbox.tenant, 60)
    yield sandbox
    sandbox.close()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[Api]:
    with httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport()) as client:
        yield Api(client)


def day(d: dt.date) -> str:
    return f"{d} 00:00:00"


def list_body(users: list[str], first: dt.date, last: dt.date, offset: int = 0, limit: int = 50):
    return {
        "workDateFrom": day(first),
        "workDateTo": day(last),
        "userIdList": users,
        "offset": offset,
        "limit": limit,
    }


def all_pages(api: Api, users: list[str], first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    while True:
        answer = api.ok("attendance/list", list_body(users, first, last, offset=len(records)))
        records += answer["recordresult"]
        if not answer["hasMore"]:
            return records


def brute_force(sandbox: Sandbox, users: list[str], first: dt.date, last: dt.date):
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [r for u in users for d in days for r in att.day_results(sandbox.tenant, u, d)]


def ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def test_seven_dates_are_accepted_and_eight_answer_41041(api: Api) -> None:
    ok = api.call("attendance/list", list_body(["u0000"], MONDAY, MONDAY + dt.timedelta(days=6)))
    assert ok["errcode"] == 0
    too_long = api.call(
        "attendance/list", list_body(["u0000"], MONDAY, MONDAY + dt.timedelta(days=7))
    )
    assert (too_long["errcode"], too_long["errmsg"]) == (41041, "时间跨度太大")


def test_fifty_userids_are_accepted_and_fifty_one_refused(api: Api) -> None:
    users = [f"u{i:04d}" for i in range(51)]
    assert api.call("attendance/list", list_body(users[:50], MONDAY, MONDAY))["errcode"] == 0
    assert api.call("attendance/list", list_body(users, MONDAY, MONDAY))["errcode"] == 40035


@pytest.mark.parametrize("limit", [0, 51])
def test_limit_is_at_most_fifty(api: Api, limit: int) -> None:
    answer = api.call("attendance/list", list_body(["u0000"], MONDAY, MONDAY, limit=limit))
    assert answer["errcode"] == 40035


def test_missing_and_malformed_fields_are_40035(api: Api) -> None:
    body = list_body(["u0000"], MONDAY, MONDAY)
    del body["offset"]
    assert api.call("attendance/list", body)["errcode"] == 40035
    bad = {**list_body(["u0000"], MONDAY, MONDAY), "workDateFrom": "2025/12/29"}
    assert api.call("attendance/list", bad)["errcode"] == 40035


def test_pages_concatenate_to_the_generated_truth(api: Api, sandbox: Sandbox) -> None:
    users = [f"u{i:04d}" for i in range(12)]
    last = MONDAY + dt.timedelta(days=6)
    records = all_pages(api, users, MONDAY, last)
    assert records == brute_force(sandbox, users, MONDAY, last)
    assert len(records) == 12 * 5 * 2  # weekdays only, two check points each
    assert len({r["id"] for r in records}) == len(records)


def test_exactly_fifty_records_fit_one_page_without_has_more(api: Api) -> None:
    users = [f"u{i:04d}" for i in range(5)]
    answer = api.ok("attendance/list", list_body(users, MONDAY, MONDAY + dt.timedelta(days=6)))
    assert len(answer["recordresult"]) == 50
    assert answer["hasMore"] is False
    answer = api.ok(
        "attendance/list", list_body([*users, "u0005"], MONDAY, MONDAY + dt.timedelta(days=6))
    )
    assert answer["hasMore"] is True


def test_records_have_the_shape_of_sample_s14(api: Api) -> None:
    record = api.ok("attendance/list", list_body(["u0001"], MONDAY, MONDAY))["recordresult"][0]
    s14_keys = {
        "checkType",
        "locationResult",
        "baseCheckTime",
        "groupId",
        "timeResult",
        "userId",
        "workDate",
        "sourceType",
        "userCheckTime",
        "planId",
        "id",
    }
    assert s14_keys <= set(record)
    assert record["workDate"] == ms(dt.datetime(2025, 12, 29, tzinfo=SHANGHAI))
    assert record["baseCheckTime"] == ms(dt.datetime(2025, 12, 29, 9, tzinfo=SHANGHAI))
    assert all(isinstance(record[k], int) for k in ("workDate", "baseCheckTime", "id", "groupId"))


def test_data_is_deterministic_across_tenants(clock: FakeClock) -> None:
    answers = []
    for _ in range(2):
        with Sandbox(clock=clock, qps=0) as sandbox:
            seed(sandbox.tenant, 3)
            answers.append(brute_force(sandbox, ["u0000", "u0001", "u0002"], MONDAY, TODAY))
    assert answers[0] == answers[1]
    assert answers[0]


def test_results_mix_every_outcome(sandbox: Sandbox) -> None:
    users = [f"u{i:04d}" for i in range(60)]
    records = brute_force(
        sandbox, users, TODAY - dt.timedelta(days=28), TODAY - dt.timedelta(days=1)
    )
    times = Counter(r["timeResult"] for r in records)
    assert set(times) == {"Normal", "Late", "SeriousLate", "Early", "Absenteeism", "NotSigned"}
    assert times["Normal"] > len(records) / 2
    assert {r["locationResult"] for r in records} == {"Normal", "Outside", "NotSigned"}
    assert {r["sourceType"] for r in records} >= {
        "USER",
        "ATM",
        "BEACON",
        "DING_ATM",
        "APPROVE",
        "BOSS",
        "SYSTEM",
        "AUTO_CHECK",
    }


def test_nothing_appears_before_it_happens(sandbox: Sandbox, clock: FakeClock) -> None:
    # 13:15 on a Wednesday: the morning check point exists, the evening one does not yet.
    assert [r["checkType"] for r in att.day_results(sandbox.tenant, "u0000", TODAY)] == ["OnDuty"]
    assert att.day_results(sandbox.tenant, "u0000", TODAY + dt.timedelta(days=1)) == []
    clock.advance(8 * 3600)  # 21:15: every OffDuty punch (at most 20:00) has happened
    assert [r["checkType"] for r in att.day_results(sandbox.tenant, "u0000", TODAY)] == [
        "OnDuty",
        "OffDuty",
    ]


def test_weekends_have_no_check_points(sandbox: Sandbox) -> None:
    saturday = dt.date(2026, 1, 3)
    assert att.day_results(sandbox.tenant, "u0000", saturday) == []


def test_data_older_than_180_days_is_not_kept(api: Api) -> None:
    oldest = TODAY - dt.timedelta(days=180)
    kept = oldest
    while kept.weekday() >= 5:
        kept += dt.timedelta(days=1)
    gone = oldest - dt.timedelta(days=1)
    while gone.weekday() >= 5:
        gone -= dt.timedelta(days=1)
    assert api.ok("attendance/list", list_body(["u0000"], kept, kept))["recordresult"]
    assert api.ok("attendance/list", list_body(["u0000"], gone, gone))["recordresult"] == []
    answer = api.ok("attendance/list", list_body(["u0000"], gone, kept))
    assert {r["workDate"] for r in answer["recordresult"]} == {
        ms(dt.datetime.combine(kept, dt.time(0), SHANGHAI))
    }


def test_unknown_userids_just_give_nothing(api: Api) -> None:
    answer = api.ok("attendance/list", list_body(["nobody", "u0000"], MONDAY, MONDAY))
    assert {r["userId"] for r in answer["recordresult"]} == {"u0000"}


def record_body(users: list[str], start: str, end: str) -> dict[str, Any]:
    return {"userIds": users, "checkDateFrom": start, "checkDateTo": end}


def test_list_record_counts_the_time_of_day(api: Api, sandbox: Sandbox) -> None:
    morning = api.ok(
        "attendance/listRecord",
        record_body(["u0000", "u0001"], "2025-12-29 00:00:00", "2025-12-29 12:00:00"),
    )
    whole = api.ok(
        "attendance/listRecord",
        record_body(["u0000", "u0001"], "2025-12-29 00:00:00", "2025-12-29 23:59:59"),
    )
    assert {r["checkType"] for r in morning["recordresult"]} <= {"OnDuty"}
    assert len(whole["recordresult"]) > len(morning["recordresult"])
    noon = ms(dt.datetime(2025, 12, 29, 12, tzinfo=SHANGHAI))
    assert all(r["userCheckTime"] <= noon for r in morning["recordresult"])
    expected = [r for u in ("u0000", "u0001") for r in att.day_punches(sandbox.tenant, u, MONDAY)]
    assert whole["recordresult"] == expected


def test_list_record_spans_at_most_seven_days(api: Api) -> None:
    ok = api.call(
        "attendance/listRecord",
        record_body(["u0000"], "2025-12-29 00:00:00", "2026-01-05 00:00:00"),
    )
    assert ok["errcode"] == 0
    too_long = api.call(
        "attendance/listRecord",
        record_body(["u0000"], "2025-12-29 00:00:00", "2026-01-05 00:00:01"),
    )
    assert too_long["errcode"] == 41041


def test_unpunched_check_points_have_no_raw_punch(sandbox: Sandbox) -> None:
    for d in (MONDAY + dt.timedelta(days=i) for i in range(5)):
        for user in (f"u{i:04d}" for i in range(30)):
            results = att.day_results(sandbox.tenant, user, d)
            punches = att.day_punches(sandbox.tenant, user, d)
            legal_types = {p["checkType"] for p in punches if p["isLegal"] == "Y"}
            for result in results:
                punched = result["sourceType"] in att.PUNCH_SOURCES
                assert (result["checkType"] in legal_types) == punched, (user, d, result)


def upload(api: Api, userid: str, moment: dt.datetime, **extra: Any) -> dict[str, Any]:
    body = {
        "userid": userid,
        "device_name": "前台考勤机",
        "device_id": "dev-1",
        "user_check_time": ms(moment),
        **extra,
    }
    return api.call("topapi/attendance/record/upload", body)


def find(sandbox: Sandbox, check_type: str, result: str) -> tuple[str, dt.date]:
    for i in range(60):
        for offset in range(5):
            d = MONDAY + dt.timedelta(days=offset)
            for r in att.day_results(sandbox.tenant, f"u{i:04d}", d):
                if r["checkType"] == check_type and r["timeResult"] == result:
                    return f"u{i:04d}", d
    raise AssertionError(f"no {check_type} {result} in the seeded data")


def test_upload_answers_like_s15_and_shows_in_list_record(api: Api, sandbox: Sandbox) -> None:
    moment = dt.datetime(2025, 12, 30, 8, 40, 5, tzinfo=SHANGHAI)
    answer = upload(api, "u0003", moment, photo_url="https://img.example.com/a.jpg")
    assert answer["errcode"] == 0
    assert answer["success"] is True
    assert answer["request_id"]
    records = api.ok(
        "attendance/listRecord",
        record_body(["u0003"], "2025-12-30 08:40:05", "2025-12-30 08:40:05"),
    )["recordresult"]
    assert len(records) == 1
    assert records[0]["userCheckTime"] == ms(moment)
    assert records[0]["deviceId"] == "dev-1"
    assert records[0]["photoUrl"] == "https://img.example.com/a.jpg"
    assert [w.api for w in sandbox.writes()] == ["topapi/attendance/record/upload"]


@pytest.mark.parametrize(
    ("check_type", "before", "at", "after"),
    [
        ("OnDuty", "Late", dt.time(8, 55), "Normal"),
        ("OnDuty", "NotSigned", dt.time(9, 10), "Late"),
        ("OffDuty", "Early", dt.time(18, 30), "Normal"),
        ("OffDuty", "NotSigned", dt.time(17, 0), "Early"),
    ],
)
def test_an_uploaded_punch_decides_its_check_point(
    api: Api, sandbox: Sandbox, check_type: str, before: str, at: dt.time, after: str
) -> None:
    user, d = find(sandbox, check_type, before)
    assert upload(api, user, dt.datetime.combine(d, at, SHANGHAI))["errcode"] == 0
    point = next(
        r for r in att.day_results(sandbox.tenant, user, d) if r["checkType"] == check_type
    )
    assert point["timeResult"] == after
    assert point["sourceType"] == "ATM"
    assert point["userCheckTime"] == ms(dt.datetime.combine(d, at, SHANGHAI))
    other = "OffDuty" if check_type == "OnDuty" else "OnDuty"
    assert [r for r in att.day_results(sandbox.tenant, user, d) if r["checkType"] == other] == [
        r for r in generated_day_results(user, d) if r["checkType"] == other
    ]


def test_a_worse_upload_does_not_change_the_result(api: Api, sandbox: Sandbox) -> None:
    user, d = find(sandbox, "OnDuty", "Normal")
    before = att.day_results(sandbox.tenant, user, d)
    assert upload(api, user, dt.datetime.combine(d, dt.time(11, 0), SHANGHAI))["errcode"] == 0
    assert att.day_results(sandbox.tenant, user, d) == before


def test_a_punch_at_half_past_midnight_belongs_to_that_local_date(
    api: Api, sandbox: Sandbox
) -> None:
    # 2025-12-31 00:30 in Shanghai is 2025-12-30 16:30 UTC.
    moment = dt.datetime(2025, 12, 31, 0, 30, tzinfo=SHANGHAI)
    assert upload(api, "u0007", moment)["errcode"] == 0
    (punch,) = [
        p
        for p in att.day_punches(sandbox.tenant, "u0007", dt.date(2025, 12, 31))
        if p["sourceType"] == "ATM" and p["userCheckTime"] == ms(moment)
    ]
    assert punch["workDate"] == ms(dt.datetime(2025, 12, 31, tzinfo=SHANGHAI))
    on_duty = att.day_results(sandbox.tenant, "u0007", dt.date(2025, 12, 31))[0]
    assert (on_duty["checkType"], on_duty["userCheckTime"]) == ("OnDuty", ms(moment))
    assert all(
        p["userCheckTime"] != ms(moment)
        for p in att.day_punches(sandbox.tenant, "u0007", dt.date(2025, 12, 30))
    )


def test_upload_refuses_what_dingtalk_refuses(api: Api, sandbox: Sandbox) -> None:
    assert upload(api, "nobody", NOW - dt.timedelta(hours=1))["errcode"] == 60121
    assert upload(api, "u0000", NOW + dt.timedelta(seconds=1))["errcode"] == 40035
    assert upload(api, "u0000", NOW - dt.timedelta(days=182))["errcode"] == 40035
    body = {"userid": "u0000", "device_name": "x", "user_check_time": ms(NOW)}
    assert api.call("topapi/attendance/record/upload", body)["errcode"] == 40035
    assert att.uploads_of(sandbox.tenant, "u0000", TODAY) == ()
    assert all(w.errcode != 0 for w in sandbox.writes())
