"""Every profile knob, checked over HTTP (loopback server) against the strict and lenient
readings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.sandbox import (
    APP_KEY,
    APP_SECRET,
    LENIENT,
    READONLY_APP_KEY,
    READONLY_APP_SECRET,
    STRICT,
    Profile,
    Sandbox,
    profile_from,
    serve,
)
from tests.sandbox.helpers import Api, user


def served(profile: Profile, clock: FakeClock) -> Iterator[tuple[Sandbox, Api]]:
    sandbox = Sandbox(clock=clock, profile=profile, qps=0)
    with serve(sandbox) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield sandbox, Api(client)
    sandbox.close()


@pytest.fixture
def strict(clock: FakeClock) -> Iterator[tuple[Sandbox, Api]]:
    yield from served(STRICT, clock)


@pytest.fixture
def lenient(clock: FakeClock) -> Iterator[tuple[Sandbox, Api]]:
    yield from served(LENIENT, clock)


def readonly(api: Api) -> Api:
    ro = Api(api.client)
    answer = ro.gettoken(READONLY_APP_KEY, READONLY_APP_SECRET)
    assert answer["errcode"] == 0, answer
    ro._token = answer["access_token"]
    return ro


# -- the read-only app ---------------------------------------------------------------------


def test_the_read_only_app_reads_but_its_writes_get_88_60011(strict: tuple[Sandbox, Api]):
    sb, api = strict
    ro = readonly(api)
    assert ro.call("topapi/v2/department/get", {"dept_id": 1})["errcode"] == 0
    answer = ro.call("topapi/v2/department/create", {"name": "研发", "parent_id": 1})
    assert answer["errcode"] == 88
    assert answer["sub_code"] == "60011"
    assert "subcode=60011" in answer["errmsg"]
    assert len(sb.tenant.departments()) == 1  # refused before the tenant saw it
    assert sb.writes() == []
    # The main app writes as before.
    assert api.call("topapi/v2/department/create", {"name": "研发", "parent_id": 1})["errcode"] == 0


def test_lenient_answers_a_bare_60011(lenient: tuple[Sandbox, Api]):
    _, api = lenient
    answer = readonly(api).call("topapi/v2/user/delete", {"userid": "nobody"})
    assert answer["errcode"] == 60011
    assert "sub_code" not in answer


def custom(clock: FakeClock, **knobs: str) -> Iterator[tuple[Sandbox, Api]]:
    yield from served(profile_from("strict", knobs), clock)


def seed_two_teams(sb: Sandbox) -> tuple[int, int]:
    a = sb.tenant.add_department("甲组")
    b = sb.tenant.add_department("乙组")
    sb.tenant.add_user("zhangsan", "张三", "+86-13800000001", [a], email="zs@example.com")
    sb.tenant.add_user("lisi", "李四", "+86-13800000002", [b], email="ls@example.com")
    return a, b


# -- rate limit -----------------------------------------------------------------------------


@pytest.mark.parametrize(("profile", "after_half_a_second"), [(STRICT, 0), (LENIENT, 10)])
def test_the_rate_limit_reading_over_http(
    profile: Profile, after_half_a_second: int, clock: FakeClock
):
    sandbox = Sandbox(clock=clock, profile=profile)
    with serve(sandbox) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        api = Api(client)
        burst = [api.call("topapi/v2/department/get", {"dept_id": 1})["errcode"] for _ in range(25)]
        clock.advance(0.5)
        later = [api.call("topapi/v2/department/get", {"dept_id": 1})["errcode"] for _ in range(15)]
    sandbox.close()
    assert burst == [0] * 20 + [90018] * 5
    assert later.count(0) == after_half_a_second


# -- "" in user/update, unique emails --------------------------------------------------------


def test_strict_ignores_empty_strings_in_user_update(strict: tuple[Sandbox, Api]):
    sb, api = strict
    seed_two_teams(sb)
    api.ok("topapi/v2/user/update", {"userid": "zhangsan", "email": "", "title": "工程师"})
    assert user(sb, "zhangsan")["email"] == "zs@example.com"  # "" reached no field
    assert user(sb, "zhangsan")["title"] == "工程师"
    # So an email swap cannot free the address with "": the second write is refused.
    answer = api.call("topapi/v2/user/update", {"userid": "lisi", "email": "ZS@example.com"})
    assert answer["errcode"] == 60106  # unique ignoring case


def test_lenient_clears_a_field_with_an_empty_string(lenient: tuple[Sandbox, Api]):
    sb, api = lenient
    seed_two_teams(sb)
    api.ok("topapi/v2/user/update", {"userid": "zhangsan", "email": ""})
    assert "email" not in user(sb, "zhangsan")
    api.ok("topapi/v2/user/update", {"userid": "lisi", "email": "zs@example.com"})
    assert user(sb, "lisi")["email"] == "zs@example.com"


@pytest.mark.parametrize("fixture", ["strict", "lenient"])
def test_emails_are_unique_ignoring_case_60106_on_both(
    fixture: str, request: pytest.FixtureRequest
):
    sb, api = request.getfixturevalue(fixture)
    a, _ = seed_two_teams(sb)
    body = {"name": "王五", "mobile": "+86-13800000003", "dept_id_list": str(a)}
    answer = api.call("topapi/v2/user/create", {**body, "email": "Zs@Example.COM"})
    assert answer["errcode"] == 60106
    assert sb.tenant.get_user("wangwu") is None


# -- 400002 / 40035 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "strict_errcode"),
    [
        ("topapi/v2/department/get", {}, 400002),
        ("topapi/v2/department/listsubid", {"dept_id": "x"}, 400002),
        ("topapi/v2/user/get", {}, 400002),
        ("topapi/v2/user/delete", {}, 400002),
        ("topapi/v2/user/getbymobile", {}, 400002),
        ("topapi/v2/user/list", {"dept_id": 1, "size": 10}, 400002),
        # Pages that document only 40035 keep it on both profiles.
        ("topapi/v2/department/create", {"parent_id": 1}, 40035),
        ("topapi/v2/user/update", {"name": "无名"}, 40035),
    ],
)
def test_a_bad_parameter_is_400002_where_the_v2_page_says_so(
    strict: tuple[Sandbox, Api],
    lenient: tuple[Sandbox, Api],
    path: str,
    body: dict[str, Any],
    strict_errcode: int,
):
    assert strict[1].call(path, body)["errcode"] == strict_errcode
    assert lenient[1].call(path, body)["errcode"] == 40035


# -- token errors ------------------------------------------------------------------------------


def test_strict_wraps_an_invalid_token_in_88_on_topapi(
    strict: tuple[Sandbox, Api], clock: FakeClock
):
    _, api = strict
    answer = api.call("topapi/v2/department/get", {"dept_id": 1}, token="forged")
    assert answer["errcode"] == 88
    assert answer["sub_code"] == "40014"
    assert answer["errmsg"] == "ding talk error[subcode=40014,submsg=不合法的access_token]"
    assert "request_id" in answer  # the TOP gateway answered
    # Not every token error is wrapped: a missing or expired token stays bare, and so does
    # 40014 on a plain oapi path.
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token="")["errcode"] == 41001
    body = {"workDateFrom": "2026-01-01 00:00:00"}
    assert api.call("attendance/list", body, token="forged")["errcode"] == 40014
    api.token()
    clock.advance(7200)
    assert api.call("topapi/v2/department/get", {"dept_id": 1})["errcode"] == 42001


def test_lenient_answers_bare_token_errors(lenient: tuple[Sandbox, Api]):
    _, api = lenient
    answer = api.call("topapi/v2/department/get", {"dept_id": 1}, token="forged")
    assert answer == {"errcode": 40014, "errmsg": "不合法的access_token"}


# -- 40103 pending invitations -----------------------------------------------------------------


def test_a_pending_invitation_is_40103_and_the_user_exists_inactive(clock: FakeClock):
    for sb, api in custom(clock, pending_invite_share="1"):
        body = {
            "userid": "wangwu",
            "name": "王五",
            "mobile": "+86-13800000009",
            "dept_id_list": "1",
        }
        answer = api.call("topapi/v2/user/create", body)
        assert answer["errcode"] == 40103
        assert user(sb, "wangwu")["active"] is False
        assert api.ok("topapi/v2/user/get", {"userid": "wangwu"})["result"]["active"] is False
        # getbymobile finds only staff who joined.
        lookup = {"mobile": "+86-13800000009"}
        assert api.call("topapi/v2/user/getbymobile", lookup)["errcode"] == 60121
        # Creating them again: the account is there.
        assert api.call("topapi/v2/user/create", body)["errcode"] == 60102
        assert [w.errcode for w in sb.writes()] == [40103, 60102]


def test_which_people_are_pending_is_seeded_and_deterministic(clock: FakeClock):
    def pending(seed: int) -> list[str]:
        profile = profile_from("strict", {"pending_invite_share": "0.5"})
        with Sandbox(clock=clock, qps=0, profile=profile, seed=seed) as sb:
            return [
                f"u{n}" for n in range(40) if sb.tenant.invitation_pending(f"+86-138000001{n:02d}")
            ]

    first = pending(0)
    assert first == pending(0)
    assert 10 <= len(first) <= 30  # about half
    assert first != pending(1)


def test_no_invitation_is_pending_on_the_named_profiles(strict: tuple[Sandbox, Api]):
    sb, api = strict
    for n in range(30):
        body = {"name": f"人{n}", "mobile": f"+86-138000002{n:02d}", "dept_id_list": "1"}
        api.ok("topapi/v2/user/create", body)
    assert all(u["active"] for u in sb.tenant.users())


# -- permission points -------------------------------------------------------------------------


def test_a_missing_permission_point_answers_60011(clock: FakeClock):
    for sb, api in custom(clock, missing_permissions="qyapi_get_member"):
        sb.tenant.add_user("zhangsan", "张三", "+86-13800000001", [1])
        answer = api.call("topapi/v2/user/get", {"userid": "zhangsan"})
        assert (answer["errcode"], answer["sub_code"]) == (88, "60011")
        # Other points are held: department reads and member lists still work.
        api.ok("topapi/v2/department/get", {"dept_id": 1})
        api.ok("topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": 10})


def test_lenient_missing_permission_is_a_bare_60011(clock: FakeClock):
    profile = profile_from("lenient", {"missing_permissions": "qyapi_manage_addresslist"})
    for _, api in served(profile, clock):
        answer = api.call("topapi/v2/department/create", {"name": "研发", "parent_id": 1})
        assert answer["errcode"] == 60011


# -- contact scope -----------------------------------------------------------------------------


def test_outside_the_contact_scope_departments_are_50004_users_50002(clock: FakeClock):
    profile = profile_from("strict", {"contact_scope": "100000001"})
    for sb, api in served(profile, clock):
        a, b = seed_two_teams(sb)
        assert a == 100000001
        inner = sb.tenant.add_department("甲组一", a)
        # Inside: the department, its subtree and their people.
        api.ok("topapi/v2/department/get", {"dept_id": inner})
        api.ok("topapi/v2/user/get", {"userid": "zhangsan"})
        api.ok("topapi/v2/user/list", {"dept_id": a, "cursor": 0, "size": 10})
        # Outside: the root, the other team and its people.
        for dept_id in (1, b):
            assert api.call("topapi/v2/department/get", {"dept_id": dept_id})["errcode"] == 50004
        list_b = {"dept_id": b, "cursor": 0, "size": 10}
        assert api.call("topapi/v2/user/list", list_b)["errcode"] == 50004
        assert api.call("topapi/v2/user/get", {"userid": "lisi"})["errcode"] == 50002
        update = {"userid": "lisi", "title": "x"}
        assert api.call("topapi/v2/user/update", update)["errcode"] == 50002
        create = {"name": "王五", "mobile": "+86-13800000003", "dept_id_list": str(b)}
        assert api.call("topapi/v2/user/create", create)["errcode"] == 50004
        # listsubid is documented as not limited by the scope.
        children = api.ok("topapi/v2/department/listsubid", {"dept_id": 1})["result"]
        assert children["dept_id_list"] == [a, b]


# -- monthly quota -----------------------------------------------------------------------------


def test_metered_calls_stop_at_the_monthly_quota_90020(clock: FakeClock):
    for sb, api in custom(clock, monthly_quota="2"):
        sb.tenant.add_user("zhangsan", "张三", "+86-13800000001", [1])
        body = {
            "workDateFrom": "2025-12-29 00:00:00",
            "workDateTo": "2025-12-31 00:00:00",
            "userIdList": ["zhangsan"],
            "offset": 0,
            "limit": 50,
        }
        assert [api.call("attendance/list", body)["errcode"] for _ in range(3)] == [0, 0, 90020]
        assert "额度:2次" in api.call("attendance/list", body)["errmsg"]
        assert sb.quota_used() == 2
        # Contacts calls are exempt.
        api.ok("topapi/v2/department/get", {"dept_id": 1})
        # A new month, a new quota.
        clock.advance(31 * 86400)
        api._token = None  # the old one expired meanwhile
        assert api.call("attendance/list", body)["errcode"] == 0


def test_strict_has_the_standard_editions_quota_and_lenient_none():
    assert STRICT.monthly_quota == 5000
    assert LENIENT.monthly_quota is None


# -- department/create fields ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["auto_add_user", "dept_manager_userid_list"])
def test_strict_create_refuses_update_only_fields(
    strict: tuple[Sandbox, Api], lenient: tuple[Sandbox, Api], field: str
):
    body = {"name": "研发", "parent_id": 1, field: "true" if field == "auto_add_user" else ""}
    sb, api = strict
    assert api.call("topapi/v2/department/create", body)["errcode"] == 40035
    assert len(sb.tenant.departments()) == 1
    sb, api = lenient
    api.ok("topapi/v2/department/create", body)
    assert len(sb.tenant.departments()) == 2


# -- form bodies, corpid/corpsecret --------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["strict", "lenient"])
def test_a_form_encoded_body_with_the_token_in_it_works(
    fixture: str, request: pytest.FixtureRequest
):
    sb, api = request.getfixturevalue(fixture)
    a, b = seed_two_teams(sb)
    form = {
        "access_token": api.token(),
        "userid": "wangwu",
        "name": "王五",
        "mobile": "+86-13800000003",
        "dept_id_list": f"{a},{b}",
        "dept_order_list": json.dumps([{"dept_id": a, "order": 5}]),
        "hide_mobile": "false",
    }
    answer = api.client.post("/topapi/v2/user/create", data=form)  # x-www-form-urlencoded
    assert answer.json()["errcode"] == 0, answer.json()
    created = user(sb, "wangwu")
    assert created["dept_id_list"] == [a, b]
    assert created["dept_order_list"][0] == {"dept_id": a, "order": 5}
    token_only = api.client.post("/topapi/v2/department/get", data={"access_token": api.token()})
    assert token_only.json()["errcode"] in (40035, 400002)  # authenticated, then dept_id missing
    no_token = api.client.post("/topapi/v2/department/get", data={"dept_id": "1"})
    assert no_token.json()["errcode"] == 41001


def test_gettoken_takes_the_older_corpid_corpsecret_form(strict: tuple[Sandbox, Api]):
    _, api = strict
    good = api.client.get("/gettoken", params={"corpid": APP_KEY, "corpsecret": APP_SECRET})
    token = good.json()["access_token"]
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token=token)["errcode"] == 0
    bad = api.client.get("/gettoken", params={"corpid": APP_KEY, "corpsecret": "wrong"}).json()
    assert bad == {"errcode": 40089, "errmsg": "不合法的corpId或corpSecret"}
