"""DingTalk errcodes → the one error hierarchy (`reconciler.errors`). Pure: no I/O.

Branch on ``errcode`` (an int, or a *string* in some documented samples: ``"errcode":"0"``),
never on ``errmsg``, whose wording changes. errcode 88 is a TOP-gateway wrapper whose real
cause is in ``sub_code``. The IP-level ban has no errcode at all: its body is
``{"status":1111,"wait":5,...}`` (a five-minute ban).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.dingtalk.redact import redact
from reconciler.errors import (
    BusyError,
    DingTalkError,
    MissingPermissionError,
    QuotaExhaustedError,
    TerminalError,
    ThrottledError,
    TokenError,
)

OK = 0
BUSY = -1  # 系统繁忙: "retry a little later, at most 3 times"
GATEWAY_WRAPPER = 88  # 鉴权异常: the cause is in sub_code
NOT_FOUND = 60121  # 找不到该用户; also left / not yet joined / other org
INVALID_USERID = 33012  # 无效的userId: what the user/get and user/delete pages document
NOT_FOUND_ERRCODES: Mapping[str, frozenset[int]] = {
    "topapi/v2/user/get": frozenset({NOT_FOUND, INVALID_USERID}),
    "topapi/v2/user/delete": frozenset({NOT_FOUND, INVALID_USERID}),
}
"""An unknown userid: the FAQ says 60121, the user/get and user/delete pages say 33012. Other
APIs answer 60121 only (33012 elsewhere is a malformed userid, not an absent one)."""
BAD_PARAMETER_ERRCODES = frozenset({40035, 400002})
"""不合法的参数: 40035 on the old pages, 400002 on several v2 pages (department/get,
listsubid, getbymobile, user/get, user/delete). Terminal either way."""
NO_PERMISSION = 60011
DEPT_OUT_OF_SCOPE = 50004
USER_OUT_OF_SCOPE = 50002
QUOTA_EXHAUSTED = 90020

IP_BAN_STATUS = 1111
"""``status`` of the per-egress-IP ban body (10,000 requests / 20 s → blocked 5 minutes)."""

IP_BAN_WAIT_UNIT = 60.0
"""Seconds per unit of the ban body's ``wait``. The body says ``"wait":5`` and the documented
ban lasts 5 minutes, so ``wait`` counts minutes. Waiting too long costs minutes; retrying
inside a ban could extend it and fail the run, so we read it as minutes."""

TOKEN_ERRCODES = frozenset({40014, 42001, 40001, 33001, 41001})
"""不合法的access_token, access_token超时, invalid credential, invalid corp, missing token."""

TOKEN_SUB_CODES = frozenset({"40014", "42001"})
"""errcode 88 wrapping an invalid/expired token (``ding talk error[subcode=40014,...]``)."""

PERMISSION_SUB_CODES = frozenset({"60011"})
"""errcode 88 wrapping "no permission for this API": retrying cannot help."""

PERMISSION_OF_API: Mapping[str, str] = {
    "topapi/v2/department/listsubid": "qyapi_get_department_list",
    "topapi/v2/department/get": "qyapi_get_department_list",
    "topapi/v2/user/list": "qyapi_get_department_member",
    "topapi/v2/user/get": "qyapi_get_member",
    "topapi/v2/user/getbymobile": "qyapi_get_member_by_mobile",
    "topapi/v2/department/create": "qyapi_manage_addresslist",
    "topapi/v2/department/update": "qyapi_manage_addresslist",
    "topapi/v2/department/delete": "qyapi_manage_addresslist",
    "topapi/v2/user/create": "qyapi_manage_addresslist",
    "topapi/v2/user/update": "qyapi_manage_addresslist",
    "topapi/v2/user/delete": "qyapi_manage_addresslist",
    "attendance/list": "qyapi_get_attendance_data",
    "attendance/listRecord": "qyapi_get_attendance_data",
}
"""The permission point (权限点) each API needs, as the API pages name them: named in a 60011
error when DingTalk's answer does not name it itself."""

_PERMISSION_CODE = re.compile(r"\b(qyapi_[a-z_]+|[A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+){2,})\b")
"""A permission point in an error message: ``qyapi_get_member`` or ``Contact.User.Read``."""

THROTTLE_ERRCODES = frozenset({90018, 90002, 90005, 90006, 90019})
"""Per app/API QPS (90018), global per API (90002), per minute (90005/90006), ISV (90019)."""

QPS_THROTTLE_ERRCODES = frozenset({90018, 90002})
"""Per-second throttles (per app and API, global per API): the window is one second, so the
call may go again in the next free slot; the per-minute ones (90005/90006) back off."""

