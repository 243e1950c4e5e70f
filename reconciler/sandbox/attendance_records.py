"""Attendance (考勤) of the sandbox tenant as its APIs answer it now: the generated days
(`attendance_days`) with the punches uploaded through record/upload, which take part like real
punches: they show up in listRecord and can change the day's result for the check point they
fall in. I/O: uploaded punches live in the tenant's SQLite database; "now" is the tenant's
clock: no check point appears before it has happened; nothing older than 180 days is kept.

A test computes the expected answer directly with `results_between`, `punches_between` and
their one-day forms `day_results`, `day_punches`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.attendance_days import (
    BASE_TIMES,
    GROUP_ID,
    TZ,
    UPLOAD_ID_BASE,
    UPLOAD_SOURCE,
    CheckPoint,
    Upload,
    apply_uploads,
    check_type_of,
    generated_day,
    local_ms,
    plan_id_of,
    stable_id,
    time_result,
    unit,
    work_date_of,
)
from reconciler.sandbox.tenant import Tenant, register_schema

RETENTION_DAYS = 180
CORP_ID = "ding0123456789abcdef"
PUNCH_SOURCES = frozenset({"USER", "ATM", "BEACON", "DING_ATM", "AUTO_CHECK"})
"""Sources that are a real punch (a listRecord row); APPROVE, BOSS and SYSTEM are not."""

register_schema(
    """
CREATE TABLE IF NOT EXISTS attendance_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    userid TEXT NOT NULL,
    device_name TEXT NOT NULL,
    device_id TEXT NOT NULL,
    check_ms INTEGER NOT NULL,
    photo_url TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attendance_uploads_user ON attendance_uploads (userid, check_ms);
