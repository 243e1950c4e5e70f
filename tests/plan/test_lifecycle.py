"""`leaves_on`: a date that has come deletes (prune on or off, through safety), one still to
come is listed with its date and plans nothing, and which day it is depends on the policy's
time zone; the holding department move happens on its day and not the day before."""

from __future__ import annotations

import asyncio
import datetime
import json
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.apply.executor import apply_plan
from reconciler.clock import FakeClock, local_date
from reconciler.gitops.drift import build_drift_issue_body
from reconciler.live.target import open_target
from reconciler.model import Org
from reconciler.plan.document import Plan
from reconciler.plan.planner import build_plan
from reconciler.plan.render import render_markdown, render_text
from reconciler.plan.safety import check_safety
from reconciler.plan.steps import Action
from reconciler.policy import Lifecycle, Policy
from reconciler.reconcile import make_plan
from tests.plan.builders import dept, live_dept, mobile, org, user

D = datetime.date
TODAY = D(2026, 11, 29)


def people(leaves_on: D | None, *, manager_of_eng: bool = False) -> tuple[Org, Org]:
    managers = ("zs",) if manager_of_eng else None
    live = org(
        live_dept(2, "研发", key="eng", managers=managers or ()),
        live_dept(3, "过渡", key="hold"),
        user("zs", "张三", "eng", mobile=mobile(1)),
        user("ls", "李四", "eng", mobile=mobile(2)),
    )
    desired = org(
        dept("eng", "研发", managers=managers),
        dept("hold", "过渡"),
        user("zs", "张三", "eng", mobile=mobile(1), leaves_on=leaves_on),
        user("ls", "李四", "eng", mobile=mobile(2)),
    )
    return desired, live


def actions(plan: Plan) -> list[tuple[Action, str]]:
    return [(s.action, s.key) for s in plan.steps]


@pytest.mark.parametrize("prune", [False, True])
def test_a_date_that_has_come_deletes_whether_or_not_prune_is_on(prune: bool) -> None:
    desired, live = people(D(2026, 11, 1))
    plan = build_plan(desired, live, Policy(prune_users=prune), today=TODAY)
    assert actions(plan) == [(Action.DELETE_USER, "zs")]
    assert plan.steps[0].note == "leaves_on 2026-11-01: their leaving date has come"
    assert plan.scheduled == ()


def test_a_date_to_come_plans_nothing_and_is_listed_with_its_date() -> None:
    desired, live = people(D(2026, 12, 31))
    plan = build_plan(desired, live, Policy(prune_users=True), today=TODAY)
    assert plan.empty
    assert [(s.userid, s.leaves_on, s.held) for s in plan.scheduled] == [
        ("zs", D(2026, 12, 31), False)
    ]
    assert "  @ 2026-12-31  zs  张三\n" in render_text(plan)
    assert "- 2026-12-31  zs  张三\n" in render_markdown(plan)
    data = json.loads(plan.to_json())
    assert data["scheduled"] == [
        {"held": False, "leaves_on": "2026-12-31", "name": "张三", "userid": "zs"}
    ]
    assert Plan.from_json(plan.to_json()) == plan


def test_the_day_itself_deletes_and_the_day_before_does_not() -> None:
    desired, live = people(TODAY)
    assert actions(build_plan(desired, live, today=TODAY)) == [(Action.DELETE_USER, "zs")]
    assert build_plan(desired, live, today=TODAY - datetime.timedelta(days=1)).empty


def test_without_a_day_nobody_leaves() -> None:
    desired, live = people(D(2020, 1, 1))
    plan = build_plan(desired, live)
    assert plan.empty
    assert [s.userid for s in plan.scheduled] == ["zs"]


def test_a_plan_document_without_scheduled_still_reads() -> None:
    desired, live = people(None)
    data = json.loads(build_plan(desired, live, today=TODAY).to_json())
    del data["scheduled"]  # a version-2 document written before the field existed
    assert Plan.from_json(json.dumps(data)).scheduled == ()


