"""attendance/list records → the rows HR reads. Pure.

A record (as `attendance/list` returns it) carries epoch milliseconds; a row carries dates and
ISO times in the org's time zone, with the person's name and department paths from the live
directory. The doc types many fields as String while real responses carry numbers, so every
field is parsed leniently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.attendance.people import user_departments
from reconciler.model import Org, UserId

TIME_RESULTS = ("Normal", "Late", "SeriousLate", "Early", "Absenteeism", "NotSigned")
LOCATION_RESULTS = ("Normal", "Outside", "NotSigned")
CHECK_TYPES = ("OnDuty", "OffDuty")

COLUMNS = (
    "userid",
    "name",
    "department",
    "work_date",
    "check_type",
    "base_check_time",
    "user_check_time",
    "time_result",
    "location_result",
    "source_type",
)
"""Export columns, in order."""


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    userid: UserId
    name: str
    department: str  # name paths of the person's departments, "; "-joined
    work_date: dt.date
    check_type: str  # OnDuty | OffDuty
    base_check_time: dt.datetime  # aware, in the org's time zone
    user_check_time: dt.datetime | None  # None when the check point was not punched
    time_result: str
    location_result: str
    source_type: str
    record_id: int  # attendance/list "id": unique per check point

    def sort_key(self) -> tuple[str, dt.date, dt.datetime, int, int]:
        return (
            self.userid,
            self.work_date,
            self.base_check_time,
            CHECK_TYPES.index(self.check_type) if self.check_type in CHECK_TYPES else 9,
            self.record_id,
        )

    def as_dict(self) -> dict[str, str]:
        """The row as export cells: dates and ISO-8601 times with the zone's offset."""
        return {
            "userid": self.userid,
            "name": self.name,
            "department": self.department,
            "work_date": self.work_date.isoformat(),
            "check_type": self.check_type,
            "base_check_time": self.base_check_time.isoformat(),
            "user_check_time": self.user_check_time.isoformat() if self.user_check_time else "",
            "time_result": self.time_result,
            "location_result": self.location_result,
            "source_type": self.source_type,
        }


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean where a number was expected")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"not an integer: {value!r}")


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def from_ms(ms: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz)


def to_row(record: Mapping[str, Any], org: Org, tz: dt.tzinfo) -> AttendanceRow:
    """One attendance/list record as a row. Raises ValueError on a record without the
    fields every record has (userId, workDate, baseCheckTime, checkType, timeResult)."""
    userid = _str(record.get("userId"))
    if not userid:
        raise ValueError("record without userId")
    time_result = _str(record.get("timeResult"))
    # A NotSigned record still carries a userCheckTime (the scheduled time); showing it as
    # the actual punch would invent one.
    punched = time_result != "NotSigned" and record.get("userCheckTime") not in (None, "")
    user = org.users.get(userid)
    return AttendanceRow(
        userid=userid,
        name=user.name if user else "",
        department=user_departments(org, userid),
        # workDate is the work day's local midnight: read it in the org's zone, never UTC.
        work_date=from_ms(_int(record["workDate"]), tz).date(),
        check_type=_str(record.get("checkType")),
        base_check_time=from_ms(_int(record["baseCheckTime"]), tz),
        user_check_time=from_ms(_int(record["userCheckTime"]), tz) if punched else None,
        time_result=time_result,
        location_result=_str(record.get("locationResult")),
        source_type=_str(record.get("sourceType")),
        record_id=_int(record.get("id", 0)),
    )


def to_rows(
    records: Iterable[Mapping[str, Any]], org: Org, tz: dt.tzinfo
) -> tuple[AttendanceRow, ...]:
    """Rows sorted by person, work date, then check time."""
    return tuple(sorted((to_row(r, org, tz) for r in records), key=AttendanceRow.sort_key))
