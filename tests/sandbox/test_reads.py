"""Reads the snapshot relies on: tree walks, paging, member counts, mobiles, extension."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from reconciler.sandbox import ApiError, Sandbox, Tenant, attendance, core
from tests.sandbox.helpers import Api, dept, user


@pytest.fixture
def tree(sb: Sandbox) -> dict[str, int]:
    """root ─ 研发中心 (order 20) ─ 平台 ; root ─ 市场部 (order 10)."""
    eng = sb.tenant.add_department("研发中心", order=20, source_identifier="eng")
    platform = sb.tenant.add_department("平台", eng, source_identifier="platform")
    market = sb.tenant.add_department("市场部", order=10)
    return {"eng": eng, "platform": platform, "market": market}


def test_listsubid_and_listsub_return_direct_children_in_order(api: Api, tree: dict[str, int]):
    ids = api.ok("topapi/v2/department/listsubid", {"dept_id": 1})["result"]["dept_id_list"]
    assert ids == [tree["market"], tree["eng"]]  # order ascending: smaller first
    children = api.ok("topapi/v2/department/listsub", {"dept_id": 1})["result"]
    assert [c["dept_id"] for c in children] == ids
    # listsub has no order and no source_identifier: that is why the snapshot uses get [DLS].
    assert set(children[0]) == {
        "dept_id",
        "name",
        "parent_id",
        "create_dept_group",
        "auto_add_user",
    }
    leaf = api.ok("topapi/v2/department/listsubid", {"dept_id": tree["platform"]})
    assert leaf["result"]["dept_id_list"] == []


def test_member_counts_include_subdepartments_owning_counts_do_not(
    api: Api, sb: Sandbox, tree: dict[str, int]
):
    sb.tenant.add_user("zhangsan", "张三", "15172391968", [tree["eng"], tree["platform"]])
    sb.tenant.add_user("lisi", "李四", "13800138000", [tree["platform"]])
    eng = api.ok("topapi/v2/department/get", {"dept_id": tree["eng"]})["result"]
    assert (eng["member_count"], eng["owning_member_count"]) == (2, 1)
    root = api.ok("topapi/v2/department/get", {"dept_id": 1})["result"]
    assert (root["member_count"], root["owning_member_count"]) == (2, 0)
    assert "parent_id" not in root  # the root has no parent
    assert root["name"] == "示例科技"


def test_user_list_pages_with_a_cursor_and_orders_by_dept_order_descending(
    api: Api, sb: Sandbox, tree: dict[str, int]
):
    for i in range(5):
        sb.tenant.add_user(
            f"u{i}", f"用户{i}", f"1380013800{i}", [tree["eng"]], dept_orders={tree["eng"]: i}
        )
    seen: list[str] = []
    cursor: int | None = 0
    pages = 0
    while cursor is not None:
        body = {"dept_id": tree["eng"], "cursor": cursor, "size": 2}
        result = api.ok("topapi/v2/user/list", body)["result"]
        seen += [item["userid"] for item in result["list"]]
        cursor = result.get("next_cursor") if result["has_more"] else None
        assert ("next_cursor" in result) == result["has_more"]  # absent on the last page
        pages += 1
    assert pages == 3
    assert seen == ["u4", "u3", "u2", "u1", "u0"]  # larger order first inside a department
    listid = api.ok("topapi/user/listid", {"dept_id": tree["eng"]})["result"]["userid_list"]
    assert listid == seen


def test_user_list_has_direct_members_only_and_no_manager_userid(
    api: Api, sb: Sandbox, tree: dict[str, int]
):
    sb.tenant.add_user("zhangsan", "张三", "15172391968", [tree["eng"]])
    sb.tenant.add_user("lisi", "李四", "13800138000", [tree["platform"]], manager_userid="zhangsan")
    body = {"dept_id": tree["eng"], "cursor": 0, "size": 100}
    assert [u["userid"] for u in api.ok("topapi/v2/user/list", body)["result"]["list"]] == [
        "zhangsan"
    ]
    body["dept_id"] = tree["platform"]
    (item,) = api.ok("topapi/v2/user/list", body)["result"]["list"]
    assert "manager_userid" not in item  # user/list never returns it [UL]; user/get does
    assert (
        api.ok("topapi/v2/user/get", {"userid": "lisi"})["result"]["manager_userid"] == "zhangsan"
    )


@pytest.mark.parametrize(
    ("sent", "state_code", "returned"),
    [
        ("+86-15172391968", "86", "15172391968"),
        ("+8615172391968", "86", "15172391968"),
        ("+852-51234567", "852", "+852-51234567"),
        ("+1-2025550123", "1", "+1-2025550123"),
    ],
)
def test_mobiles_come_back_the_way_dingtalk_returns_them(
    api: Api, sent: str, state_code: str, returned: str
):
    api.ok(
        "topapi/v2/user/create",
        {"userid": "u", "name": "某人", "mobile": sent, "dept_id_list": "1"},
    )
    got = api.ok("topapi/v2/user/get", {"userid": "u"})["result"]
    assert (got["state_code"], got["mobile"]) == (state_code, returned)
    assert api.ok("topapi/v2/user/getbymobile", {"mobile": sent})["result"]["userid"] == "u"


def test_a_userid_is_generated_when_none_is_sent(api: Api):
    body = {"name": "某人", "mobile": "15172391968", "dept_id_list": "1"}
    result = api.ok("topapi/v2/user/create", body)["result"]
    assert result["userid"].isdigit()
    assert len(result["userid"]) == 17  # looks like DingTalk's own generated userids
    assert set(result) == {"userid", "unionId"}
    got = api.ok("topapi/v2/user/get", {"userid": result["userid"]})["result"]
    assert (got["name"], got["unionid"]) == ("某人", result["unionId"])


def test_extension_is_overwritten_or_appended_and_read_as_a_json_string(api: Api, sb: Sandbox):
    sb.tenant.add_user("zhangsan", "张三", "15172391968", [1], extension={"爱好": "旅游"})
    api.ok("topapi/v2/user/update", {"userid": "zhangsan", "extension": json.dumps({"年龄": "24"})})
    assert json.loads(user(sb, "zhangsan")["extension"]) == {"年龄": "24"}  # overwrite drops keys
    body = {"userid": "zhangsan", "extension": {"爱好": "旅游"}, "ext_attrs_update_mode": 1}
    api.ok("topapi/v2/user/update", body)
    assert json.loads(user(sb, "zhangsan")["extension"]) == {"年龄": "24", "爱好": "旅游"}
    bad = api.call("topapi/v2/user/update", {"userid": "zhangsan", "extension": "{not json"})
    assert bad["errcode"] == 60122


def test_leaving_a_department_or_the_company_ends_managing_it(
    api: Api, sb: Sandbox, tree: dict[str, int]
):
    sb.tenant.add_user("zhangsan", "张三", "15172391968", [tree["eng"], tree["market"]])
    for key in ("eng", "market"):
        body = {"dept_id": tree[key], "dept_manager_userid_list": "zhangsan"}
        api.ok("topapi/v2/department/update", body)
    api.ok("topapi/v2/user/update", {"userid": "zhangsan", "dept_id_list": str(tree["market"])})
    assert dept(sb, tree["eng"])["dept_manager_userid_list"] == []
    assert dept(sb, tree["market"])["dept_manager_userid_list"] == ["zhangsan"]
    api.ok("topapi/v2/user/delete", {"userid": "zhangsan"})
    assert dept(sb, tree["market"])["dept_manager_userid_list"] == []


def test_moves_renames_and_reorders_are_one_update(api: Api, sb: Sandbox, tree: dict[str, int]):
    body = {"dept_id": tree["platform"], "parent_id": tree["market"], "name": "平台组", "order": 5}
    api.ok("topapi/v2/department/update", body)
    moved = dept(sb, tree["platform"])
    assert (moved["parent_id"], moved["name"], moved["order"]) == (tree["market"], "平台组", 5)
    assert moved["source_identifier"] == "platform"  # untouched fields stay


def test_the_async_client_works_through_the_transport(sb: Sandbox):
    async def run() -> list[Any]:
        async with httpx.AsyncClient(base_url=sb.base_url, transport=sb.transport()) as client:
            credentials = {"appkey": sb.app_key, "appsecret": "orgctl-sandbox-secret"}
            token = (await client.get("/gettoken", params=credentials)).json()["access_token"]
            answer = await client.post(
                "/topapi/v2/department/create",
                params={"access_token": token},
                json={"name": "研发中心", "parent_id": 1},
            )
            return [answer.status_code, answer.headers["content-type"], answer.json()["errcode"]]

    assert asyncio.run(run()) == [200, "application/json;charset=utf-8", 0]


def test_attendance_routes_go_through_the_same_gateway(
    api: Api, sb: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    calls: list[dict[str, Any]] = []

    def upload(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
        calls.append(body)
        if body.get("userid") == "nobody":
            raise ApiError(60121, "找不到该用户")
        return {"errcode": 0, "success": True}

    # Every attendance API is routed by the one gateway table, handler for handler.
    assert attendance.ROUTES.items() <= core.ROUTES.items()
    monkeypatch.setitem(core.ROUTES, "topapi/attendance/sandboxtest/upload", upload)
    answer = api.ok("topapi/attendance/sandboxtest/upload", {"userid": "zhangsan"})
    assert set(answer) == {"errcode", "success", "request_id"}  # request_id: added by the router
    assert (
        api.call("topapi/attendance/sandboxtest/upload", {"userid": "nobody"})["errcode"] == 60121
    )
    token_error = api.call("topapi/attendance/sandboxtest/upload", {"userid": "x"}, token="forged")
    assert (token_error["errcode"], token_error["sub_code"]) == (88, "40014")  # strict: wrapped
    assert len(calls) == 2  # the forged token never reached the handler
    assert [(w.api, w.errcode) for w in sb.writes()] == [
        ("topapi/attendance/sandboxtest/upload", 0),
        ("topapi/attendance/sandboxtest/upload", 60121),
    ]


def test_a_group_chat_turned_on_later_gets_its_own_stable_id(api: Api, sb: Sandbox):
    born = api.ok(
        "topapi/v2/department/create", {"name": "带群", "parent_id": 1, "create_dept_group": True}
    )
    later = api.ok("topapi/v2/department/create", {"name": "后建群", "parent_id": 1})
    born_id, later_id = born["result"]["dept_id"], later["result"]["dept_id"]
    assert "dept_group_chat_id" not in dept(sb, later_id)
    api.ok("topapi/v2/department/update", {"dept_id": later_id, "create_dept_group": True})
    chat = dept(sb, later_id)["dept_group_chat_id"]
    assert chat.startswith("chat")
    assert len(chat) == 36
    assert chat != dept(sb, born_id)["dept_group_chat_id"]
    api.ok("topapi/v2/department/update", {"dept_id": later_id, "brief": "再改一次"})
    assert dept(sb, later_id)["dept_group_chat_id"] == chat  # made once, then kept