def test_a_protected_leaver_is_refused_even_with_force() -> None:
    desired, live = people(D(2026, 11, 1))
    policy = Policy(protected_users=("zs",))
    plan = build_plan(desired, live, policy, today=TODAY)
    violations = check_safety(plan, policy, force=True)
    assert [(v.rule, v.overridable) for v in violations] == [("protected-user", False)]


def test_leavers_count_against_the_delete_threshold() -> None:
    staff = [user(f"u{i:02d}", f"员工{i}", "eng", mobile=mobile(i)) for i in range(10)]
    live = org(live_dept(2, "研发", key="eng"), *staff)
    leaving = [
        user(f"u{i:02d}", f"员工{i}", "eng", mobile=mobile(i), leaves_on=D(2026, 11, 1))
        for i in range(2)
    ]
    desired = org(dept("eng", "研发"), *leaving, *staff[2:])
    plan = build_plan(desired, live, today=TODAY)
    violations = check_safety(plan, Policy(), force=False)
    assert [v.rule for v in violations] == ["user-delete-fraction"]
    assert check_safety(plan, Policy(), force=True) == []


def test_a_leaving_manager_is_no_longer_planned_as_manager() -> None:
    desired, live = people(D(2026, 11, 1), manager_of_eng=True)
    plan = build_plan(desired, live, today=TODAY)
    assert actions(plan) == [(Action.DELETE_USER, "zs")]  # no set-managers step that fails
    assert any("eng loses manager zs" in w for w in plan.warnings)


HOLD = Policy(lifecycle=Lifecycle(holding_department="hold", hold_days=7))


def test_the_holding_move_happens_on_its_day_and_not_the_day_before() -> None:
    desired, live = people(D(2026, 12, 6))  # 7 days before: 2026-11-29
    before = build_plan(desired, live, HOLD, today=D(2026, 11, 28))
    assert before.empty
    assert [(s.userid, s.held) for s in before.scheduled] == [("zs", False)]
    on_the_day = build_plan(desired, live, HOLD, today=D(2026, 11, 29))
    assert actions(on_the_day) == [(Action.UPDATE_USER, "zs")]
    change = on_the_day.steps[0].changes[0]
    assert (change.name, change.old, change.new) == ("departments", ("eng",), ("hold",))
    assert [(s.userid, s.held) for s in on_the_day.scheduled] == [("zs", True)]
    assert "(in the holding department)" in render_text(on_the_day)


def test_a_held_manager_is_removed_from_the_managers_first() -> None:
    desired, live = people(D(2026, 12, 6), manager_of_eng=True)
    plan = build_plan(desired, live, HOLD, today=D(2026, 11, 29))
    assert (Action.UPDATE_USER, "zs") in actions(plan)
    assert any("eng loses manager zs" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("utc", "shanghai"),
    [
        ("2026-11-29T15:59:59+00:00", D(2026, 11, 29)),
        ("2026-11-29T16:00:00+00:00", D(2026, 11, 30)),
        ("2026-11-29T23:30:00+00:00", D(2026, 11, 30)),
    ],
)
def test_the_day_is_the_one_in_the_policy_time_zone(utc: str, shanghai: D) -> None:
    epoch = datetime.datetime.fromisoformat(utc).timestamp()
    assert local_date(epoch, "Asia/Shanghai") == shanghai
    assert local_date(epoch, "UTC") == D(2026, 11, 29)


ORG = """\
departments:
  - {key: eng, name: 研发, parent: root}
users:
  - userid: zs
    name: 张三
    mobile: "+86-13800130001"
    departments: [eng]
LEAVES
  - userid: ls
    name: 李四
    mobile: "+86-13800130002"
    departments: [eng]
"""


