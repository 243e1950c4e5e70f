"""The tenant lives in one SQLite file: state, tokens and the write log survive a restart."""

from __future__ import annotations

from pathlib import Path

import httpx

from reconciler.clock import FakeClock
from reconciler.sandbox import Sandbox, default_db_path
from tests.sandbox.helpers import Api


def test_a_second_sandbox_on_the_same_file_sees_everything(tmp_path: Path, clock: FakeClock):
    path = tmp_path / "tenant" / "sandbox.db"
    first = Sandbox(path, clock=clock)
    with httpx.Client(base_url=first.base_url, transport=first.transport()) as client:
        api = Api(client)
        dept_id = api.ok("topapi/v2/department/create", {"name": "研发中心", "parent_id": 1})[
            "result"
        ]["dept_id"]
        api.ok(
            "topapi/v2/user/create",
            {
                "userid": "zhangsan",
                "name": "张三",
                "mobile": "15172391968",
                "dept_id_list": dept_id,
            },
        )
        token = api.token()
    departments, users, writes = first.tenant.departments(), first.tenant.users(), first.writes()
    first.close()

    second = Sandbox(path, clock=clock)
    assert second.tenant.departments() == departments
    assert second.tenant.users() == users
    assert second.writes() == writes
    with httpx.Client(base_url=second.base_url, transport=second.transport()) as client:
        api = Api(client)
        # A token issued by the first process is still good (plan in one run, apply in the next).
        answer = api.call("topapi/v2/department/get", {"dept_id": dept_id}, token=token)
        assert answer["result"]["owning_member_count"] == 1
        # Ids keep counting: a deleted id is never handed out again.
        api.ok("topapi/v2/user/delete", {"userid": "zhangsan"})
        api.ok("topapi/v2/department/delete", {"dept_id": dept_id})
        again = api.ok("topapi/v2/department/create", {"name": "研发中心", "parent_id": 1})
        assert again["result"]["dept_id"] == dept_id + 1
    second.close()


def test_the_write_log_keeps_every_write_in_order_and_no_reads(
    api: Api, sb: Sandbox, clock: FakeClock
):
    api.ok("topapi/v2/department/create", {"name": "研发中心", "parent_id": 1})
    clock.advance(1)
    api.call("topapi/v2/department/create", {"name": "研发中心", "parent_id": 1})  # 60021
    api.ok("topapi/v2/department/listsubid", {"dept_id": 1})  # a read: not logged
    clock.advance(1)
    api.ok("topapi/v2/department/delete", {"dept_id": 100_000_001})
    writes = sb.writes()
    assert [(w.api, w.errcode) for w in writes] == [
        ("topapi/v2/department/create", 0),
        ("topapi/v2/department/create", 60021),
        ("topapi/v2/department/delete", 0),
    ]
    assert writes[0].body == {"name": "研发中心", "parent_id": 1}
    assert [w.at - writes[0].at for w in writes] == [0, 1, 2]


def test_reset_leaves_only_the_root(api: Api, sb: Sandbox):
    sb.tenant.add_department("研发中心")
    sb.tenant.add_user("zhangsan", "张三", "15172391968", [1])
    api.ok("topapi/v2/department/create", {"name": "市场部", "parent_id": 1})
    sb.tenant.reset()
    assert [(d["dept_id"], d["name"]) for d in sb.tenant.departments()] == [(1, "示例科技")]
    assert sb.tenant.users() == []
    assert sb.writes() == []
    assert sb.tenant.add_department("研发中心") == 100_000_001  # ids start over


def test_the_default_file_lives_under_orgctl_home(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ORGCTL_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "sandbox.db"
    monkeypatch.delenv("ORGCTL_HOME")
    assert default_db_path() == Path(".orgctl/sandbox.db")
