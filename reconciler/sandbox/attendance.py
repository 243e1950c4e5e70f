"""Attendance (考勤) on the sandbox tenant: attendance/list, attendance/listRecord and
topapi/attendance/record/upload: the request checks, shapes, limits and errcodes of DingTalk;
the records come from `attendance_records`.
I/O: record/upload stores a punch in the tenant's SQLite database.

Rules kept from DingTalk: attendance/list covers at most 7 dates (both ends included) and
listRecord at most 7 days (time of day counting), else errcode 41041 "时间跨度太大"; at most
50 userids and ``limit`` at most 50, else 40035 (DingTalk's errcode for these is not
documented); nothing older than 180 days is kept (queries answer empty for those days, as no
errcode is documented; uploads are refused); unknown userids just give no records. "Now" is
the tenant's clock: no check point appears before it has happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from reconciler.sandbox.attendance_days import TZ, epoch_ms, work_date_of
from reconciler.sandbox.attendance_records import (
    RETENTION_DAYS,
    punches_between,
    results_between,
    today,
)
from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.tenant import Tenant

MAX_USERS = 50
MAX_DAYS = 7
MAX_LIMIT = 50
INVALID_PARAM = 40035
SPAN_TOO_LARGE = 41041


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
    start_ms, end_ms = epoch_ms(start), epoch_ms(end)
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
