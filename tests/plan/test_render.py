"""Renderers: golden files for every format and scenario, plus the Markdown size cap.

Regenerate the golden files after an intended change with

    ORGCTL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/plan/test_render.py

and review the diff like any other change: it is exactly what reviewers will see.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from reconciler.model import Org
from reconciler.plan.planner import Plan, build_plan
from reconciler.plan.render import MARKDOWN_BUDGET, Format, render, render_markdown, render_text
from reconciler.plan.safety import Violation, check_safety
from reconciler.policy import Lifecycle, Policy
from tests.golden import UPDATE
from tests.plan.builders import dept, live_dept, mobile, org, user

GOLDEN = Path(__file__).parent / "golden"

PRUNE = Policy(prune_users=True, prune_departments=True)


@dataclass(frozen=True)
class Case:
    desired: Org
    live: Org
    policy: Policy = PRUNE
    force: bool = False
    json_masked: bool = False
    secrets: tuple[str, ...] = field(default=())  # must never appear in text or Markdown
    today: datetime.date | None = None


def create_tree() -> Case:
    desired = org(
        dept("eng", "研发中心", order=10, managers=("zhangsan",)),
        dept("eng-platform", "平台部", "eng", order=10),
        dept("sales", "销售中心", order=20),
        user(
            "zhangsan",
            "张三",
            "eng",
            mobile=mobile(1),
            title="技术总监",
            email="zhangsan@example.com",
        ),
        user("lisi", "李四", "eng-platform", mobile=mobile(2), manager="zhangsan"),
    )
    return Case(desired, org())


def rename_move() -> Case:
    live = org(
        live_dept(2, "研发中心", key="eng"),
        live_dept(3, "运维组", "eng", key="sre"),
        live_dept(4, "基础架构组", "eng", key="infra"),
        live_dept(5, "销售部"),  # no source_identifier yet: adopted
        live_dept(6, "产品部", "eng", key="product"),
    )
    desired = org(
        dept("eng", "研发与产品中心"),
        dept("sre", "基础架构组", "eng"),  # swap names with infra
        dept("infra", "运维组", "eng"),
        dept("sales", "销售部", order=20),
        dept("product", "产品部", "sales"),  # moves under sales
    )
    return Case(desired, live)


def mobile_change() -> Case:
    live = org(
        live_dept(2, "研发", key="eng", managers=("zhangsan",)),
        user("zhangsan", "张三", "eng", mobile=mobile(1), title="总监"),
        user("lisi", "李四", "eng", mobile=mobile(2), manager="zhangsan"),
    )
    desired = org(
        dept("eng", "研发", managers=("zhangsan",)),
        user("zhangsan", "张三", "eng", mobile=mobile(3), title="总监"),
        user("lisi", "李四", "eng", mobile=mobile(2), manager="zhangsan"),
    )
    return Case(desired, live)


def mass_delete_refused() -> Case:
    everyone = [user(f"u{i:02d}", f"员工{i}", "eng", mobile=mobile(i)) for i in range(12)]
    live = org(live_dept(2, "研发", key="eng"), live_dept(3, "旧部门", key="old"), *everyone)
    desired = org(dept("eng", "研发"), *everyone[4:])
    policy = Policy(prune_users=True, prune_departments=True, protected_users=("u00",))
    return Case(desired, live, policy)


def pii_masked() -> Case:
    live = org(
        live_dept(2, "研发", key="eng"),
        user(
            "zhangsan",
            "张三",
            "eng",
            mobile="+86-15172391968",
            email="zs@old.example",
            telephone="010-88886666",
        ),
    )
    desired = org(
        dept("eng", "研发"),
        user(
            "zhangsan",
            "张三",
            "eng",
            mobile="+86-13911112222",
            email="zs@new.example",
            telephone="010-99997777",
        ),
        user("wangwu", "王五", "eng", mobile="+86-18600001234", email="wangwu@example.com"),
    )
    secrets = (
        "15172391968",
        "13911112222",
        "18600001234",
        "zs@old.example",
        "zs@new.example",
        "wangwu@example.com",
        "88886666",
        "99997777",
    )
    return Case(desired, live, json_masked=True, secrets=secrets)


def empty() -> Case:
    same = org(live_dept(2, "研发", key="eng"), user("zs", "张三", "eng", mobile=mobile(1)))
    return Case(org(dept("eng", "研发"), user("zs", "张三", "eng", mobile=mobile(1))), same)


def leavers() -> Case:
    """One leaver whose date has come, one moved into the holding department (7 days before),
    one only scheduled; prune is off. Two pending invitations, one stale (a warning)."""
    hired = int(datetime.datetime(2026, 10, 8, tzinfo=datetime.UTC).timestamp() * 1000)
    live = org(
        live_dept(2, "研发", key="eng", managers=("zhangsan",)),
        live_dept(3, "离职过渡", key="leavers"),
        user("zhangsan", "张三", "eng", mobile=mobile(1)),
        user("lisi", "李四", "eng", mobile=mobile(2), manager="zhangsan"),
        user("wangwu", "王五", "eng", mobile=mobile(3)),
        user("zhaoliu", "赵六", "eng", mobile=mobile(4)),
        # Invited, not joined: one hired 52 days ago (stale past 30), one without a date.
        replace(user("sunqi", "孙七", "eng", mobile=mobile(5)), active=False, hired_date=hired),
        replace(user("zhouba", "周八", "eng", mobile=mobile(6)), active=False),
    )
    desired = org(
        dept("eng", "研发", managers=("zhangsan",)),
        dept("leavers", "离职过渡"),
        user("zhangsan", "张三", "eng", mobile=mobile(1), leaves_on=datetime.date(2026, 11, 28)),
        user("lisi", "李四", "eng", mobile=mobile(2), leaves_on=datetime.date(2026, 12, 31)),
        user("wangwu", "王五", "eng", mobile=mobile(3), leaves_on=datetime.date(2026, 12, 6)),
        user("zhaoliu", "赵六", "eng", mobile=mobile(4)),
        user("sunqi", "孙七", "eng", mobile=mobile(5)),
        user("zhouba", "周八", "eng", mobile=mobile(6)),
    )
    policy = Policy(
        lifecycle=Lifecycle(holding_department="leavers", hold_days=7, invitation_max_days=30)
    )
    return Case(desired, live, policy, today=datetime.date(2026, 11, 29))


CASES: dict[str, Callable[[], Case]] = {
    "leavers": leavers,
    "create-tree": create_tree,
    "rename-move": rename_move,
    "mobile-change": mobile_change,
    "mass-delete-refused": mass_delete_refused,
    "pii-masked": pii_masked,
    "empty": empty,
}
SUFFIX = {Format.TEXT: "txt", Format.MARKDOWN: "md", Format.JSON: "json"}


def rendered(name: str, fmt: Format) -> tuple[str, Case, Plan, list[Violation]]:
    case = CASES[name]()
    plan = build_plan(case.desired, case.live, case.policy, today=case.today)
    violations = check_safety(plan, case.policy, force=case.force)
    # As the CLI renders: text and Markdown masked, JSON real unless the case says.
    masked = case.json_masked if fmt is Format.JSON else True
    return render(plan, fmt, violations=violations, masked=masked), case, plan, violations


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("name", list(CASES))
def test_golden(name: str, fmt: Format) -> None:
    text, _, _, _ = rendered(name, fmt)
    path = GOLDEN / f"{name}.{SUFFIX[fmt]}"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}: run with ORGCTL_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", [Format.TEXT, Format.MARKDOWN, Format.JSON])
def test_pii_never_leaks_where_masked(fmt: Format) -> None:
    text, case, _, _ = rendered("pii-masked", fmt)
    for secret in case.secrets:
        assert secret not in text
    assert "+86-139****2222" in text
    assert "z***@new.example" in text


def test_json_is_the_plan_and_keeps_real_values() -> None:
    text, _, plan, _ = rendered("mobile-change", Format.JSON)
    assert Plan.from_json(text) == plan
    assert mobile(3) in text
    # The replace, plus lisi re-linked to the new account and eng's manager list restored.
    assert json.loads(text)["summary"]["total"] == {
        "create": 0,
        "update": 2,
        "replace": 1,
        "delete": 0,
    }


def test_refusal_and_summary_are_shown() -> None:
    text, _, _, violations = rendered("mass-delete-refused", Format.TEXT)
    assert [(v.rule, v.overridable) for v in violations] == [
        ("protected-user", False),
        ("user-delete-fraction", True),
    ]
    lines = text.splitlines()
    refused = lines.index("Refused by safety checks: apply will not run this plan.")
    assert lines[refused - 1] == "Plan: 0 to create, 0 to update, 0 to replace, 5 to delete."
    assert "would delete 4 of 12 users (33.3%) > 10% limit" in text
    md, _, _, _ = rendered("mass-delete-refused", Format.MARKDOWN)
    assert md.index("Refused by safety checks") < md.index("<details>")
    assert md.index("destructive changes") < md.index("<details>")


def test_colour_only_when_asked() -> None:
    plan = build_plan(create_tree().desired, org(), PRUNE)
    assert "\x1b[" not in render_text(plan)
    coloured = render_text(plan, color=True)
    assert "\x1b[32m  + create department eng" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == render_text(plan)


def test_markdown_stays_under_the_budget_and_totals_stay_exact() -> None:
    n = 20_000
    live_people = [
        user(f"user{i:05d}", f"员工{i}", "eng", mobile=mobile(i), title="工程师") for i in range(n)
    ]
    desired_people = [
        user(u.userid, u.name, "eng", mobile=u.mobile, title="高级工程师") for u in live_people
    ]
    plan = build_plan(
        org(dept("eng", "研发"), *desired_people),
        org(live_dept(2, "研发", key="eng"), *live_people),
        PRUNE,
    )
    md = render_markdown(plan)
    assert len(md) <= MARKDOWN_BUDGET < 65_536
    assert f"**Plan: 0 to create, {n} to update, 0 to replace, 0 to delete.**" in md
    assert f"| users | 0 | {n} | 0 | 0 |" in md
    shown = md.count("~ update user")
    assert 0 < shown < n
    assert f"… {n - shown} more steps not shown" in md
    assert md.count("<details>") == md.count("</details>") == 1
    assert md.count("```") % 2 == 0


def test_markdown_keeps_names_from_breaking_the_comment() -> None:
    desired = org(dept("eng", "研发"), user("x", "<b>Bob</b> | ``` *", "eng", mobile=mobile(1)))
    md = render_markdown(build_plan(desired, org(live_dept(2, "研发", key="eng")), PRUNE))
    body = md.split("```diff\n", 1)[1].split("\n```\n", 1)[0]
    # A fence inside a name cannot close the code block; the name is still shown, defused.
    assert body.splitlines()[:2] == [
        "+ create user x  <b>Bob</b> | ˋˋˋ *",
        "    name: <b>Bob</b> | ˋˋˋ *",
    ]
    assert "```" not in body
