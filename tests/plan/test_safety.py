"""Thresholds build up step by step (octoDNS style); invariants hold even with --force."""

from __future__ import annotations

from reconciler.model import ROOT, Org, User
from reconciler.plan.planner import Action, Phase, Plan, Step, build_plan
from reconciler.plan.safety import Violation, check_safety
from reconciler.plan.steps import DeleteDepartment
from reconciler.policy import Policy, Safety
from tests.plan.builders import dept, live_dept, mobile, org, user

PRUNE = Policy(prune_users=True, prune_departments=True)


def people(n: int, *, first: int = 0) -> list[User]:
    return [user(f"u{i}", f"人{i}", "eng", mobile=mobile(i)) for i in range(first, first + n)]


def live_with(n_users: int) -> Org:
    return org(live_dept(2, "研发", key="eng"), *people(n_users))


def test_deleting_up_to_the_threshold_is_fine_and_one_more_is_refused() -> None:
    live = live_with(10)
    one_gone = build_plan(org(dept("eng", "研发"), *people(9, first=1)), live, PRUNE)
    assert check_safety(one_gone, PRUNE, force=False) == []  # 1 of 10 = 10%: not above
    two_gone = build_plan(org(dept("eng", "研发"), *people(8, first=2)), live, PRUNE)
    assert check_safety(two_gone, PRUNE, force=False) == [
        Violation(
            "user-delete-fraction",
            "would delete 2 of 10 users (20%) > 10% limit; re-run with --force if intended",
            overridable=True,
        )
    ]
    assert check_safety(two_gone, PRUNE, force=True) == []


def test_small_orgs_are_below_the_minimum_and_never_checked() -> None:
    plan = build_plan(org(dept("eng", "研发")), live_with(9), PRUNE)
    assert len([s for s in plan.steps if s.action is Action.DELETE_USER]) == 9
    assert check_safety(plan, PRUNE, force=False) == []


def test_replaces_count_as_deletes_and_the_message_says_so() -> None:
    live = live_with(40)
    desired_people = [
        user(u.userid, u.name, "eng", mobile=mobile(100 + i) if i < 3 else u.mobile)
        for i, u in enumerate(people(40))
    ][:-2]  # 3 replaced, 2 deleted
    plan = build_plan(org(dept("eng", "研发"), *desired_people), live, PRUNE)
    (violation,) = check_safety(
        plan, Policy(prune_users=True, safety=Safety(max_user_delete_fraction=0.1)), force=False
    )
    assert violation.message == (
        "would delete or replace 5 of 40 users (12.5%, 3 of them replaced) > 10% limit; "
        "re-run with --force if intended"
    )


def test_department_fraction_has_its_own_limit() -> None:
    live = org(*[live_dept(i, f"部{i}", key=f"d{i}") for i in range(2, 14)])  # 12 departments
    keep = [dept(f"d{i}", f"部{i}") for i in range(2, 11)]  # 3 of 12 go: 25%, not above
    assert check_safety(build_plan(org(*keep), live, PRUNE), PRUNE, force=False) == []
    keep = keep[:-1]  # 4 of 12: 33.3%
    (violation,) = check_safety(build_plan(org(*keep), live, PRUNE), PRUNE, force=False)
    assert violation == Violation(
        "department-delete-fraction",
        "would delete 4 of 12 departments (33.3%) > 25% limit; re-run with --force if intended",
        overridable=True,
    )


def test_protected_user_is_never_deleted_or_replaced_even_with_force() -> None:
    live = live_with(3)
    policy = Policy(prune_users=True, protected_users=("u0", "u1"))
    desired = org(
        dept("eng", "研发"),
        user("u1", "人1", "eng", mobile=mobile(99)),
        user("u2", "人2", "eng", mobile=mobile(2)),
    )  # u0 deleted, u1 replaced
    violations = check_safety(build_plan(desired, live, policy), policy, force=True)
    assert [(v.rule, v.overridable) for v in violations] == [
        ("protected-user", False),
        ("protected-user", False),
    ]
    assert violations[0].message.startswith("would delete protected user u0;")
    assert violations[1].message.startswith(
        "would replace protected user u1 (its mobile changed: a replace deletes the person);"
    )


def test_root_department_is_an_invariant() -> None:
    step = Step(
        id="department.delete:root",
        phase=Phase.DELETE_DEPARTMENTS,
        key=ROOT,
        body=DeleteDepartment(dept=ROOT),
        destructive=True,
    )
    plan = Plan((step,), 0, 0, "sha256:a", "sha256:b")
    (violation,) = check_safety(plan, PRUNE, force=True)
    assert violation == Violation(
        "root-department",
        "step department.delete:root (delete_department) would change the root department "
        "(DingTalk 60007/60018); orgctl never changes it, even with --force",
        overridable=False,
    )
