"""Attendance (考勤) on the sandbox tenant: attendance/list, attendance/listRecord and
topapi/attendance/record/upload, with the shapes, limits and errcodes of reference §6.
I/O: uploaded punches live in the tenant's SQLite database; generated days are computed.

The emulated org works 09:00–18:00 Asia/Shanghai on weekdays. Every person's day is
*generated*: a seeded hash of (userid, work date) picks each check point's result, punch time,
location and source, so the same tenant answers the same way on every run and a test can
compute the expected answer directly (`results_between`, `punches_between` and their one-day
forms `day_results`, `day_punches`) without the API. Punches
uploaded through record/upload are stored and take part like real punches: they show up in
listRecord and can change the day's result for the check point they fall in.

Rules kept from DingTalk: attendance/list covers at most 7 dates (both ends included) and
listRecord at most 7 days (time of day counting), else errcode 41041 "时间跨度太大"; at most
50 userids and ``limit`` at most 50, else 40035 (DingTalk's errcode for these is not
documented); nothing older than 180 days is kept (queries answer empty for those days, as no
errcode is documented; uploads are refused); unknown userids just give no records. "Now" is
the tenant's clock: no check point appears before it has happened.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.tenant import Tenant, register_schema

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

MAX_USERS = 50
MAX_DAYS = 7
MAX_LIMIT = 50
RETENTION_DAYS = 180
GROUP_ID = 685935028
CORP_ID = "ding0123456789abcdef"
UPLOAD_ID_BASE = 70_000_000_000
PUNCH_SOURCES = frozenset({"USER", "ATM", "BEACON", "DING_ATM", "AUTO_CHECK"})
"""Sources that are a real punch (a listRecord row); APPROVE, BOSS and SYSTEM are not."""
UPLOAD_SOURCE = "ATM"
"""record/upload punches come from a third-party attendance machine (考勤机)."""

INVALID_PARAM = 40035
SPAN_TOO_LARGE = 41041

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


# --- the generator: pure, deterministic per (userid, work date) ----------------------------


def _unit(userid: str, day: dt.date, what: str) -> float:
    """A number in [0, 1) fixed by (userid, day, what): sha256, so no Python version or
    process (PYTHONHASHSEED) changes it."""
    digest = hashlib.sha256(f"{SEED}|{userid}|{day.isoformat()}|{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _stable_id(base: int, *parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, (SEED, *parts))).encode()).digest()
    return base + int.from_bytes(digest[:6], "big") % 9_000_000_000


def _plan_id(userid: str, day: dt.date, check_type: str) -> int:
    """The check point's planId: the same for its generated record and uploaded punches."""
    return _stable_id(140_000_000_000, userid, day, check_type, "plan")


def _pick(u: float, weights: Sequence[tuple[str, float]]) -> str:
    total = sum(w for _, w in weights)
    edge = 0.0
    for value, weight in weights:
        edge += weight / total
        if u < edge:
            return value
    return weights[-1][0]


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def local_ms(day: dt.date, at: dt.time) -> int:
    return _ms(dt.datetime.combine(day, at, TZ))


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
            return _unit(userid, day, f"{check_type}.{what}")

        base_ms = local_ms(day, BASE_TIMES[check_type])
        result = _pick(u("result"), results)
        point_id = _stable_id(100_000_000_000, userid, day, check_type)
        plan_id = _plan_id(userid, day, check_type)
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
                _stable_id(40_000_000_000, userid, day, check_type, "record"),
                plan_id,
                approve_id=_stable_id(10_000_000_000, userid, day, check_type, "approve")
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


