"""attendance/list records → the rows HR reads."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from reconciler.attendance.records import to_row, to_rows
from reconciler.model import ROOT, Department, Org, User

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Reference sample S14, verbatim values.
S14_ON = {
    "checkType": "OnDuty",
    "locationResult": "Normal",
    "baseCheckTime": 1599372300000,
    "groupId": 685935028,
    "timeResult": "Normal",
    "userId": "manager4220",
    "recordId": 42833709096,
    "workDate": 1599321600000,
    "sourceType": "APPROVE",
    "userCheckTime": 1599372300000,
    "planId": 145583519353,
    "id": 100068640553,
}
S14_OFF = {
    "checkType": "OffDuty",
    "locationResult": "Normal",
    "baseCheckTime": 1599373560000,
    "groupId": 685935028,
    "timeResult": "Normal",
    "userId": "manager4220",
    "recordId": 43003136655,
    "workDate": 1599321600000,
    "sourceType": "USER",
    "userCheckTime": 1599373608000,
    "planId": 144623724178,
    "id": 100375228689,
}

ORG = Org.of(
    departments=[Department(key="eng", name="研发中心", parent=ROOT)],
    users=[User(userid="manager4220", name="经理", departments=("eng",))],
)


def test_work_date_is_read_in_the_org_time_zone() -> None:
    row = to_row(S14_ON, ORG, SHANGHAI)
    # workDate 1599321600000 is 2020-09-05T16:00Z: midnight of 2020-09-06 in Shanghai.
    assert row.work_date == dt.date(2020, 9, 6)
    assert to_row(S14_ON, ORG, dt.UTC).work_date == dt.date(2020, 9, 5)


def test_a_row_carries_name_department_and_iso_times_with_offset() -> None:
    cells = to_row(S14_OFF, ORG, SHANGHAI).as_dict()
    assert cells == {
        "userid": "manager4220",
        "name": "经理",
        "department": "研发中心",
        "work_date": "2020-09-06",
        "check_type": "OffDuty",
        "base_check_time": "2020-09-06T14:26:00+08:00",
        "user_check_time": "2020-09-06T14:26:48+08:00",
        "time_result": "Normal",
        "location_result": "Normal",
        "source_type": "USER",
    }


def test_not_signed_has_no_actual_check_time() -> None:
    record = {**S14_ON, "timeResult": "NotSigned", "locationResult": "NotSigned"}
    assert to_row(record, ORG, SHANGHAI).user_check_time is None


def test_numbers_sent_as_strings_are_accepted() -> None:
    record = {k: str(v) if isinstance(v, int) else v for k, v in S14_ON.items()}
    assert to_row(record, ORG, SHANGHAI) == to_row(S14_ON, ORG, SHANGHAI)


def test_rows_sort_by_person_date_then_check_time() -> None:
    later_day = {**S14_ON, "workDate": 1599321600000 + 86_400_000, "id": 1}
    other = {**S14_OFF, "userId": "aaa", "id": 2}
    rows = to_rows([later_day, S14_OFF, S14_ON, other], ORG, SHANGHAI)
    assert [(r.userid, r.work_date.day, r.check_type) for r in rows] == [
        ("aaa", 6, "OffDuty"),
        ("manager4220", 6, "OnDuty"),
        ("manager4220", 6, "OffDuty"),
        ("manager4220", 7, "OnDuty"),
    ]
    assert rows[0].name == ""  # not in the directory: no name rather than a crash
