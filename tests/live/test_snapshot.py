"""read_live against the scriptable fake: shapes, completeness, faults, concurrency."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.errors import SnapshotError
from reconciler.live.snapshot import read_live
from reconciler.model import ROOT, Department, Org, User
from tests.dingtalk.fakes import APP_KEY, APP_SECRET, FakeDingTalk, make_client

LISTSUBID = "topapi/v2/department/listsubid"
GET = "topapi/v2/department/get"
LIST = "topapi/v2/user/list"
USER_GET = "topapi/v2/user/get"


def snapshot(fake: FakeDingTalk, clock: FakeClock, **options: Any) -> Org:
    read_managers = options.pop("read_managers", False)
    progress = options.pop("progress", None)

    async def go() -> Org:
        async with make_client(fake, clock, rng=random.Random(3), **options) as client:
            return await read_live(client, progress=progress, read_managers=read_managers)

    return asyncio.run(go())


@pytest.fixture
def tenant() -> FakeDingTalk:
    fake = FakeDingTalk()
    fake.add_department(2, "研发中心", order=10, source_identifier="eng", managers=("zhangsan",))
    fake.add_department(3, "平台组", 2, order=1)  # no source_identifier: unkeyed
    fake.add_department(4, "人力 资源部", order=20, source_identifier="hr")
    fake.add_department(5, "空部门", 4, order=5, source_identifier="empty")
    fake.add_department(-7, "家校通讯录", order=99)  # home-school: never read
    fake.add_user(
        "zhangsan",
        " 张三 ",
        "15172391968",
        [3, 2],
        title="技术总监",
        email="zhangsan@example.com",
        extension=json.dumps({"爱好": "旅游", "年龄": "24"}, ensure_ascii=False),
        manager_userid="boss",
    )
    fake.add_user("boss", "老板", "13800000000", [1])
    fake.add_user(
        "chanmeimei", "Chan  Mei\u3000Mei", "+852-51234567", [4], state_code="852", remark=" a\n b "
    )
    return fake


def test_the_live_org_has_every_department_and_user_in_canonical_form(
    tenant: FakeDingTalk, clock: FakeClock
):
    live = snapshot(tenant, clock)
    assert live.departments == {
        "eng": Department(
            key="eng", name="研发中心", parent=ROOT, order=10, managers=("zhangsan",)
        ),
        "#3": Department(key="#3", name="平台组", parent="eng", order=1, managers=()),
        "hr": Department(key="hr", name="人力 资源部", parent=ROOT, order=20, managers=()),
        "empty": Department(key="empty", name="空部门", parent="hr", order=5, managers=()),
    }
    assert live.departments["#3"].dept_id == 3
    assert live.departments["eng"].source_identifier == "eng"
    assert live.departments["#3"].source_identifier is None
    assert live.users == {
        "zhangsan": User(
            userid="zhangsan",
            name="张三",
            departments=("#3", "eng"),
            mobile="+86-15172391968",
            title="技术总监",
            email="zhangsan@example.com",
            extension={"年龄": "24", "爱好": "旅游"},
        ),
        "boss": User(userid="boss", name="老板", departments=(ROOT,), mobile="+86-13800000000"),
        "chanmeimei": User(
            userid="chanmeimei",
            name="Chan Mei Mei",
            departments=("hr",),
            mobile="+852-51234567",
            remark="a\n b",
        ),
    }
    # user/list does not carry the manager: without read_managers it is not read
    assert live.users["zhangsan"].manager is None
    assert tenant.calls(USER_GET) == []


def test_home_school_departments_are_skipped(tenant: FakeDingTalk, clock: FakeClock):
    live = snapshot(tenant, clock)
    read = {b["dept_id"] for api in (LISTSUBID, GET, LIST) for b in tenant.bodies(api)}
    assert read == {1, 2, 3, 4, 5}  # the root's listsubid named -7, and nothing read it
    assert "家校通讯录" not in {d.name for d in live.departments.values()}


def test_only_departments_with_direct_members_are_listed(tenant: FakeDingTalk, clock: FakeClock):
    snapshot(tenant, clock)
    listed = sorted(b["dept_id"] for b in tenant.bodies(LIST))
    assert listed == [1, 2, 3, 4]  # the root always; 5 has owning_member_count 0
    assert sorted(b["dept_id"] for b in tenant.bodies(GET)) == [2, 3, 4, 5]
    assert sorted(b["dept_id"] for b in tenant.bodies(LISTSUBID)) == [1, 2, 3, 4, 5]


def test_without_a_member_count_every_department_is_listed(tenant: FakeDingTalk, clock: FakeClock):
    tenant.hide_owning_member_count = True
    snapshot(tenant, clock)
    assert sorted(b["dept_id"] for b in tenant.bodies(LIST)) == [1, 2, 3, 4, 5]


def test_paging_across_many_pages_and_users_in_many_departments(clock: FakeClock):
    fake = FakeDingTalk()
    for dept_id in range(2, 12):
        fake.add_department(dept_id, f"部门{dept_id}", source_identifier=f"d{dept_id}")
    for i in range(1050):
        depts = [2] if i % 3 else [2, 3 + i % 9]
        fake.add_user(f"u{i:04d}", f"用户{i}", f"1390000{i:04d}", depts)
    live = snapshot(fake, clock)
    assert len(live.users) == 1050
    cursors = [b["cursor"] for b in fake.bodies(LIST) if b["dept_id"] == 2]
    assert cursors == list(range(0, 1100, 100))  # 11 pages, followed in order
    assert live.users["u0000"].departments == ("d2", "d3")
    assert live.users["u0001"].departments == ("d2",)
    assert sum(len(live.members(f"d{d}")) for d in range(3, 12)) == 350


def test_read_managers_reads_user_get_for_the_named_users_only(
    tenant: FakeDingTalk, clock: FakeClock
):
    live = snapshot(tenant, clock, read_managers={"zhangsan", "boss"})
    assert live.users["zhangsan"].manager == "boss"
    assert live.users["boss"].manager is None
    assert sorted(b["userid"] for b in tenant.bodies(USER_GET)) == ["boss", "zhangsan"]
    everyone = snapshot(tenant, clock, read_managers=True)
    assert everyone.users["zhangsan"].manager == "boss"
    assert len(tenant.bodies(USER_GET)) == 2 + 3


def test_progress_is_reported_per_stream_and_ends_complete(tenant: FakeDingTalk, clock: FakeClock):
    seen: dict[str, list[tuple[int, int]]] = {}
    snapshot(
        tenant,
        clock,
        read_managers=True,
        progress=lambda stream, done, total: seen.setdefault(stream, []).append((done, total)),
    )
    assert seen.keys() == {"tree", "departments", "members", "managers"}
    assert seen["tree"][-1] == (5, 5)
    assert seen["departments"][-1] == (4, 4)
    assert seen["members"][-1] == (4, 4)
    assert seen["managers"][-1] == (3, 3)
    for updates in seen.values():
        assert [d for d, _ in updates] == list(range(1, len(updates) + 1))


@pytest.mark.parametrize(
    ("api", "dept_id", "named"),
    [
        (GET, 3, "department 3 (under 研发中心)"),
        (LIST, 3, "department 3 (研发中心/平台组)"),
        (GET, 4, "department 4 (top level)"),
    ],
)
def test_a_department_outside_the_scope_fails_the_snapshot_naming_it(
    tenant: FakeDingTalk, clock: FakeClock, api: str, dept_id: int, named: str
):
    if api == LIST:
        original = tenant._user_list

        def scoped(body: dict[str, Any]) -> dict[str, Any]:
            if body["dept_id"] == dept_id:
                return {"errcode": 50004, "errmsg": "部门不在授权范围内"}
            return original(body)

        tenant._user_list = scoped  # type: ignore[method-assign]
    else:
        tenant.out_of_scope.add(dept_id)
    with pytest.raises(SnapshotError) as caught:
        snapshot(tenant, clock)
    message = str(caught.value)
    assert named in message
    assert "50004" in message
    assert "可使用范围" in message
    assert "partial" in message


def test_a_terminal_error_is_not_retried_and_stops_the_read(tenant: FakeDingTalk, clock: FakeClock):
    tenant.script(LISTSUBID, {"errcode": 60011, "errmsg": "没有调用该接口的权限"})
    with pytest.raises(SnapshotError, match="the root"):
        snapshot(tenant, clock)
    assert len(tenant.calls(LISTSUBID)) == 1
    assert tenant.calls(GET) == []


def test_retries_exhausted_fail_the_snapshot(tenant: FakeDingTalk, clock: FakeClock):
    tenant.script(GET, *[httpx.Response(503)] * 3)
    with pytest.raises(SnapshotError, match="HTTP 503"):
        snapshot(tenant, clock, max_tries=3, max_in_flight=1)


def test_a_token_expiring_mid_snapshot_is_refreshed(tenant: FakeDingTalk, clock: FakeClock):
    clean = snapshot(tenant, clock)
    fresh = FakeDingTalk(departments=tenant.departments, users=tenant.users)
    calls = 0

    def expire_on_the_sixth_read(request: httpx.Request) -> None:
        nonlocal calls
        calls += 1
        if calls == 6:
            fresh.expire_tokens()

    for api in (LISTSUBID, GET, LIST):
        fresh.script(api, *[expire_on_the_sixth_read] * 3)
    assert snapshot(fresh, clock) == clean
    assert fresh.tokens_issued == 2


def test_throttling_and_5xx_bursts_are_survived(tenant: FakeDingTalk, clock: FakeClock):
    clean = snapshot(tenant, clock)
    faulty = FakeDingTalk(departments=tenant.departments, users=tenant.users)
    faulty.script(LISTSUBID, {"errcode": 90018}, {"errcode": 90018}, httpx.Response(502))
    faulty.script(GET, {"errcode": -1, "errmsg": "系统繁忙"}, httpx.ReadTimeout("slow"))
    faulty.script(LIST, {"errcode": 88, "errmsg": "too fast"}, {"errcode": "90018"})
    assert snapshot(faulty, clock) == clean
    assert len(faulty.calls(LISTSUBID)) == 5 + 3


def test_the_three_streams_run_concurrently(clock: FakeClock):
    fake = FakeDingTalk()
    for dept_id in range(2, 42):
        fake.add_department(dept_id, f"部门{dept_id}", 1 + (dept_id > 11) * (dept_id % 10 + 2))
        fake.add_user(f"u{dept_id}", f"用户{dept_id}", f"1370000{dept_id:04d}", [dept_id])
    in_flight: dict[str, int] = {LISTSUBID: 0, GET: 0, LIST: 0}
    peak_apis = 0
    peak_per_api = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal peak_apis, peak_per_api
        api = request.url.path.strip("/")
        if api in in_flight:
            in_flight[api] += 1
            peak_apis = max(peak_apis, sum(1 for n in in_flight.values() if n))
            peak_per_api = max(peak_per_api, in_flight[api])
            for _ in range(3):
                await asyncio.sleep(0)  # "latency": let the other streams run
            in_flight[api] -= 1
        return fake.handle(request)

    async def go() -> Org:
        client = DingTalkClient(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            transport=httpx.MockTransport(handler),
            clock=clock,
            qps=1e6,
        )
        async with client:
            return await read_live(client)

    live = asyncio.run(go())
    assert len(live.departments) == 40
    assert len(live.users) == 40
    assert peak_apis == 3  # all three APIs had a request in flight at once
    assert peak_per_api > 1  # and each stream keeps more than one request in flight


def test_a_shared_source_identifier_keys_only_the_lowest_dept_id(clock: FakeClock):
    fake = FakeDingTalk()
    fake.add_department(2, "甲", source_identifier="same")
    fake.add_department(3, "乙", source_identifier="same")
    fake.add_department(4, "丙", source_identifier="root")  # would collide with ROOT
    fake.add_department(5, "丁", source_identifier="#9")  # would pass for unkeyed
    live = snapshot(fake, clock)
    assert sorted(live.departments) == ["#3", "#4", "#5", "same"]
    assert live.departments["same"].dept_id == 2


@pytest.mark.parametrize(
    ("api", "answer", "words"),
    [
        (LIST, None, ["topapi/v2/user/list", "dept_id_list", "'abc'", "zhangsan"]),
        (
            LISTSUBID,
            {"errcode": 0, "result": {"dept_id_list": ["abc"]}},
            ["topapi/v2/department/listsubid", "dept_id_list", "department 1"],
        ),
        (GET, "parent_id", ["topapi/v2/department/get", "parent_id", "'x9'"]),
        (GET, "order", ["topapi/v2/department/get", "order", "1.5"]),
        (GET, "dept_manager_userid_list", ["department/get", "dept_manager_userid_list"]),
    ],
    ids=["user-dept_id_list", "listsubid", "parent_id", "order", "managers-a-string"],
)
def test_a_malformed_answer_is_a_snapshot_error_naming_the_api_and_field(
    tenant: FakeDingTalk, clock: FakeClock, api: str, answer: Any, words: list[str]
) -> None:
    if api == LIST:
        tenant.users[0]["dept_id_list"] = [2, "abc"]
    elif api == LISTSUBID:
        tenant.script(api, answer)
    else:
        bad = {"parent_id": "x9", "order": 1.5, "dept_manager_userid_list": "zhangsan"}
        result = {"dept_id": 2, "name": "研发中心", "parent_id": 1, answer: bad[answer]}
        tenant.script(api, {"errcode": 0, "errmsg": "ok", "result": result})
    with pytest.raises(SnapshotError) as raised:
        snapshot(tenant, clock)
    message = str(raised.value)
    for word in words:
        assert word in message
    assert "partial read" in message


def test_a_hostile_value_is_shown_escaped_in_the_error(tenant: FakeDingTalk, clock: FakeClock):
    tenant.users[0]["dept_id_list"] = [3, "\x1b[31m\u202eabc"]
    with pytest.raises(SnapshotError) as raised:
        snapshot(tenant, clock)
    assert "\x1b" not in str(raised.value)
    assert "\u202e" not in str(raised.value)
    assert "\\x1b" in str(raised.value)