"""
)


def today(tenant: Tenant) -> dt.date:
    return dt.datetime.fromtimestamp(tenant.clock.now(), TZ).date()


def _uploads(
    tenant: Tenant, userids: Sequence[str], first: dt.date, last: dt.date
) -> dict[tuple[str, dt.date], list[Upload]]:
    """Uploaded punches of `userids` on work dates first..last, by (userid, work date)."""
    if not userids:
        return {}
    marks = ",".join("?" * len(userids))
    start = local_ms(first, dt.time(0))
    end = local_ms(last + dt.timedelta(days=1), dt.time(0))
    with tenant.lock:
        rows = tenant.db.execute(
            "SELECT id, userid, device_name, device_id, check_ms, photo_url "
            f"FROM attendance_uploads WHERE userid IN ({marks}) AND check_ms >= ? "
            "AND check_ms < ? ORDER BY check_ms, id",
            (*userids, start, end),
        ).fetchall()
    found: dict[tuple[str, dt.date], list[Upload]] = {}
    for r in rows:
        upload = Upload(
            r["id"], r["userid"], r["device_name"], r["device_id"], r["check_ms"], r["photo_url"]
        )
        found.setdefault((upload.userid, work_date_of(upload.check_ms)), []).append(upload)
    return found


def uploads_of(tenant: Tenant, userid: str, day: dt.date) -> tuple[Upload, ...]:
    return tuple(_uploads(tenant, [userid], day, day).get((userid, day), ()))


def _exists(tenant: Tenant, userids: Sequence[str]) -> set[str]:
    if not userids:
        return set()
    marks = ",".join("?" * len(userids))
    with tenant.lock:
        rows = tenant.db.execute(
            f"SELECT userid FROM users WHERE userid IN ({marks})", list(userids)
        )
        return {r["userid"] for r in rows}


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True, slots=True)
class _Window:
    """What both attendance reads need of the tenant for `userids` × first..last, now."""

    userids: list[str]  # the known ones, in request order: wrong ids give no records [AL]
    days: list[dt.date]  # clipped to the retention period and to today
    now_ms: int
    uploads: dict[tuple[str, dt.date], list[Upload]]


def _window(tenant: Tenant, userids: Sequence[str], first: dt.date, last: dt.date) -> _Window:
    known = _exists(tenant, userids)
    present = [u for u in userids if u in known]
    current = today(tenant)
    oldest = current - dt.timedelta(days=RETENTION_DAYS)
    return _Window(
        present,
        _days(max(first, oldest), min(last, current)),
        round(tenant.clock.now() * 1000),
        _uploads(tenant, present, first, last),
    )


def results_between(
    tenant: Tenant, userids: Sequence[str], first: dt.date, last: dt.date
) -> list[dict[str, Any]]:
    """attendance/list's records for `userids` × first..last as of now, in answer order
    (request order of people, then date, then OnDuty before OffDuty). The brute-force truth
    tests compare exports with."""
    window = _window(tenant, userids, first, last)
    uploads, now_ms = window.uploads, window.now_ms
    records: list[dict[str, Any]] = []
    for userid in window.userids:
        for day in window.days:
            points = apply_uploads(generated_day(userid, day), uploads.get((userid, day), ()))
            records.extend(p.as_result() for p in points if p.happened_ms <= now_ms)
    return records


def day_results(tenant: Tenant, userid: str, day: dt.date) -> list[dict[str, Any]]:
    """What attendance/list answers for one person and one work date, now."""
    return results_between(tenant, [userid], day, day)


def _punch_record(point: CheckPoint, check_ms: int, *, legal: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": stable_id(50_000_000_000, point.userid, point.work_date, point.check_type, check_ms),
        "corpId": CORP_ID,
        "userId": point.userid,
        "groupId": GROUP_ID,
        "planId": point.plan_id,
        "classId": 1_000_001,
        "workDate": local_ms(point.work_date, dt.time(0)),
        "checkType": point.check_type,
        "baseCheckTime": point.base_ms,
        "planCheckTime": point.base_ms,
        "userCheckTime": check_ms,
        "timeResult": time_result(point.check_type, point.base_ms, check_ms),
        "locationResult": point.location_result,
        "sourceType": point.source_type,
        "isLegal": "Y" if legal else "N",
        "locationMethod": "MAP" if point.source_type == "USER" else point.source_type,
        "userAddress": "浙江省杭州市余杭区文一西路969号"
        if point.location_result == "Normal"
        else "浙江省杭州市西湖区文三路90号",
        "userLatitude": 30.2793 if point.location_result == "Normal" else 30.2801,
        "userLongitude": 120.0264 if point.location_result == "Normal" else 120.1358,
        "userAccuracy": 25,
        "baseAddress": "浙江省杭州市余杭区文一西路969号",
        "baseLatitude": 30.2793,
        "baseLongitude": 120.0264,
        "baseAccuracy": 100,
        "gmtCreate": check_ms,
        "gmtModified": check_ms,
    }
    if not legal:
        record["invalidRecordType"] = "Security"
        record["invalidRecordMsg"] = "疑似作弊打卡"
    return record


def punches_between(
    tenant: Tenant, userids: Sequence[str], first: dt.date, last: dt.date
) -> list[dict[str, Any]]:
    """What attendance/listRecord knows of `userids` on work dates first..last, now: every
    punch, invalid ones included, by person then time. NotSigned check points have none."""
    window = _window(tenant, userids, first, last)
    uploads, now_ms = window.uploads, window.now_ms
    found: list[dict[str, Any]] = []
    for userid in window.userids:
        records: list[dict[str, Any]] = []
        for day in window.days:
            for point in generated_day(userid, day):
                if point.check_ms is None or point.source_type not in PUNCH_SOURCES:
                    continue
                records.append(_punch_record(point, point.check_ms))
                if unit(userid, day, f"{point.check_type}.invalid") < 0.03:
                    # A rejected extra punch (e.g. a mocked location): returned, marked.
                    records.append(_punch_record(point, point.check_ms - 120_000, legal=False))
            for upload in uploads.get((userid, day), ()):
                check_type = check_type_of(upload.check_ms)
                point = CheckPoint(
                    userid,
                    day,
                    check_type,
                    local_ms(day, BASE_TIMES[check_type]),
                    "",
                    "Normal",
                    UPLOAD_SOURCE,
                    upload.check_ms,
                    0,
                    None,
                    plan_id_of(userid, day, check_type),
                )
                record = _punch_record(point, upload.check_ms)
                record.update(
                    id=UPLOAD_ID_BASE + upload.id,
                    deviceId=upload.device_id,
                    deviceSN=upload.device_id,
                    locationMethod="ATM",
                )
                for key in ("userAddress", "userLatitude", "userLongitude", "userAccuracy"):
                    record.pop(key)
                if upload.photo_url:
                    record["photoUrl"] = upload.photo_url
                records.append(record)
        found.extend(
            sorted(
                (r for r in records if r["userCheckTime"] <= now_ms),
                key=lambda r: (r["userCheckTime"], r["id"]),
            )
        )
    return found


def day_punches(tenant: Tenant, userid: str, day: dt.date) -> list[dict[str, Any]]:
    """What attendance/listRecord knows of one person's work date, now."""
    return punches_between(tenant, [userid], day, day)
