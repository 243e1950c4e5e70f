"""The DingTalk APIs `orgctl doctor` calls, the console permission each needs, and how to tell
a permission error from any other answer. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.dingtalk.errcodes import GATEWAY_WRAPPER
from reconciler.errors import DingTalkError, ThrottledError, TokenError

SCRATCH_PREFIX = "orgctl_doctor_"
"""Names of scratch departments. DingTalk refuses ``-`` in department names (60009), so the
words are joined with ``_``; the leftover sweep finds departments by this prefix."""
SCRATCH_USER_PREFIX = "orgctl-doctor-"

LISTSUBID = "topapi/v2/department/listsubid"
DEPT_GET = "topapi/v2/department/get"
DEPT_CREATE = "topapi/v2/department/create"
DEPT_UPDATE = "topapi/v2/department/update"
DEPT_DELETE = "topapi/v2/department/delete"
USER_LIST = "topapi/v2/user/list"
USER_GET = "topapi/v2/user/get"
USER_BY_MOBILE = "topapi/v2/user/getbymobile"
USER_CREATE = "topapi/v2/user/create"
USER_UPDATE = "topapi/v2/user/update"
USER_DELETE = "topapi/v2/user/delete"

READ_PERMISSIONS: Mapping[str, str] = {
    LISTSUBID: "qyapi_get_department_list",
    DEPT_GET: "qyapi_get_department_list",
    USER_LIST: "qyapi_get_department_member",
    USER_GET: "qyapi_get_member",
    USER_BY_MOBILE: "qyapi_get_member_by_mobile",
}
"""The console permission point (开发者后台 → 权限管理) each API orgctl reads needs."""
OPTIONAL_PERMISSIONS = frozenset({"qyapi_get_member_by_mobile"})
"""Plan and apply work without these (apply uses a mobile lookup only to explain 60104)."""
WRITE_PERMISSION = "qyapi_manage_addresslist"
"""通讯录数据管理权限: every department and user write."""

PERMISSION_ERRCODES = frozenset({60011, 43007})
"""No permission for this API; errcode 88 wraps 60011 as a sub_code (the client turns only
that 88 into a TerminalError: a token 88 is refreshed, any other 88 is a throttle)."""


def is_write(api: str) -> bool:
    return api.rsplit("/", 1)[-1] in ("create", "update", "delete")


def is_permission_error(error: DingTalkError) -> bool:
    if error.errcode in PERMISSION_ERRCODES:
        return True
    return error.errcode == GATEWAY_WRAPPER and not isinstance(error, ThrottledError | TokenError)


def error_code(error: DingTalkError) -> str:
    return f"errcode {error.errcode}" if error.errcode is not None else error.errmsg
