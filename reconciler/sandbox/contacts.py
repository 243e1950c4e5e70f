"""Handlers for the contacts endpoints (old API family, ``topapi/v2/*``).
No I/O of their own: the tenant owns the SQLite database.

Each handler takes the tenant and the parsed JSON body and returns the response body
(``errcode`` 0 included; the router adds ``request_id``) or raises ApiError. Request fields
are coerced the lenient way DingTalk's gateway does: numbers may arrive as strings, lists as
comma-separated strings (``"2,3,4"``), which is how the docs and the TOP SDKs send them.
Response shapes follow DingTalk's department and user pages and their published samples
(see tests/sandbox/samples.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from reconciler.sandbox.errors import ApiError, ParamError
from reconciler.sandbox.tenant import ROOT_DEPT_ID, Tenant

Body = dict[str, Any]
Handler = Callable[[Tenant, Body], Body]

MAX_PAGE_SIZE = 100  # user/list: 1 ≤ size ≤ 100 [TOPPHP, ULS]
OK: Body = {"errcode": 0, "errmsg": "ok"}


BAD_PARAM_400002 = frozenset(
    {
        "topapi/v2/department/get",
        "topapi/v2/department/delete",
        "topapi/v2/department/listsubid",
        "topapi/v2/user/get",
        "topapi/v2/user/delete",
        "topapi/v2/user/list",
        "topapi/v2/user/getbymobile",
    }
)
"""The v2 pages whose error table lists 400002 for a bad parameter (the others list 40035)."""

UPDATE_ONLY_DEPT_FIELDS = ("dept_manager_userid_list", "auto_add_user")
"""Documented on department/update, not on department/create."""


def _missing(key: str) -> ApiError:
    return ParamError(f"缺少参数 {key}")


def _invalid(key: str) -> ApiError:
    return ParamError(f"不合法的参数 {key}")


def _int(body: Body, key: str, *, required: bool = False) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise _missing(key)
        return None
    if isinstance(value, bool):
        raise _invalid(key)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _invalid(key)


def _req_int(body: Body, key: str) -> int:
    value = _int(body, key, required=True)
    assert value is not None
    return value


def _str(body: Body, key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid(key)
    text = str(value)
    if required and not text:
        raise _missing(key)
    return text


def _req_str(body: Body, key: str) -> str:
    value = _str(body, key, required=True)
    assert value is not None
    return value


def _bool(body: Body, key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _invalid(key)


def _str_list(body: Body, key: str) -> list[str] | None:
    """A list of strings, sent as ``"a,b"`` (documented) or as a JSON array."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int) and not isinstance(value, bool):  # one id, sent as a number
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value]
    raise _invalid(key)


def _int_list(body: Body, key: str, errcode: int = 40035) -> list[int] | None:
    items = _str_list(body, key)
    if items is None:
        return None
    try:
        return [int(item) for item in items]
    except ValueError:
        raise (
            _invalid(key) if errcode == 40035 else ApiError(errcode, f"不合法的参数 {key}")
        ) from None


def _json_list(body: Body, key: str) -> list[Body]:
    """Object arrays (dept_order_list): a JSON array, or that array JSON-encoded in a string."""
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _invalid(key) from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _invalid(key)
    return value


def _extension(body: Body) -> dict[str, Any] | None:
    """extension: SDKs send a JSON-encoded string; the create doc calls it an Object."""
    value = body.get("extension")
    if value is None:
        return None
    if isinstance(value, str):
        if not value:
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError(60122, "扩展属性不合法") from None
    if not isinstance(value, dict):
        raise ApiError(60122, "扩展属性不合法")
    return value


def _force_fields(body: Body) -> list[str]:
    return _str_list(body, "force_update_fields") or []


# -- departments -------------------------------------------------------------------------

_DEPT_BOOL_ATTRS = (
    "hide_dept",
    "outer_dept",
    "outer_dept_only_self",
    "create_dept_group",
    "auto_add_user",
    "auto_approve_apply",
    "group_contain_sub_dept",
)


def _dept_attrs(body: Body) -> Body:
    attrs: Body = {}
    for key in _DEPT_BOOL_ATTRS:
        flag = _bool(body, key)
        if flag is not None:
            attrs[key] = flag
    for key in ("dept_permits", "outer_permit_depts"):
        ids = _int_list(body, key)
        if ids is not None:
            attrs[key] = ids
    for key in ("user_permits", "outer_permit_users"):
        users = _str_list(body, key)
        if users is not None:
            attrs[key] = users
    for key in ("org_dept_owner", "brief", "code"):
        text = _str(body, key)
        if text is not None:
            attrs[key] = text
    return attrs


