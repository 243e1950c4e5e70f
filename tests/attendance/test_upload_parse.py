"""Reading punch files for upload: check times and row validation."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from reconciler.attendance.upload import parse_check_time, parse_punches

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=SHANGHAI).timestamp()
USERS = {"zhangsan", "lisi"}


def parse(text: str):
    return parse_punches(text, tz=SHANGHAI, now=NOW, known_users=USERS)


def test_a_good_file_parses_in_the_org_time_zone() -> None:
    punches, problems = parse(
        "userid,device_name,device_id,check_time,photo_url\n"
        "zhangsan,前台考勤机,dev-1,2025-12-31T09:01:00,\n"
        "lisi,前台考勤机,dev-1,2025-12-31 00:30:00+08:00,https://img.example.com/p.jpg\n"
        "lisi,Gate,dev-2,2025-12-30T10:00:00Z,\n"
    )
    assert problems == ()
    assert [p.line for p in punches] == [2, 3, 4]
    assert punches[0].check_time == dt.datetime(2025, 12, 31, 9, 1, tzinfo=SHANGHAI)
    assert punches[0].body() == {
        "userid": "zhangsan",
        "device_name": "前台考勤机",
        "device_id": "dev-1",
        "user_check_time": 1767142860000,
    }
    assert punches[1].body()["photo_url"] == "https://img.example.com/p.jpg"
    # An explicit offset wins over the org's zone: 10:00Z is 18:00 in Shanghai.
    assert punches[2].check_time.hour == 18


def test_every_bad_row_is_reported_with_its_line_number() -> None:
    punches, problems = parse(
        "\ufeffuserid,device_name,device_id,check_time\n"  # Excel's BOM is fine
        "zhangsan,door,d1,2025-12-31T09:00:00\n"  # 2: good
        "nobody,door,d1,2025-12-31T09:00:00\n"  # 3: unknown user
        "lisi,door,d1,31/12/2025 09:00\n"  # 4: bad time
        "lisi,door,d1,2025-06-01T09:00:00\n"  # 5: older than 180 days
        "lisi,door,d1,2026-01-01T12:00:01\n"  # 6: one second in the future
        "lisi,,d1,2025-12-31T09:00:00\n"  # 7: empty device_name
        "lisi,door,d1\n"  # 8: missing value
        "\n"  # 9: blank, skipped
        'lisi,"two\nlines",d1,2025-12-31\n'  # 10-11: no time of day
        "zhangsan,door,d1,2025-12-31T18:00:00\n"  # 12: good
    )
    assert [(p.line, p.message.split(" ")[0]) for p in problems] == [
        (3, "unknown"),
        (4, "check_time"),
        (5, "check_time"),
        (6, "check_time"),
        (7, "device_name"),
        (8, "3"),
        (10, "check_time"),
    ]
    assert "older than 180 days" in problems[2].message
    assert "future" in problems[3].message
    assert "no time of day" in problems[6].message
    assert [p.line for p in punches] == [2, 12]


def test_a_missing_column_is_reported_on_the_header_line() -> None:
    punches, problems = parse("userid,device_id,check_time\nzhangsan,d1,2025-12-31T09:00:00\n")
    assert punches == ()
    assert [str(p) for p in problems] == ["line 1: missing column device_name"]


def test_an_unknown_column_is_refused_rather_than_ignored() -> None:
    _, problems = parse("userid,device_name,device_id,check_time,chek_time\n")
    assert "unknown column 'chek_time'" in str(problems[0])


def test_an_empty_file_is_a_problem() -> None:
    assert parse("")[1][0].message.startswith("the file is empty")
    assert parse("userid,device_name,device_id,check_time\n")[1][0].message == (
        "no punches in the file"
    )


def test_the_oldest_acceptable_punch_is_exactly_180_days_old() -> None:
    edge = dt.datetime.fromtimestamp(NOW - 180 * 86400, SHANGHAI).replace(tzinfo=None)
    ok, problems = parse(f"userid,device_name,device_id,check_time\nlisi,d,d,{edge.isoformat()}\n")
    assert problems == ()
    assert len(ok) == 1
    older = (edge - dt.timedelta(seconds=1)).isoformat()
    _, problems = parse(f"userid,device_name,device_id,check_time\nlisi,d,d,{older}\n")
    assert "180 days" in problems[0].message


@pytest.mark.parametrize("text", ["2026-01-01", "noon", "2026-01-01T25:00:00"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError, match=r"2026|noon"):
        parse_check_time(text, SHANGHAI)
