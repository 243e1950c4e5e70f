"""Who hears of which change after an apply, and in what words (pure: plans and reports built
here, no tenant)."""

from __future__ import annotations

import dataclasses
import re

from reconciler.apply.report import ApplyReport, Outcome, StepResult
from reconciler.model import Org, User
from reconciler.notify.compose import (
    MAX_MSG_BYTES,
    ChangeKind,
    PersonChange,
    applied_changes,
    batches,
    deleted_people,
    msg_bytes,
    notices,
    people_to_look_up,
    render,
)
from reconciler.plan.document import Plan
from reconciler.plan.planner import build_plan
from reconciler.policy import Policy, Safety
from tests.plan.builders import dept, user

POLICY = Policy(prune_users=True, safety=Safety(max_user_delete_fraction=1.0))


def person(userid: str, name: str, *depts: str, manager: str | None = None, n: int = 0) -> User:
    return user(
        userid,
        name,
        *depts,
        mobile=f"+86-1390000{n:04d}",
        email=f"{userid}@example.com",
        manager=manager,
    )


def live_org() -> Org:
    """研发中心 (boss) with 前端组 (webm) and 运维组 (opsm) below it, 销售部 (salesm)."""
    departments = [
        dept("eng", "研发中心", managers=("boss",), dept_id=2),
        dept("eng-web", "前端组", "eng", managers=("webm",), dept_id=3),
        dept("eng-ops", "运维组", "eng", managers=("opsm",), dept_id=4),
        dept("sales", "销售部", managers=("salesm",), dept_id=5),
    ]
    users = [
        person("boss", "老板", "eng", n=1),
        person("webm", "前端主管", "eng-web", manager="boss", n=2),
        person("opsm", "运维主管", "eng-ops", n=3),
        person("salesm", "销售主管", "sales", n=4),
        person("alice", "爱丽丝", "eng-web", manager="boss", n=5),
        person("bob", "鲍勃", "eng-web", manager="opsm", n=6),
        person("dave", "戴夫", "eng-web", n=7),
        person("erin", "艾琳", "sales", n=8),
    ]
    return Org.of(departments, users)


def desired_org(live: Org) -> Org:
    """alice and webm pruned, bob gets a new mobile (replace), dave moves to 运维组."""
    departments = [
        dataclasses.replace(d, managers=None if d.key == "eng-web" else d.managers, dept_id=None)
        for d in live.departments.values()
    ]
    users = {u.userid: u for u in live.users.values() if u.userid not in ("alice", "webm")}
    users["bob"] = dataclasses.replace(users["bob"], mobile="+86-13700000001")
    users["dave"] = dataclasses.replace(users["dave"], departments=("eng-ops",))
    return Org.of(departments, list(users.values()))


def report_of(plan: Plan, failed: frozenset[str] = frozenset()) -> ApplyReport:
    return ApplyReport(
        tuple(
            StepResult(
                s.id,
                str(s.action),
                s.key,
                Outcome.FAILED if s.id in failed else Outcome.DONE,
            )
            for s in plan.steps
        )
    )


def scenario(failed: frozenset[str] = frozenset()) -> tuple[list[PersonChange], ApplyReport, Plan]:
    live = live_org()
    desired = desired_org(live)
    plan = build_plan(desired, live, POLICY)
    report = report_of(plan, failed)
    return applied_changes(plan, report, live, desired), report, plan


def test_each_change_goes_to_the_right_managers():
    changes, report, plan = scenario()
    by_person = {c.userid: c for c in changes}
    assert {u: c.kind for u, c in by_person.items()} == {
        "alice": ChangeKind.DELETED,
        "webm": ChangeKind.DELETED,
        "bob": ChangeKind.REPLACED,
        "dave": ChangeKind.MOVED,
    }
    # Deleted: their manager and their departments' managers.
    assert by_person["alice"].recipients == {"boss", "webm"}
    assert by_person["alice"].departments == ("研发中心/前端组",)
    # Replaced: the same.
    assert by_person["bob"].recipients == {"opsm", "webm"}
    # Moved: the managers of the department left and of the one joined.
    assert by_person["dave"].recipients == {"webm", "opsm"}
    assert by_person["dave"].departments == ("研发中心/前端组",)
    assert by_person["dave"].joined == ("研发中心/运维组",)
    # The manager deleted: reported to their manager; they are excluded everywhere.
    assert by_person["webm"].recipients == {"boss", "webm"}
    assert deleted_people(plan, report) == {"alice", "webm"}