def _apply_uploads(
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


# --- reading the tenant ------------------------------------------------------------------


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
            points = _apply_uploads(generated_day(userid, day), uploads.get((userid, day), ()))
            records.extend(p.as_result() for p in points if p.happened_ms <= now_ms)
    return records


def day_results(tenant: Tenant, userid: str, day: dt.date) -> list[dict[str, Any]]:
    """What attendance/list answers for one person and one work date, now."""
    return results_between(tenant, [userid], day, day)


def _punch_record(point: CheckPoint, check_ms: int, *, legal: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": _stable_id(50_000_000_000, point.userid, point.work_date, point.check_type, check_ms),
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
                if _unit(userid, day, f"{point.check_type}.invalid") < 0.03:
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
                    _plan_id(userid, day, check_type),
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


# --- request parsing ---------------------------------------------------------------------


def _require(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise ApiError(INVALID_PARAM, f"缺少参数 {name}")
    return value


def _moment(body: dict[str, Any], name: str) -> dt.datetime:
    text = str(_require(body, name)).strip()
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=TZ)
    except ValueError:
        raise ApiError(INVALID_PARAM, f"{name} 格式错误，应为 yyyy-MM-dd HH:mm:ss") from None


def _int(body: dict[str, Any], name: str) -> int:
    value = _require(body, name)
    if isinstance(value, bool):
        raise ApiError(INVALID_PARAM, f"{name} 不合法")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ApiError(INVALID_PARAM, f"{name} 不合法") from None


def _userids(body: dict[str, Any], name: str) -> list[str]:
    value = _require(body, name)
    if isinstance(value, str):  # the gateway also takes "a,b,c", as the TOP SDKs send it
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(INVALID_PARAM, f"{name} 不合法")
    unique = list(dict.fromkeys(value))
    if len(unique) > MAX_USERS:
        raise ApiError(INVALID_PARAM, f"{name} 最多{MAX_USERS}个")
    return unique


# --- handlers ----------------------------------------------------------------------------


def attendance_list(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """``attendance/list``: punch results, one per scheduled check point, offset-paged."""
    first = _moment(body, "workDateFrom").date()  # the time part is ignored [AL]
    last = _moment(body, "workDateTo").date()
    userids = _userids(body, "userIdList")
    offset = _int(body, "offset")
    limit = _int(body, "limit")
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(INVALID_PARAM, f"offset 或 limit 不合法 (limit 最大{MAX_LIMIT})")
    if last < first:
        raise ApiError(INVALID_PARAM, "workDateTo 早于 workDateFrom")
    if (last - first).days >= MAX_DAYS:
        raise ApiError(SPAN_TOO_LARGE, "时间跨度太大")
    records = results_between(tenant, userids, first, last)
    page = records[offset : offset + limit]
    return {
        "errcode": 0,
        "errmsg": "ok",
        "recordresult": page,
        "hasMore": offset + limit < len(records),
    }


def attendance_list_record(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """``attendance/listRecord``: every punch between two moments (time of day counts)."""
    start = _moment(body, "checkDateFrom")
    end = _moment(body, "checkDateTo")
    userids = _userids(body, "userIds")
    if end < start:
        raise ApiError(INVALID_PARAM, "checkDateTo 早于 checkDateFrom")
    if end - start > dt.timedelta(days=MAX_DAYS):
        raise ApiError(SPAN_TOO_LARGE, "时间跨度太大")
    start_ms, end_ms = _ms(start), _ms(end)
    records = [
        r
        for r in punches_between(tenant, userids, start.date(), end.date())
        if start_ms <= r["userCheckTime"] <= end_ms
    ]
    return {"errcode": 0, "errmsg": "ok", "recordresult": records}


def record_upload(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """``topapi/attendance/record/upload``: store one third-party punch (sample S15)."""
    userid = str(_require(body, "userid"))
    device_name = str(_require(body, "device_name"))
    device_id = str(_require(body, "device_id"))
    check_ms = _int(body, "user_check_time")
    photo_url = body.get("photo_url") or None
    now_ms = round(tenant.clock.now() * 1000)
    if check_ms > now_ms:
        raise ApiError(INVALID_PARAM, "user_check_time 不能晚于当前时间")
    if work_date_of(check_ms) < today(tenant) - dt.timedelta(days=RETENTION_DAYS):
        raise ApiError(INVALID_PARAM, f"user_check_time 只能是最近{RETENTION_DAYS}天内")
    with tenant.transaction() as db:
        tenant.require_user(userid)  # 60121 找不到该用户
        db.execute(
            "INSERT INTO attendance_uploads "
            "(userid, device_name, device_id, check_ms, photo_url, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (userid, device_name, device_id, check_ms, photo_url, now_ms),
        )
    # S15; the router adds request_id to topapi answers.
    return {"errcode": 0, "success": True}


ROUTES: dict[str, Callable[[Tenant, dict[str, Any]], dict[str, Any]]] = {
    "attendance/list": attendance_list,
    "attendance/listRecord": attendance_list_record,
    "topapi/attendance/record/upload": record_upload,
}
