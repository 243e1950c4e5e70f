"""End to end over HTTP: the example org applied to an empty sandbox server on loopback, then
the edits people make (rename, move a subtree, move people, a new mobile, delete a department
after moving its people out, swap two mobiles), each converging to an empty plan with no
write DingTalk's rules reject."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.apply.executor import apply_plan
from reconciler.clock import FakeClock
from reconciler.desired.load import load_desired
from reconciler.model import ROOT, Department, Org
from reconciler.plan.planner import build_plan
from reconciler.policy import Policy
from reconciler.sandbox import Sandbox, ServerHandle, serve
from tests.apply.helpers import apply_once, make_client, plan_for, read


@pytest.fixture
def server(sb: Sandbox) -> Iterator[ServerHandle]:
    with serve(sb, "127.0.0.1") as handle:
        yield handle


@pytest.fixture
def example(repo_root: Path) -> tuple[Org, Policy]:
    return load_desired(repo_root / "org")


def edited(desired: Org) -> Org:
    """The example org after a reorganisation touching every kind of change."""
    depts, users = dict(desired.departments), dict(desired.users)
    change = dataclasses.replace
    # Rename.
    depts["eng-web"] = change(depts["eng-web"], name="前端组")
    # Move a subtree (平台部 with 运维组 and 基础架构组) under a new top-level department.
    depts["platform-bg"] = Department(key="platform-bg", name="平台事业群", parent=ROOT, order=15)
    depts["eng-platform"] = change(depts["eng-platform"], parent="platform-bg")
    # Delete 杭州办事处 after moving its people to 华东大区.
    moved_out = [u for u in users.values() if "sales-hangzhou" in u.departments]
    assert moved_out, "the example org should have people in sales-hangzhou"
    for user in moved_out:
        kept = {d for d in user.departments if d != "sales-hangzhou"} | {"sales-east"}
        users[user.userid] = change(user, departments=tuple(sorted(kept)))
    del depts["sales-hangzhou"]
    # Move a person.
    users["michael"] = change(users["michael"], departments=("eng-sre",))
    # A new mobile (replace), and two people swapping theirs.
    users["qianwei"] = change(users["qianwei"], mobile="+86-13700000001")
    lisi, zhaolei = users["lisi"], users["zhaolei"]
    users["lisi"] = change(lisi, mobile=zhaolei.mobile)
    users["zhaolei"] = change(zhaolei, mobile=lisi.mobile)
    return Org.of(list(depts.values()), list(users.values()))


def test_the_example_org_then_a_reorganisation_converge_over_http(
    sb: Sandbox, server: ServerHandle, clock: FakeClock, example: tuple[Org, Policy]
) -> None:
    desired, policy = example
    after = edited(desired)

    async def scenario() -> None:
        async with make_client(None, clock, url=server.url) as client:
            first = await apply_once(client, desired, clock, policy)
            assert first.report.ok, first.report.failed
            assert len(first.report.done) == len(first.plan.steps) > 0
            assert (await plan_for(client, desired, policy)).empty

            second = await apply_once(client, after, clock, policy)
            assert second.report.ok, second.report.failed
            actions = {(str(s.action), s.key) for s in second.plan.steps}
            assert ("delete_user", "qianwei") in actions  # the mobile change is a replace
            assert ("delete_department", "sales-hangzhou") in actions
            assert (await plan_for(client, after, policy)).empty

    asyncio.run(scenario())

    by_key = {d["source_identifier"]: d for d in sb.tenant.departments() if d["dept_id"] != 1}
    assert "sales-hangzhou" not in by_key
    assert by_key["eng-web"]["name"] == "前端组"
    assert by_key["eng-platform"]["parent_id"] == by_key["platform-bg"]["dept_id"]
    assert by_key["eng-sre"]["parent_id"] == by_key["eng-platform"]["dept_id"]
    people = {u["userid"]: u for u in sb.tenant.users()}
    assert people["lisi"]["mobile"] == desired.users["zhaolei"].mobile.split("-")[1]  # type: ignore[union-attr]
    assert people["zhaolei"]["mobile"] == desired.users["lisi"].mobile.split("-")[1]  # type: ignore[union-attr]
    assert people["qianwei"]["mobile"] == "13700000001"
    rejected = [(w.api, w.errcode) for w in sb.writes() if w.errcode != 0]
    assert rejected == []


def test_a_second_apply_right_after_a_successful_one_writes_nothing(
    sb: Sandbox, server: ServerHandle, clock: FakeClock, example: tuple[Org, Policy]
) -> None:
    desired, policy = example

    async def scenario() -> None:
        async with make_client(None, clock, url=server.url) as client:
            first = await apply_once(client, desired, clock, policy)
            assert first.report.ok
            writes_after_first = len(sb.writes())
            second = await apply_once(client, desired, clock, policy)
            assert second.plan.empty
            assert second.report.results == ()
            assert len(sb.writes()) == writes_after_first

    asyncio.run(scenario())


def test_a_failed_step_reports_a_hint_and_the_rest_still_lands(
    sb: Sandbox, server: ServerHandle, clock: FakeClock, example: tuple[Org, Policy]
) -> None:
    desired, policy = example
    mobile = desired.users["zhangsan"].mobile
    assert mobile is not None

    async def scenario() -> None:
        async with make_client(None, clock, url=server.url) as client:
            live = await read(client, desired)
            plan = build_plan(desired, live, policy)
            # Between plan and apply, someone adds an account by hand in the console (in a
            # subtree orgctl does not manage) with 张三's mobile: his create fails (60104).
            outsourced = sb.tenant.add_department("外包团队")
            sb.tenant.add_user("contractor1", "外包甲", mobile, [outsourced])
            report = await apply_plan(plan, client, live, clock=clock)
            (failed,) = report.failed
            assert failed.step_id == "user.create:zhangsan"
            assert failed.errcode == 60104
            assert failed.hint == "mobile already used by userid contractor1"
            skipped = {r.step_id: r.message for r in report.skipped}
            # He manages 研发中心, and others name him as their manager.
            assert "user.create:zhangsan failed" in skipped["department.managers:eng"]
            assert report.exit_code == 1
            done_users = {r.key for r in report.done if r.action == "create_user"}
            assert done_users == set(desired.users) - {"zhangsan"} - {r.key for r in report.skipped}
            assert len(done_users) > len(desired.users) // 2

    asyncio.run(scenario())
    assert [w.errcode for w in sb.writes() if w.errcode != 0] == [60104]