def test_one_notice_per_recipient_listing_all_their_people_and_none_to_the_deleted():
    changes, report, plan = scenario()
    heard = notices(changes, excluded=deleted_people(plan, report))
    # Sorted by kind (deletions, replacements, moves), then by name (前端主管 before 爱丽丝).
    assert {r: [c.userid for c in cs] for r, cs in heard.items()} == {
        "boss": ["webm", "alice"],
        "opsm": ["bob", "dave"],
    }
    assert "webm" not in heard  # deleted by this apply: told nothing
    assert all(r not in {c.userid for c in cs} for r, cs in heard.items())  # never about oneself
    sent = batches(heard)
    assert sorted(b.recipients for b in sent) == [("boss",), ("opsm",)]
    boss = next(b.text for b in sent if b.recipients == ("boss",))
    assert boss.startswith("【通讯录变更】")
    assert "爱丽丝 已从通讯录删除（原部门：研发中心/前端组）" in boss
    assert "前端主管 已从通讯录删除" in boss
    opsm = next(b.text for b in sent if b.recipients == ("opsm",))
    assert "鲍勃 因手机号变更，账号已删除并重新创建" in opsm
    assert "戴夫 调离 研发中心/前端组，调入 研发中心/运维组" in opsm


def test_no_mobile_or_email_in_any_notice():
    changes, report, plan = scenario()
    live = live_org()
    texts = [b.text for b in batches(notices(changes, excluded=deleted_people(plan, report)))]
    texts += [b.text for b in batches(notices(changes), "en")]
    assert texts
    for text in texts:
        assert "@" not in text
        assert not re.search(r"\d{7,}", text), text
        for u in live.users.values():
            assert u.mobile is not None
            assert u.mobile.rpartition("-")[2] not in text
            assert u.email is not None
            assert u.email not in text


def test_failed_or_skipped_steps_are_not_announced():
    live = live_org()
    plan = build_plan(desired_org(live), live, POLICY)
    failed = frozenset(s.id for s in plan.steps if s.key in ("alice", "dave"))
    changes, _, _ = scenario(failed)
    assert {c.userid for c in changes} == {"webm", "bob"}
    # bob's re-create failed: he was deleted, not replaced.
    failed = frozenset(s.id for s in plan.steps if s.id.startswith("user.create:bob"))
    changes, report, plan = scenario(failed)
    assert next(c for c in changes if c.userid == "bob").kind is ChangeKind.DELETED
    assert "bob" in deleted_people(plan, report)


def test_people_whose_manager_was_not_read_are_looked_up_first():
    live = live_org()
    unread = Org.of(
        list(live.departments.values()),
        [dataclasses.replace(u, manager=None) for u in live.users.values()],
    )
    desired = desired_org(live)
    plan = build_plan(desired, unread, POLICY)
    assert people_to_look_up(plan, unread) == ["alice", "bob", "webm"]
    changes = applied_changes(
        plan, report_of(plan), unread, desired, {"alice": "salesm", "bob": None, "webm": "boss"}
    )
    by_person = {c.userid: c for c in changes}
    assert by_person["alice"].recipients == {"salesm", "webm"}
    assert by_person["bob"].recipients == {"webm"}


def test_batches_of_at_most_100_recipients_with_the_same_text():
    managers = tuple(f"m{n:03d}" for n in range(150))
    live = Org.of(
        [dept("big", "大部门", managers=managers, dept_id=2)],
        [person(m, f"主管{m}", "big", n=n) for n, m in enumerate(managers)]
        + [person("x", "小明", "big", n=999)],
    )
    desired = Org.of(
        [dataclasses.replace(live.departments["big"], dept_id=None)],
        [u for u in live.users.values() if u.userid != "x"],
    )
    plan = build_plan(desired, live, POLICY)
    changes = applied_changes(plan, report_of(plan), live, desired)
    sent = batches(notices(changes))
    assert [len(b.recipients) for b in sent] == [100, 50]
    assert sent[0].text == sent[1].text
    assert sorted(r for b in sent for r in b.recipients) == list(managers)


def test_a_long_notice_is_cut_to_2048_bytes_with_a_count_of_the_rest():
    changes = [
        PersonChange(
            ChangeKind.DELETED, f"u{n}", f"员工名字很长的人{n:03d}", ("研发中心/平台部/运维组",)
        )
        for n in range(60)
    ]
    text = render(changes)
    assert msg_bytes(text) <= MAX_MSG_BYTES
    shown = text.count("已从通讯录删除")
    assert 0 < shown < 60
    assert f"……另有 {60 - shown} 项变更" in text
    assert msg_bytes(render(changes[:3])) < MAX_MSG_BYTES
    assert "另有" not in render(changes[:3])


def test_hostile_names_cannot_break_lines_or_hide_text():
    change = PersonChange(ChangeKind.DELETED, "u1", "张\n三\u202e\x1b[8m", ("研发中心",))
    line = render([change]).splitlines()[1]
    assert line == "· 张 三\\u202e\\x1b[8m 已从通讯录删除（原部门：研发中心）"


def test_english_notices():
    changes, report, plan = scenario()
    sent = batches(notices(changes, excluded=deleted_people(plan, report)), "en")
    opsm = next(b.text for b in sent if b.recipients == ("opsm",))
    assert opsm.startswith("[Directory change]")
    assert "戴夫 left 研发中心/前端组; joined 研发中心/运维组" in opsm