def department_create(tenant: Tenant, body: Body) -> Body:
    name = _req_str(body, "name")
    parent_id = _req_int(body, "parent_id")
    if tenant.profile.strict_create_fields:
        for key in UPDATE_ONLY_DEPT_FIELDS:
            if key in body:
                # Only department/update documents these; the create page's table has no row
                # for them, and its only parameter errcode is 40035.
                raise ApiError(40035, f"不合法的参数 {key}：创建部门不支持该参数")
    tenant.require_dept_in_scope(parent_id)
    dept_id = tenant.create_department(
        name,
        parent_id,
        order=_int(body, "order"),
        source_identifier=_str(body, "source_identifier"),
        attrs=_dept_attrs(body),
    )
    return {**OK, "result": {"dept_id": dept_id}}


def department_update(tenant: Tenant, body: Body) -> Body:
    dept_id = _req_int(body, "dept_id")
    tenant.require_dept_in_scope(dept_id)
    changes: Body = _dept_attrs(body)
    name = _str(body, "name")
    if name is not None:
        changes["name"] = name
    for key in ("parent_id", "order"):
        number = _int(body, key)
        if number is not None:
            changes[key] = number
    source_identifier = _str(body, "source_identifier")
    if source_identifier is not None:
        changes["source_identifier"] = source_identifier
    managers = _str_list(body, "dept_manager_userid_list")
    if managers is not None:
        changes["dept_manager_userid_list"] = managers
    tenant.update_department(dept_id, changes, _force_fields(body))
    return dict(OK)


def department_delete(tenant: Tenant, body: Body) -> Body:
    dept_id = _req_int(body, "dept_id")
    tenant.require_dept_in_scope(dept_id)
    tenant.delete_department(dept_id)
    return dict(OK)


def department_get(tenant: Tenant, body: Body) -> Body:
    dept_id = _req_int(body, "dept_id")
    tenant.require_dept_in_scope(dept_id)
    return {**OK, "result": tenant.department_view(dept_id)}


def department_listsub(tenant: Tenant, body: Body) -> Body:
    dept_id = _int(body, "dept_id") or ROOT_DEPT_ID  # optional here, root by default [DLS]
    tenant.require_department(dept_id)
    tenant.require_dept_in_scope(dept_id)
    return {**OK, "result": [tenant.dept_summary(i) for i in tenant.child_ids(dept_id)]}


def department_listsubid(tenant: Tenant, body: Body) -> Body:
    dept_id = _req_int(body, "dept_id")
    tenant.require_department(dept_id)  # not limited by the contact scope [DLSI]
    return {**OK, "result": {"dept_id_list": tenant.child_ids(dept_id)}}


# -- users -------------------------------------------------------------------------------

_USER_STR_FIELDS = (
    "title",
    "email",
    "job_number",
    "telephone",
    "work_place",
    "remark",
    "org_email",
)


def _user_fields(body: Body) -> Body:
    fields: Body = {}
    for key in _USER_STR_FIELDS:
        text = _str(body, key)
        if text is not None:
            fields[key] = text
    manager = _str(body, "manager_userid")
    if manager is not None:
        fields["manager_userid"] = manager
    hired = _int(body, "hired_date")
    if hired is not None:
        fields["hired_date"] = hired
    for key in ("hide_mobile", "senior_mode"):
        flag = _bool(body, key)
        if flag is not None:
            fields[key] = flag
    extension = _extension(body)
    if extension is not None:
        fields["extension"] = extension
    return fields


def _dept_orders(body: Body) -> dict[int, int]:
    orders: dict[int, int] = {}
    for item in _json_list(body, "dept_order_list"):
        dept_id, order = _int(item, "dept_id"), _int(item, "order")
        if dept_id is None or order is None:
            raise _invalid("dept_order_list")
        orders[dept_id] = order
    return orders