HINTS: Mapping[int, str] = {
    # What to do about an errcode, for people (one wording, used by every command).
    40001: "check DINGTALK_APP_KEY and DINGTALK_APP_SECRET",
    40089: "check DINGTALK_APP_KEY and DINGTALK_APP_SECRET",
    43007: "the app lacks a permission for this API (权限管理; writes: qyapi_manage_addresslist)",
    60011: "the app lacks a permission for this API (权限管理; writes: qyapi_manage_addresslist)",
    60020: "the egress IP is not on the app's allow-list (开发配置 → 安全中心)",
    USER_OUT_OF_SCOPE: "the user is outside the app's contact scope (可使用范围): widen it",
    DEPT_OUT_OF_SCOPE: "the department is outside the app's contact scope (可使用范围): widen it",
    60002: "the department tree is too deep for DingTalk",
    60003: "department not found: it changed in DingTalk since it was read; re-run",
    60004: "parent department not found: it changed in DingTalk since it was read",
    60005: "department still has members: move or delete them first",
    60006: "department still has sub-departments: delete or move them first",
    60007: "the root department cannot be deleted",
    60010: "the move would make a department its own ancestor",
    60018: "the root department cannot be updated",
    60021: "a sibling department already has this name",
    60102: "the userid already exists in DingTalk (created since it was read?)",
    60103: "invalid mobile: use +<country code>-<number>",
    40104: "invalid mobile: use +<country code>-<number>",
    60104: "mobile already used by another member",
    60107: "mobile already used by another member",
    60106: "email already used by another member",
    40101: "email already used by another member",
    40100: "extension (telephone) already used by another member",
    60121: "user not found: it changed in DingTalk since it was read; re-run",
    60128: "the manager userid does not exist",
    40103: "invitation pending: the person must accept it; the next apply tries again",
    40022: "DingTalk cannot change a mobile: delete and re-create the user",
    41054: "DingTalk cannot change a mobile: delete and re-create the user",
    12150: "智能人事 position management blocks title/department changes: use the HR transfer",
    QUOTA_EXHAUSTED: "the org's monthly API quota is spent: wait for next month or upgrade",
    40056: "notify.agent_id is not this app's AgentID (开发者后台 → 应用详情)",
    41011: "notify.agent_id is missing",
    1430000: "a work notice needs at least one recipient",
    1430002: "DingTalk refused the notice's content (违禁内容)",
    1430003: "DingTalk's system protection refused the notice (触发OAPI系统保护): try later",
}


def parse_int(value: object) -> int | None:
    """DingTalk's integers (errcodes, ids, counts, cursors), which documented samples sometimes
    send as strings: ``0``, ``"0"`` and ``" 90018 "`` are integers; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def sub_code_of(body: Mapping[str, Any]) -> str:
    """errcode 88's real cause: ``sub_code`` or the ``subcode=`` inside ``errmsg``."""
    sub_code = body.get("sub_code")
    if sub_code is not None and str(sub_code).strip():
        return str(sub_code).strip()
    errmsg = redact(str(body.get("errmsg", "")))  # an echoed token must not reach a message
    marker = "subcode="
    start = errmsg.find(marker)
    if start < 0:
        return ""
    rest = errmsg[start + len(marker) :]
    end = min((i for i in (rest.find(","), rest.find("]")) if i >= 0), default=len(rest))
    return rest[:end].strip()


def is_ip_ban(body: Mapping[str, Any]) -> bool:
    return "errcode" not in body and parse_int(body.get("status")) == IP_BAN_STATUS


def classify(api: str, body: Mapping[str, Any]) -> DingTalkError | None:
    """The error a parsed response body stands for, or None when it is a success."""
    if is_ip_ban(body):
        wait = body.get("wait")
        minutes = float(wait) if isinstance(wait, int | float) and not isinstance(wait, bool) else 5
        return ThrottledError(
            api,
            None,  # the ban body has a status, not an errcode
            f"the egress IP is banned by DingTalk for {minutes:g} min (status 1111)",
            wait=minutes * IP_BAN_WAIT_UNIT,
        )
    raw = body.get("errcode")
    errcode = parse_int(raw)
    errmsg = redact(str(body.get("errmsg", "")))  # an echoed token must not reach a message
    if errcode is None:
        return TerminalError(api, None, f"unexpected answer: errcode {raw!r}")
    if errcode == OK:
        return None
    if errcode == BUSY:
        return BusyError(api, errcode, errmsg)
    if errcode in THROTTLE_ERRCODES:
        return ThrottledError(api, errcode, errmsg)
    if errcode in TOKEN_ERRCODES:
        return TokenError(api, errcode, errmsg)
    if errcode == GATEWAY_WRAPPER:
        sub_code = sub_code_of(body)
        if sub_code in TOKEN_SUB_CODES:
            return TokenError(api, errcode, errmsg)
        if sub_code in PERMISSION_SUB_CODES:
            return _missing_permission(api, errcode, errmsg, body)
        # HS: 88 often accompanies short throttling bursts lasting about a second.
        return ThrottledError(api, errcode, errmsg)
    if errcode == NO_PERMISSION:
        return _missing_permission(api, errcode, errmsg, body)
    if errcode == QUOTA_EXHAUSTED:
        return QuotaExhaustedError(api, errcode, errmsg, HINTS[QUOTA_EXHAUSTED])
    return TerminalError(api, errcode, errmsg, HINTS.get(errcode, ""))


def is_not_found(api: str, errcode: int | None) -> bool:
    """Whether ``errcode`` from ``api`` means "no such (active) user"."""
    return errcode in NOT_FOUND_ERRCODES.get(api.strip("/"), frozenset({NOT_FOUND}))


def _missing_permission(
    api: str, errcode: int, errmsg: str, body: Mapping[str, Any]
) -> MissingPermissionError:
    # The answer may name the permission point (sub_msg, errmsg); else the API's page does.
    said = " ".join(redact(str(body.get(k, ""))) for k in ("sub_msg", "submsg", "errmsg"))
    named = _PERMISSION_CODE.search(said)
    permission = named.group(1) if named else PERMISSION_OF_API.get(api.strip("/"), "")
    return MissingPermissionError(api, errcode, errmsg, permission or "this API needs")
