"""Every rule the sandbox enforces, triggered over real HTTP (serve() on 127.0.0.1).

Each test checks the errcode and that the refused write changed nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.clock import FakeClock
from reconciler.sandbox import LENIENT, Sandbox
from tests.sandbox.helpers import Api, dept, user

MOBILE = "+86-15172391968"


def refused(api: Api, path: str, body: dict[str, Any], errcode: int) -> dict[str, Any]:
    answer = api.call(path, body)
    assert answer["errcode"] == errcode, answer
    assert answer["errmsg"]
    return answer


@pytest.fixture
def eng(sb: Sandbox) -> int:
    """研发中心 under the root, with 平台 below it; zhangsan is a member of 研发中心."""
    dept_id = sb.tenant.add_department("研发中心", source_identifier="eng")
    sb.tenant.add_department("平台", dept_id)
    sb.tenant.add_user("zhangsan", "张三", MOBILE, [dept_id])
    return dept_id


# -- departments ---------------------------------------------------------------------------


def test_parent_must_exist_60004(http_api: Api, sb: Sandbox):
    refused(http_api, "topapi/v2/department/create", {"name": "孤儿", "parent_id": 999}, 60004)
    assert len(sb.tenant.departments()) == 1


def test_sibling_names_are_unique_60021_on_create_and_rename(http_api: Api, sb: Sandbox, eng: int):
    refused(http_api, "topapi/v2/department/create", {"name": "研发中心", "parent_id": 1}, 60021)
    other = sb.tenant.add_department("市场部")
    refused(http_api, "topapi/v2/department/update", {"dept_id": other, "name": "研发中心"}, 60021)
    # The same name under another parent is fine.
    http_api.ok("topapi/v2/department/create", {"name": "研发中心", "parent_id": other})


@pytest.mark.parametrize(
    ("name", "errcode"),
    [
        ("名" * 65, 60001),
        ("研发-平台", 60009),
        ("研发,平台", 60009),
        ("研发，平台", 60009),
    ],
)
def test_department_names_60001_too_long_60009_forbidden_characters(
    http_api: Api, sb: Sandbox, name: str, errcode: int
):
    refused(http_api, "topapi/v2/department/create", {"name": name, "parent_id": 1}, errcode)
    assert len(sb.tenant.departments()) == 1
    http_api.ok("topapi/v2/department/create", {"name": "名" * 64, "parent_id": 1})


def test_the_root_cannot_be_deleted_60007(http_api: Api, sb: Sandbox):
    refused(http_api, "topapi/v2/department/delete", {"dept_id": 1}, 60007)
    assert sb.tenant.get_department(1) is not None


def test_a_department_with_members_cannot_be_deleted_60005(http_api: Api, sb: Sandbox, eng: int):
    refused(http_api, "topapi/v2/department/delete", {"dept_id": eng}, 60005)
    # Members of a sub-department count too.
    parent = sb.tenant.add_department("销售部")
    child = sb.tenant.add_department("华东区", parent)
    sb.tenant.add_user("lisi", "李四", "+86-13800138000", [child])
    refused(http_api, "topapi/v2/department/delete", {"dept_id": parent}, 60005)
    assert sb.tenant.get_department(parent) is not None


def test_a_department_with_sub_departments_cannot_be_deleted_60006(http_api: Api, sb: Sandbox):
    parent = sb.tenant.add_department("销售部")
    child = sb.tenant.add_department("华东区", parent)
    refused(http_api, "topapi/v2/department/delete", {"dept_id": parent}, 60006)
    # Bottom-up works.
    http_api.ok("topapi/v2/department/delete", {"dept_id": child})
    http_api.ok("topapi/v2/department/delete", {"dept_id": parent})
    assert [d["dept_id"] for d in sb.tenant.departments()] == [1]


def test_the_root_cannot_be_updated_60018(http_api: Api, sb: Sandbox):
    refused(http_api, "topapi/v2/department/update", {"dept_id": 1, "name": "新公司"}, 60018)
    assert dept(sb, 1)["name"] == "示例科技"


def test_a_move_cannot_make_a_cycle_60010(http_api: Api, sb: Sandbox, eng: int):
    (child,) = [d["dept_id"] for d in sb.tenant.departments() if d["name"] == "平台"]
    refused(http_api, "topapi/v2/department/update", {"dept_id": eng, "parent_id": child}, 60010)
    refused(http_api, "topapi/v2/department/update", {"dept_id": eng, "parent_id": eng}, 60010)
    assert dept(sb, eng)["parent_id"] == 1


def test_an_unknown_department_is_60003(http_api: Api):
    refused(http_api, "topapi/v2/department/get", {"dept_id": 424242}, 60003)
    refused(http_api, "topapi/v2/department/update", {"dept_id": 424242, "name": "x"}, 60003)
    refused(http_api, "topapi/v2/department/delete", {"dept_id": 424242}, 60003)
    refused(http_api, "topapi/v2/department/listsubid", {"dept_id": 424242}, 60003)
    body = {"dept_id": 424242, "cursor": 0, "size": 10}
    refused(http_api, "topapi/v2/user/list", body, 60003)


def test_department_managers_must_be_members_40031(http_api: Api, sb: Sandbox, eng: int):
    sb.tenant.add_user("lisi", "李四", "+86-13800138000", [1])
    body = {"dept_id": eng, "dept_manager_userid_list": "zhangsan,lisi"}
    answer = refused(http_api, "topapi/v2/department/update", body, 40031)
    assert "lisi" in answer["errmsg"]
    assert dept(sb, eng)["dept_manager_userid_list"] == []


def test_managers_are_cleared_only_through_force_update_fields(
    http_api: Api, sb: Sandbox, eng: int
):
    http_api.ok(
        "topapi/v2/department/update", {"dept_id": eng, "dept_manager_userid_list": "zhangsan"}
    )
    # An empty list is ignored, as DingTalk does [FAQ]…
    http_api.ok("topapi/v2/department/update", {"dept_id": eng, "dept_manager_userid_list": ""})
    assert dept(sb, eng)["dept_manager_userid_list"] == ["zhangsan"]
    # …naming the field in force_update_fields clears it.
    http_api.ok(
        "topapi/v2/department/update",
        {"dept_id": eng, "force_update_fields": "dept_manager_userid_list"},
    )
    assert dept(sb, eng)["dept_manager_userid_list"] == []


def test_source_identifier_is_stored_and_returned(http_api: Api, sb: Sandbox, eng: int):
    got = http_api.ok("topapi/v2/department/get", {"dept_id": eng})["result"]
    assert got["source_identifier"] == "eng"
    http_api.ok("topapi/v2/department/update", {"dept_id": eng, "source_identifier": "rd"})
    assert dept(sb, eng)["source_identifier"] == "rd"


# -- users ---------------------------------------------------------------------------------


def new_user(userid: str, mobile: str, dept_id: int = 1) -> dict[str, Any]:
    return {"userid": userid, "name": "某人", "mobile": mobile, "dept_id_list": str(dept_id)}


def test_userids_are_unique_60102(http_api: Api, sb: Sandbox, eng: int):
    refused(http_api, "topapi/v2/user/create", new_user("zhangsan", "+86-13800138000"), 60102)
    assert len(sb.tenant.users()) == 1


def test_mobiles_are_unique_60104_whatever_their_spelling(http_api: Api, sb: Sandbox, eng: int):
    for spelling in ("15172391968", "+86-15172391968", "+8615172391968", "151 7239 1968"):
        refused(http_api, "topapi/v2/user/create", new_user("lisi", spelling), 60104)
    assert len(sb.tenant.users()) == 1


def test_emails_are_unique_60106_whatever_their_case(http_api: Api, sb: Sandbox, eng: int):
    http_api.ok("topapi/v2/user/update", {"userid": "zhangsan", "email": "zhangsan@example.com"})
    taken = {**new_user("lisi", "+86-13800138000"), "email": "ZhangSan@Example.com"}
    refused(http_api, "topapi/v2/user/create", taken, 60106)
    http_api.ok("topapi/v2/user/create", {**taken, "email": "lisi@example.com"})
    refused(http_api, "topapi/v2/user/update", {"userid": "lisi", "email": taken["email"]}, 60106)
    assert user(sb, "lisi")["email"] == "lisi@example.com"


@pytest.mark.parametrize("sb", [LENIENT], indirect=True)  # "" clears only on the lenient reading
def test_telephones_are_unique_40100_and_clearing_frees_one(http_api: Api, sb: Sandbox, eng: int):
    http_api.ok("topapi/v2/user/update", {"userid": "zhangsan", "telephone": "8100"})
    taken = {**new_user("lisi", "+86-13800138000"), "telephone": "8100"}
    refused(http_api, "topapi/v2/user/create", taken, 40100)
    http_api.ok("topapi/v2/user/create", {**taken, "telephone": "8101"})
    refused(http_api, "topapi/v2/user/update", {"userid": "lisi", "telephone": "8100"}, 40100)
    # A swap goes through once one side lets go of its number first.
    http_api.ok("topapi/v2/user/update", {"userid": "zhangsan", "telephone": ""})
    http_api.ok("topapi/v2/user/update", {"userid": "lisi", "telephone": "8100"})
    assert user(sb, "lisi")["telephone"] == "8100"
    assert "telephone" not in user(sb, "zhangsan")


@pytest.mark.parametrize("mobile", ["123", "+86-1234", "not a number", "+1-555"])
def test_invalid_mobiles_are_60103(http_api: Api, sb: Sandbox, mobile: str):
    refused(http_api, "topapi/v2/user/create", new_user("lisi", mobile), 60103)
    assert sb.tenant.users() == []


def test_a_mobile_cannot_be_changed_40022_but_resending_it_is_fine(
    http_api: Api, sb: Sandbox, eng: int
):
    body = {"userid": "zhangsan", "mobile": "+86-13800138000", "title": "CTO"}
    refused(http_api, "topapi/v2/user/update", body, 40022)
    unchanged = user(sb, "zhangsan")
    assert (unchanged["mobile"], "title" in unchanged) == ("15172391968", False)
    http_api.ok(
        "topapi/v2/user/update", {"userid": "zhangsan", "mobile": "15172391968", "title": "CTO"}
    )
    assert user(sb, "zhangsan")["title"] == "CTO"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("topapi/v2/user/get", {"userid": "nobody"}),
        ("topapi/v2/user/update", {"userid": "nobody", "name": "无名"}),
        ("topapi/v2/user/delete", {"userid": "nobody"}),
        ("topapi/v2/user/getbymobile", {"mobile": "+86-13800138000"}),
    ],
)
@pytest.mark.parametrize("sb", [LENIENT], indirect=True)
def test_an_unknown_user_is_60121(http_api: Api, path: str, body: dict[str, Any]):
    refused(http_api, path, body, 60121)


@pytest.mark.parametrize(
    ("path", "body", "errcode"),
    [
        # user/get and user/delete document 33012 "无效的userId"; the others 60121.
        ("topapi/v2/user/get", {"userid": "nobody"}, 33012),
        ("topapi/v2/user/update", {"userid": "nobody", "name": "无名"}, 60121),
        ("topapi/v2/user/delete", {"userid": "nobody"}, 33012),
        ("topapi/v2/user/getbymobile", {"mobile": "+86-13800138000"}, 60121),
    ],
)
def test_an_unknown_user_on_the_strict_profile(
    http_api: Api, path: str, body: dict[str, Any], errcode: int
):
    refused(http_api, path, body, errcode)


def test_manager_userid_is_cleared_only_through_force_update_fields(
    http_api: Api, sb: Sandbox, eng: int
):
    sb.tenant.add_user("lisi", "李四", "+86-13800138000", [eng], manager_userid="zhangsan")
    http_api.ok("topapi/v2/user/update", {"userid": "lisi", "manager_userid": ""})
    assert (
        http_api.ok("topapi/v2/user/get", {"userid": "lisi"})["result"]["manager_userid"]
        == "zhangsan"
    )
    http_api.ok(
        "topapi/v2/user/update", {"userid": "lisi", "force_update_fields": "manager_userid"}
    )
    assert "manager_userid" not in http_api.ok("topapi/v2/user/get", {"userid": "lisi"})["result"]


def test_a_manager_must_exist_60128(http_api: Api, eng: int):
    body = {**new_user("lisi", "+86-13800138000", eng), "manager_userid": "nobody"}
    refused(http_api, "topapi/v2/user/create", body, 60128)


def test_user_departments_must_exist_60003(http_api: Api, sb: Sandbox):
    refused(http_api, "topapi/v2/user/create", new_user("lisi", "+86-13800138000", 424242), 60003)
    assert sb.tenant.users() == []


# -- the gateway ---------------------------------------------------------------------------


@pytest.mark.parametrize("sb", [LENIENT], indirect=True)  # strict wraps 40014 in 88
def test_a_bad_token_is_40014_a_missing_one_41001(http_api: Api):
    assert (
        http_api.call("topapi/v2/department/get", {"dept_id": 1}, token="forged")["errcode"]
        == 40014
    )
    assert http_api.call("topapi/v2/department/get", {"dept_id": 1}, token="")["errcode"] == 41001


def test_an_expired_token_is_42001(http_api: Api, clock: FakeClock):
    http_api.ok("topapi/v2/department/get", {"dept_id": 1})
    clock.advance(7200)
    assert http_api.call("topapi/v2/department/get", {"dept_id": 1})["errcode"] == 42001


def test_wrong_app_credentials_are_40089(http_api: Api):
    answer = http_api.gettoken(appsecret="wrong")
    assert answer["errcode"] == 40089
    assert "access_token" not in answer


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("topapi/v2/department/create", {"parent_id": 1}),
        ("topapi/v2/department/get", {}),
        ("topapi/v2/user/create", {"name": "李四", "mobile": "+86-13800138000"}),
        ("topapi/v2/user/update", {"name": "李四"}),
        ("topapi/v2/user/list", {"dept_id": 1, "size": 10}),
    ],
)
@pytest.mark.parametrize("sb", [LENIENT], indirect=True)  # strict: 400002 on some v2 pages
def test_missing_required_fields_are_40035(http_api: Api, path: str, body: dict[str, Any]):
    answer = refused(http_api, path, body, 40035)
    assert "request_id" in answer


@pytest.mark.parametrize("size", [0, 101])
def test_user_list_pages_hold_1_to_100_users_40035(http_api: Api, size: int):
    refused(http_api, "topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": size}, 40035)
    http_api.ok("topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": 100})


def test_an_unknown_api_is_errcode_22_like_the_top_gateway(http_api: Api):
    answer = refused(http_api, "topapi/v2/department/frobnicate", {}, 22)
    assert answer["sub_msg"] == "不合法ApiName，ApiName = dingtalk.oapi.v2.department.frobnicate"


@pytest.mark.parametrize("content", [b"dept_id: 1", b'{"dept_id": 1', b"[1]", b"\xff\xfe"])
def test_a_body_that_is_neither_json_nor_a_form_is_43009(http_api: Api, content: bytes):
    answer = http_api.client.post(
        "/topapi/v2/department/get", params={"access_token": http_api.token()}, content=content
    )
    assert answer.json()["errcode"] == 43009


def test_topapi_wants_post_and_gettoken_wants_get(http_api: Api):
    answer = http_api.client.get(
        "/topapi/v2/department/get", params={"access_token": http_api.token()}
    )
    assert answer.json()["errcode"] == 43002
    assert http_api.client.post("/gettoken").json()["errcode"] == 43001