def test_make_plan_reads_the_day_from_the_clock_in_the_policy_time_zone(
    tmp_path: Path, clock: FakeClock
) -> None:
    org_dir = tmp_path / "org"
    org_dir.mkdir()
    (org_dir / "org.yaml").write_text(ORG.replace("LEAVES\n", ""), encoding="utf-8")

    async def plan_now() -> Plan:
        async with open_target(sandbox=True, clock=clock) as target:
            return (await make_plan(org_dir, target.client)).plan

    async def seed() -> None:
        async with open_target(sandbox=True, clock=clock) as target:
            result = await make_plan(org_dir, target.client)
            report = await apply_plan(result.plan, target.client, result.live, clock=clock)
            assert report.exit_code == 0

    asyncio.run(seed())
    text = ORG.replace("LEAVES", "    leaves_on: 2026-01-02")
    (org_dir / "org.yaml").write_text(text, encoding="utf-8")
    # 2026-01-01T15:30Z is 23:30 in Shanghai: still the 1st.
    clock.advance(datetime.timedelta(hours=15, minutes=30).total_seconds() - (clock.now() % 86400))
    plan = asyncio.run(plan_now())
    assert plan.empty
    assert [s.userid for s in plan.scheduled] == ["zs"]
    # One hour later it is 00:30 on the 2nd in Shanghai (still the 1st in UTC).
    clock.advance(3600)
    plan = asyncio.run(plan_now())
    assert actions(plan) == [(Action.DELETE_USER, "zs")]
    # The same instant with the policy in UTC: not yet.
    (org_dir / "orgctl.yaml").write_text("timezone: UTC\n", encoding="utf-8")
    assert asyncio.run(plan_now()).empty


# --------------------------------------------------------------------------- invitations

HIRED = int(datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC).timestamp() * 1000)


def invited(*, hired_date: int | None = HIRED) -> tuple[Org, Org]:
    desired, live = people(None)
    pending = replace(live.users["ls"], active=False, hired_date=hired_date)
    return desired, Org(live.departments, Org.of((), [live.users["zs"], pending]).users)


def invitation_policy(action: str, *, protected: tuple[str, ...] = ()) -> Policy:
    return Policy(
        protected_users=protected,
        lifecycle=Lifecycle(invitation_max_days=30, stale_invitations=action),  # type: ignore[arg-type]
    )


def test_pending_invitations_are_listed_with_their_date_and_plan_nothing() -> None:
    desired, live = invited()
    plan = build_plan(desired, live, today=TODAY)
    assert plan.empty
    assert [(p.userid, p.hired_on, p.stale) for p in plan.pending] == [
        ("ls", D(2026, 10, 1), False)
    ]
    assert "  @ ls  李四 (hired 2026-10-01)\n" in render_text(plan)
    assert "- ls  李四 (hired 2026-10-01)\n" in render_markdown(plan)
    assert json.loads(plan.to_json())["pending_invitations"] == [
        {"hired_on": "2026-10-01", "name": "李四", "stale": False, "userid": "ls"}
    ]
    assert Plan.from_json(plan.to_json()) == plan


def test_a_stale_invitation_is_a_warning_or_a_delete_through_safety() -> None:
    desired, live = invited()
    warned = build_plan(desired, live, invitation_policy("warn"), today=TODAY)
    assert warned.empty
    assert any("invitation to ls (李四) pending since" in w for w in warned.warnings)
    policy = invitation_policy("delete")
    deleted = build_plan(desired, live, policy, today=TODAY)
    assert actions(deleted) == [(Action.DELETE_USER, "ls")]
    assert "stale invitation" in deleted.steps[0].note
    assert check_safety(deleted, policy, force=False) == []
    protected = invitation_policy("delete", protected=("ls",))
    refused = check_safety(build_plan(desired, live, protected, today=TODAY), protected, force=True)
    assert [v.rule for v in refused] == ["protected-user"]


def test_an_invitation_without_a_date_or_younger_than_the_limit_stays() -> None:
    desired, live = invited(hired_date=None)
    assert build_plan(desired, live, invitation_policy("delete"), today=TODAY).empty
    desired, live = invited()
    day_30 = D(2026, 10, 31)  # 30 days after hire: not older than 30 days yet
    assert build_plan(desired, live, invitation_policy("delete"), today=day_30).empty


def test_the_drift_issue_lists_pending_invitations() -> None:
    desired, live = invited()
    plan = build_plan(desired, live, today=TODAY)
    body = build_drift_issue_body(render_markdown(plan), "https://x/run/1")
    assert "**Pending invitations** (not accepted yet, DingTalk 40103)" in body
    assert "- ls  李四 (hired 2026-10-01)" in body
