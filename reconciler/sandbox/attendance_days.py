"""Attendance (考勤) of the sandbox tenant, generated: pure, deterministic per (userid, work date).

The emulated org works 09:00–18:00 Asia/Shanghai on weekdays. Every person's day is
*generated*: a seeded hash of (userid, work date) picks each check point's result, punch time,
location and source, so the same tenant answers the same way on every run and a test can
compute the expected answer directly without the API. Uploaded punches compete with the
generated ones (`apply_uploads`); `attendance_records` reads them from the tenant.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
"""The emulated org's time zone: date strings are read, and work dates cut, in it."""

SEED = "orgctl-sandbox-attendance-v1"
ON_DUTY = dt.time(9, 0)
OFF_DUTY = dt.time(18, 0)
BASE_TIMES = {"OnDuty": ON_DUTY, "OffDuty": OFF_DUTY}
"""Each check type's scheduled time of day."""
MIDDAY = dt.time(13, 30)
"""A punch before this belongs to the day's OnDuty check point, from it on to OffDuty."""

LATE_LIMIT = 30 * 60  # seconds after 09:00 still "Late"
SERIOUS_LATE_LIMIT = 120 * 60  # … still "SeriousLate"; later is "Absenteeism" (旷工迟到)

GROUP_ID = 685935028
UPLOAD_ID_BASE = 70_000_000_000
UPLOAD_SOURCE = "ATM"
"""record/upload punches come from a third-party attendance machine (考勤机)."""