def user_create(tenant: Tenant, body: Body) -> Body:
    name = _req_str(body, "name")
    mobile = _req_str(body, "mobile")
    dept_ids = _int_list(body, "dept_id_list", errcode=40066)
    if dept_ids is None:
        raise _missing("dept_id_list")
    for dept_id in dept_ids:
        tenant.require_dept_in_scope(dept_id)
    userid = tenant.create_user(
        _str(body, "userid") or None,
        name,
        mobile,
        dept_ids,
        dept_orders=_dept_orders(body),
        fields=_user_fields(body),
    )
    unionid = str(tenant.require_user(userid)["unionid"])  # the row: no need for a full view
    if tenant.invitation_pending(mobile):
        # The person must accept an invitation first (account protection, or a member of
        # another certified org): the account exists but is inactive until they do.
        tenant.set_active(userid, False)
        return {"errcode": 40103, "errmsg": "已发送邀请，需要对方同意后才能加入企业"}
    return {**OK, "result": {"userid": userid, "unionId": unionid}}


def user_update(tenant: Tenant, body: Body) -> Body:
    if not tenant.profile.empty_string_clears:
        # DingTalk's own SDKs drop empty strings before sending, and the update page documents
        # clearing only through force_update_fields: an "" reaches no field.
        body = {key: value for key, value in body.items() if value != ""}
    userid = _req_str(body, "userid")
    tenant.require_user(userid)
    tenant.require_user_in_scope(userid)
    changes: Body = _user_fields(body)
    for key in ("name", "mobile"):
        text = _str(body, key)
        if text is not None:
            changes[key] = text
    dept_ids = _int_list(body, "dept_id_list", errcode=40066)
    if dept_ids is not None:
        for dept_id in dept_ids:
            tenant.require_dept_in_scope(dept_id)
        changes["dept_id_list"] = dept_ids
    if "dept_order_list" in body:
        changes["dept_orders"] = _dept_orders(body)
    tenant.update_user(
        userid,
        changes,
        force_update_fields=_force_fields(body),
        append_extension=_int(body, "ext_attrs_update_mode") == 1,
    )
    return {"errcode": 0}  # S15: user/update answers errcode and request_id only


def _known_user(tenant: Tenant, body: Body) -> str:
    """user/get and user/delete: their pages answer 33012 "无效的userId" for an unknown
    userid, the FAQ 60121; the profile picks."""
    userid = _req_str(body, "userid")
    if tenant.get_user(userid) is None:
        errcode = tenant.profile.unknown_user_errcode
        raise ApiError(errcode, "无效的userId" if errcode == 33012 else "找不到该用户")
    tenant.require_user_in_scope(userid)
    return userid


def user_delete(tenant: Tenant, body: Body) -> Body:
    tenant.delete_user(_known_user(tenant, body))
    return dict(OK)


def user_get(tenant: Tenant, body: Body) -> Body:
    return {**OK, "result": tenant.user_view(_known_user(tenant, body))}


def user_list(tenant: Tenant, body: Body) -> Body:
    dept_id = _req_int(body, "dept_id")
    tenant.require_department(dept_id)
    tenant.require_dept_in_scope(dept_id)
    cursor = _req_int(body, "cursor")
    size = _req_int(body, "size")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(40035, f"不合法的参数 size：须在1到{MAX_PAGE_SIZE}之间")
    if cursor < 0:
        raise _invalid("cursor")
    members = tenant.member_ids(dept_id)
    page = members[cursor : cursor + size]
    has_more = cursor + size < len(members)
    result: Body = {"has_more": has_more}
    if has_more:  # next_cursor is absent on the last page
        result["next_cursor"] = cursor + size
    result["list"] = [tenant.list_item(userid, dept_id) for userid in page]
    return {**OK, "result": result}


def user_listid(tenant: Tenant, body: Body) -> Body:
    dept_id = _req_int(body, "dept_id")
    return {**OK, "result": {"userid_list": tenant.member_ids(dept_id)}}


def user_getbymobile(tenant: Tenant, body: Body) -> Body:
    userid = tenant.userid_by_mobile(_req_str(body, "mobile"))
    tenant.require_user_in_scope(userid)
    return {**OK, "result": {"userid": userid}}


ROUTES: dict[str, Handler] = {
    "topapi/v2/department/create": department_create,
    "topapi/v2/department/update": department_update,
    "topapi/v2/department/delete": department_delete,
    "topapi/v2/department/get": department_get,
    "topapi/v2/department/listsub": department_listsub,
    "topapi/v2/department/listsubid": department_listsubid,
    "topapi/v2/user/create": user_create,
    "topapi/v2/user/update": user_update,
    "topapi/v2/user/delete": user_delete,
    "topapi/v2/user/get": user_get,
    "topapi/v2/user/list": user_list,
    "topapi/user/listid": user_listid,
    "topapi/v2/user/getbymobile": user_getbymobile,
}