def unit(userid: str, day: dt.date, what: str) -> float:
    """A number in [0, 1) fixed by (userid, day, what): sha256, so no Python version or
    process (PYTHONHASHSEED) changes it."""
    digest = hashlib.sha256(f"{SEED}|{userid}|{day.isoformat()}|{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def stable_id(base: int, *parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, (SEED, *parts))).encode()).digest()
    return base + int.from_bytes(digest[:6], "big") % 9_000_000_000


def plan_id_of(userid: str, day: dt.date, check_type: str) -> int:
    """The check point's planId: the same for its generated record and uploaded punches."""
    return stable_id(140_000_000_000, userid, day, check_type, "plan")


def _pick(u: float, weights: Sequence[tuple[str, float]]) -> str:
    total = sum(w for _, w in weights)
    edge = 0.0
    for value, weight in weights:
        edge += weight / total
        if u < edge:
            return value
    return weights[-1][0]


def epoch_ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def local_ms(day: dt.date, at: dt.time) -> int:
    return epoch_ms(dt.datetime.combine(day, at, TZ))


def work_date_of(ms: int) -> dt.date:
    """The work date a punch belongs to: its calendar date in the org's zone (not UTC)."""
    return dt.datetime.fromtimestamp(ms / 1000, TZ).date()


def is_workday(day: dt.date) -> bool:
    return day.weekday() < 5


def time_result(check_type: str, base_ms: int, check_ms: int) -> str:
    delay = (check_ms - base_ms) / 1000
    if check_type == "OnDuty":
        if delay <= 0:
            return "Normal"
        if delay <= LATE_LIMIT:
            return "Late"
        if delay <= SERIOUS_LATE_LIMIT:
            return "SeriousLate"
        return "Absenteeism"
    return "Normal" if delay >= 0 else "Early"


def check_type_of(ms: int) -> str:
    local = dt.datetime.fromtimestamp(ms / 1000, TZ).time()
    return "OnDuty" if local < MIDDAY else "OffDuty"


_ON_RESULTS = (
    ("Normal", 74),
    ("Late", 10),
    ("SeriousLate", 4),
    ("Absenteeism", 3),
    ("NotSigned", 9),
)
_OFF_RESULTS = (("Normal", 80), ("Early", 11), ("NotSigned", 9))
_NORMAL_SOURCES = (
    ("USER", 55),
    ("ATM", 14),
    ("BEACON", 8),
    ("DING_ATM", 8),
    ("AUTO_CHECK", 6),
    ("APPROVE", 6),
    ("BOSS", 3),
)
_PUNCH_SOURCES = (("USER", 60), ("ATM", 18), ("BEACON", 11), ("DING_ATM", 11))
_OFFSETS: dict[tuple[str, str], tuple[int, int]] = {
    # (check type, result) → punch offset from the base time, in seconds, both ends included
    ("OnDuty", "Normal"): (-45 * 60, 0),
    ("OnDuty", "Late"): (60, LATE_LIMIT),
    ("OnDuty", "SeriousLate"): (LATE_LIMIT + 1, SERIOUS_LATE_LIMIT),
    ("OnDuty", "Absenteeism"): (SERIOUS_LATE_LIMIT + 1, 4 * 3600),
    ("OffDuty", "Normal"): (0, 2 * 3600),
    ("OffDuty", "Early"): (-2 * 3600, -60),
}


@dataclass(frozen=True, slots=True)
class CheckPoint:
    """One scheduled check point of one person's work day, as generated or as punched."""

    userid: str
    work_date: dt.date
    check_type: str  # OnDuty | OffDuty
    base_ms: int
    time_result: str
    location_result: str
    source_type: str
    check_ms: int | None  # None: not punched (NotSigned)
    id: int
    record_id: int | None
    plan_id: int
    approve_id: int | None = None
    uploaded: bool = False

    @property
    def happened_ms(self) -> int:
        """When the check point's outcome is known: not before its time nor its punch."""
        return max(self.base_ms, self.check_ms or self.base_ms)

    def as_result(self) -> dict[str, Any]:
        """The attendance/list record (shape of reference sample S14)."""
        record: dict[str, Any] = {
            "checkType": self.check_type,
            "locationResult": self.location_result,
            "baseCheckTime": self.base_ms,
            "groupId": GROUP_ID,
            "timeResult": self.time_result,
            "userId": self.userid,
            "workDate": local_ms(self.work_date, dt.time(0)),
            "sourceType": self.source_type,
            # NotSigned: DingTalk echoes the scheduled time as the "check" time.
            "userCheckTime": self.check_ms if self.check_ms is not None else self.base_ms,
            "planId": self.plan_id,
            "id": self.id,
        }
        if self.record_id is not None:
            record["recordId"] = self.record_id
        if self.approve_id is not None:
            record["procInstId"] = f"proc-{self.approve_id}"
            record["approveId"] = self.approve_id
        return record


@functools.lru_cache(maxsize=1 << 16)
def generated_day(userid: str, day: dt.date) -> tuple[CheckPoint, ...]:
    """The day's check points as generated, before any upload and regardless of "now".
    Cached: a paged attendance/list recomputes its whole chunk on every page."""
    if not is_workday(day):
        return ()
    points = []
    for check_type, results in (("OnDuty", _ON_RESULTS), ("OffDuty", _OFF_RESULTS)):

        def u(what: str, check_type: str = check_type) -> float:
            return unit(userid, day, f"{check_type}.{what}")

        base_ms = local_ms(day, BASE_TIMES[check_type])
        result = _pick(u("result"), results)
        point_id = stable_id(100_000_000_000, userid, day, check_type)
        plan_id = plan_id_of(userid, day, check_type)
        if result == "NotSigned":
            points.append(
                CheckPoint(
                    userid,
                    day,
                    check_type,
                    base_ms,
                    "NotSigned",
                    "NotSigned",
                    "SYSTEM",
                    None,
                    point_id,
                    None,
                    plan_id,
                )
            )
            continue
        source = _pick(u("source"), _NORMAL_SOURCES if result == "Normal" else _PUNCH_SOURCES)
        if source in ("APPROVE", "BOSS"):
            offset = 0  # an approval or a correction sets the check point to its base time
        else:
            low, high = _OFFSETS[(check_type, result)]
            offset = low + int(u("offset") * (high - low + 1))
        check_ms = base_ms + offset * 1000
        location = "Outside" if source == "USER" and u("location") < 0.15 else "Normal"
        points.append(
            CheckPoint(
                userid,
                day,
                check_type,
                base_ms,
                time_result(check_type, base_ms, check_ms),
                location,
                source,
                check_ms,
                point_id,
                stable_id(40_000_000_000, userid, day, check_type, "record"),
                plan_id,
                approve_id=stable_id(10_000_000_000, userid, day, check_type, "approve")
                if source == "APPROVE"
                else None,
            )
        )
    return tuple(points)


def generated_day_results(userid: str, day: dt.date) -> list[dict[str, Any]]:
    """The day's attendance/list records as generated: no upload, no "now", no retention."""
    return [point.as_result() for point in generated_day(userid, day)]


@dataclass(frozen=True, slots=True)
class Upload:
    id: int
    userid: str
    device_name: str
    device_id: str
    check_ms: int
    photo_url: str | None


def apply_uploads(
    points: tuple[CheckPoint, ...], uploads: Iterable[Upload]
) -> tuple[CheckPoint, ...]:
    """Uploaded punches compete with the day's punches: the earliest OnDuty and the latest
    OffDuty punch decide the check point."""
    result = []
    for point in points:
        best = point
        for upload in uploads:
            if check_type_of(upload.check_ms) != point.check_type:
                continue
            current = best.check_ms
            better = (
                current is None
                or (point.check_type == "OnDuty" and upload.check_ms < current)
                or (point.check_type == "OffDuty" and upload.check_ms > current)
            )
            if better:
                best = replace(
                    point,
                    time_result=time_result(point.check_type, point.base_ms, upload.check_ms),
                    location_result="Normal",
                    source_type=UPLOAD_SOURCE,
                    check_ms=upload.check_ms,
                    record_id=UPLOAD_ID_BASE + upload.id,
                    approve_id=None,
                    uploaded=True,
                )
        result.append(best)
    return tuple(result)
