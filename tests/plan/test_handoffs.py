"""Emails and telephones handed from one person to another (swaps, rotations, a new or
re-created person taking what a kept one gives up): every order apply may choose is accepted
by the rule model, which refuses a second holder (60106, ignoring case; 40100)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest

from reconciler.errors import ConfigError
from reconciler.model import Org, User
from reconciler.phone import mask_email
from reconciler.plan.diff import FieldChange
from reconciler.plan.handoffs import placeholder
from reconciler.plan.planner import Action, Phase, Plan, Step, build_plan
from reconciler.plan.render import render_markdown
from reconciler.plan.steps import CreateUser, UpdateUser
from reconciler.policy import Policy, TenantTraits
from reconciler.sandbox import LENIENT, STRICT
from reconciler.sandbox.profile import Profile
from tests.plan.builders import dept, live_dept, mobile, org, user
from tests.plan.sim import RuleBroken, SimDingTalk

PRUNE = Policy(prune_users=True, prune_departments=True)
EMAIL = {n: f"p{n}@example.com" for n in range(1, 6)}

# Both readings of "" in user/update: a strict tenant ignores it (a release writes a
# placeholder), a lenient one clears with it (with or without `orgctl doctor` having saved so).
READINGS: dict[str, tuple[Profile, bool | None]] = {
    "strict": (STRICT, None),
    "lenient": (LENIENT, None),
    "lenient, known to clear": (LENIENT, True),
}


def with_reading(policy: Policy, clears: bool | None) -> Policy:
    return dataclasses.replace(policy, tenant=TenantTraits(empty_string_clears=clears))


def orders(plan: Plan) -> Iterator[list[Step]]:
    """Every order of the steps that keeps phases and respects `requires` (small plans)."""
    per_phase: list[list[list[Step]]] = []
    for phase in sorted({s.phase for s in plan.steps}):
        steps = [s for s in plan.steps if s.phase == phase]
        ids = {s.id for s in plan.steps if s.phase < phase}
        valid = []
        for perm in itertools.permutations(steps):
            done = set(ids)
            ok = True
            for step in perm:
                if not all(r in done for r in step.requires):
                    ok = False
                    break
                done.add(step.id)
            if ok:
                valid.append(list(perm))
        per_phase.append(valid)
    for parts in itertools.product(*per_phase):
        yield [step for part in parts for step in part]


def planned(desired: Org, live: Org, policy: Policy = PRUNE) -> Plan:
    """The plan, after checking that every order apply may choose works and converges on
    every reading of "" (the plan returned is the one for a tenant not known to clear)."""
    for profile, clears in READINGS.values():
        read_as = with_reading(policy, clears)
        plan = build_plan(desired, live, read_as)
        count = 0
        for order in orders(plan):
            sim = SimDingTalk.from_org(live, profile)
            sim.apply(plan, order)
            again = build_plan(desired, sim.to_org(), read_as)
            count += 1
            if clears is not True:
                # A value the YAML clears may stay where "" is not known to clear: the plan
                # says so (naming the person), and that is all that is left.
                warned = {w.split(":")[0] for w in plan.warnings if "clears the" in w}
                assert {s.key for s in again.steps} <= warned, [s.id for s in again.steps]
                continue
            assert again.empty, [s.id for s in again.steps]
        assert count >= 1
    return build_plan(desired, live, policy)


def ids(plan: Plan) -> list[str]:
    return [s.id for s in plan.steps]


def get(plan: Plan, step_id: str) -> Step:
    return next(s for s in plan.steps if s.id == step_id)


def people(*specs: tuple[str, int, str | None, str | None]) -> list[User]:
    """(userid, mobile n, email, telephone) → users in department eng."""
    return [
        user(u, f"人{u}", "eng", mobile=mobile(n), email=e, telephone=t) for u, n, e, t in specs
    ]


def live_org(*specs: tuple[str, int, str | None, str | None]) -> Org:
    return org(live_dept(2, "研发", key="eng"), *people(*specs))


def desired_org(*specs: tuple[str, int, str | None, str | None]) -> Org:
    return org(dept("eng", "研发"), *people(*specs))


def test_the_model_refuses_what_the_planner_must_avoid() -> None:
    # Without a release, the first of two swapping updates is refused: 60106, ignoring case.
    live = live_org(("u1", 1, EMAIL[1], None), ("u2", 2, EMAIL[2], None))
    naive = Step(
        id="user.update:u1",
        phase=Phase.UPDATE_USERS,
        key="u1",
        body=UpdateUser(userid="u1", email=EMAIL[2].upper()),
    )
    with pytest.raises(RuleBroken) as caught:
        SimDingTalk.from_org(live, STRICT).run(naive, {})
    assert caught.value.errcode == 60106
    live = live_org(("u1", 1, None, "8001"), ("u2", 2, None, "8002"))
    telephone = Step(
        id="user.update:u1",
        phase=Phase.UPDATE_USERS,
        key="u1",
        body=UpdateUser(userid="u1", telephone="8002"),
    )
    with pytest.raises(RuleBroken) as caught:
        SimDingTalk.from_org(live, STRICT).run(telephone, {})
    assert caught.value.errcode == 40100


def test_two_people_swapping_emails_release_one_first() -> None:
    live = live_org(("u1", 1, EMAIL[1], None), ("u2", 2, EMAIL[2], None))
    desired = desired_org(("u1", 1, EMAIL[2], None), ("u2", 2, EMAIL[1], None))
    plan = planned(desired, live)
    assert ids(plan) == ["user.release:u1", "user.update:u2", "user.update:u1"]
    release = get(plan, "user.release:u1")
    assert release.action is Action.UPDATE_USER
    assert release.phase is Phase.UPDATE_USERS
    # Not known to clear with "": a placeholder under a reserved domain, unique to u1.
    temporary = placeholder("email", "u1")
    assert temporary.endswith("@release.example.invalid")
    assert temporary != placeholder("email", "U1")
    assert release.body == UpdateUser(userid="u1", email=temporary)
    assert release.changes == (FieldChange("email", EMAIL[1], temporary),)
    assert "temporary email" in release.note
    assert "u2" in release.note
    assert "60106" in release.note
    assert get(plan, "user.update:u2").requires == ("user.release:u1",)
    assert get(plan, "user.update:u1").requires == ("user.release:u1", "user.update:u2")
    assert get(plan, "user.update:u1").body == UpdateUser(userid="u1", email=EMAIL[2])
    # Still two people updated, not three.
    assert plan.summary.users.update == 2
    # The PR comment shows the placeholder masked, like any email.
    assert plan.masked().steps[0].body == UpdateUser(userid="u1", email=mask_email(temporary))
    assert temporary not in render_markdown(plan)
    # Where "" is known to clear, the release clears; masking leaves the empty value readable.
    clears = planned(desired, live, with_reading(PRUNE, True))
    assert get(clears, "user.release:u1").body == UpdateUser(userid="u1", email="")
    assert "clears the email" in get(clears, "user.release:u1").note
    assert clears.masked().steps[0].body == UpdateUser(userid="u1", email="")


def test_a_three_way_rotation_needs_one_release() -> None:
    # u1 takes u2's email, u2 takes u3's, u3 takes u1's.
    live = live_org(("u1", 1, EMAIL[1], None), ("u2", 2, EMAIL[2], None), ("u3", 3, EMAIL[3], None))
    desired = desired_org(
        ("u1", 1, EMAIL[2], None), ("u2", 2, EMAIL[3], None), ("u3", 3, EMAIL[1], None)
    )
    plan = planned(desired, live)
    assert ids(plan) == [
        "user.release:u1",
        "user.update:u3",
        "user.update:u2",
        "user.update:u1",
    ]
    assert get(plan, "user.update:u3").requires == ("user.release:u1",)
    assert get(plan, "user.update:u2").requires == ("user.update:u3",)
    assert get(plan, "user.update:u1").requires == ("user.release:u1", "user.update:u2")


def test_telephones_and_emails_crossing_make_one_cycle() -> None:
    # u1 takes u2's email, u2 takes u1's telephone; u3 simply takes what u2 frees.
    live = live_org(("u1", 1, EMAIL[1], "8001"), ("u2", 2, EMAIL[2], "8002"), ("u3", 3, None, None))
    desired = desired_org(
        ("u1", 1, EMAIL[2], "8009"), ("u2", 2, EMAIL[4], "8001"), ("u3", 3, None, "8002")
    )
    plan = planned(desired, live)
    (release,) = [s for s in plan.steps if s.id.startswith("user.release:")]
    assert release.id == "user.release:u1"
    assert release.body == UpdateUser(userid="u1", telephone=placeholder("telephone", "u1"))
    assert placeholder("telephone", "u1").isdigit()
    assert get(plan, "user.update:u3").requires == ("user.update:u2",)


def test_emails_swapped_with_different_case_are_still_a_swap() -> None:
    live = live_org(("u1", 1, "Ann@Example.com", None), ("u2", 2, "bob@example.com", None))
    desired = desired_org(("u1", 1, "BOB@example.com", None), ("u2", 2, "ann@example.com", None))
    plan = planned(desired, live)
    assert ids(plan)[0] == "user.release:u1"
    # A change of case alone keeps the address: nothing to release, nothing to wait for.
    live = live_org(("u1", 1, "Ann@Example.com", None))
    desired = desired_org(("u1", 1, "ann@example.com", None))
    plan = planned(desired, live)
    assert ids(plan) == ["user.update:u1"]
    assert get(plan, "user.update:u1").requires == ()


def test_a_swap_with_a_replaced_person_defers_the_new_accounts_email() -> None:
    # u1 gets a new mobile (delete + create) and swaps emails with u2, who stays.
    live = live_org(("u1", 1, EMAIL[1], None), ("u2", 2, EMAIL[2], None))
    desired = desired_org(("u1", 9, EMAIL[2], None), ("u2", 2, EMAIL[1], None))
    plan = planned(desired, live)
    assert ids(plan) == [
        "user.delete:u1",
        "user.create:u1",
        "user.update:u2",
        "user.update:u1",
    ]
    create = get(plan, "user.create:u1")
    assert isinstance(create.body, CreateUser)
    assert create.body.email is None  # u2 still has it while phase 4 runs
    assert [c.name for c in create.changes] == ["mobile"]
    assert get(plan, "user.update:u2").requires == ("user.delete:u1",)
    late = get(plan, "user.update:u1")
    assert late.body == UpdateUser(userid="u1", email=EMAIL[2])
    assert late.changes == (FieldChange("email", EMAIL[1], EMAIL[2]),)
    assert late.requires == ("user.create:u1", "user.update:u2")
    assert not any(s.id.startswith("user.release:") for s in plan.steps)
    assert plan.summary.users.replace == 1
    assert plan.summary.users.update == 1


def test_a_new_person_taking_an_email_a_kept_one_gives_up_gets_it_in_phase_five() -> None:
    live = live_org(("old", 1, EMAIL[1], "8001"))
    desired = desired_org(("old", 1, EMAIL[2], ""), ("new", 2, EMAIL[1], "8001"))
    plan = planned(desired, live)
    create = get(plan, "user.create:new")
    assert isinstance(create.body, CreateUser)
    assert create.body.email is None
    assert create.body.telephone is None
    late = get(plan, "user.update:new")
    assert late.body == UpdateUser(userid="new", email=EMAIL[1], telephone="8001")
    assert late.requires == ("user.create:new", "user.update:old")
    assert plan.summary.users.create == 1
    # The YAML clears old's telephone; "" is not known to clear and new takes the value, so
    # old gets a placeholder (new's write is not refused, 40100) and the plan says so.
    give_up = get(plan, "user.update:old")
    assert isinstance(give_up.body, UpdateUser)
    assert give_up.body.telephone == placeholder("telephone", "old")
    assert "placeholder" in give_up.note
    assert [w for w in plan.warnings if w.startswith("old: the YAML clears the telephone")]
    # Where "" is known to clear: a clear, and no warning.
    clears = planned(desired, live, with_reading(PRUNE, True))
    assert get(clears, "user.update:old").body == UpdateUser(
        userid="old", email=EMAIL[2], telephone=""
    )
    assert not [w for w in clears.warnings if "clears the" in w]


def test_a_clear_nobody_takes_is_sent_as_empty_and_warned_about() -> None:
    live = live_org(("u1", 1, EMAIL[1], "8001"))
    desired = desired_org(("u1", 1, EMAIL[1], ""))
    plan = planned(desired, live)
    assert get(plan, "user.update:u1").body == UpdateUser(userid="u1", telephone="")
    assert plan.warnings == (
        "u1: the YAML clears the telephone, but this tenant is not known to clear a field "
        'with "" (tenant.empty_string_clears; `orgctl doctor --save` checks), so u1 may keep '
        "it and later plans show the change again",
    )


def test_a_re_created_person_does_not_carry_over_a_value_the_yaml_gives_away() -> None:
    # u1's email is unmanaged (None in the YAML) but u2 takes it: the re-created u1 must not.
    live = live_org(("u1", 1, EMAIL[1], None), ("u2", 2, EMAIL[2], None))
    desired = desired_org(("u1", 9, None, None), ("u2", 2, EMAIL[1], None))
    plan = planned(desired, live)
    recreated = get(plan, "user.create:u1").body
    assert isinstance(recreated, CreateUser)
    assert recreated.email is None
    assert get(plan, "user.update:u2").requires == ("user.delete:u1",)


def test_taking_a_deleted_persons_email_waits_for_the_delete() -> None:
    live = live_org(("gone", 1, EMAIL[1], None), ("u2", 2, EMAIL[2], None))
    desired = desired_org(("u2", 2, EMAIL[1], None))
    plan = planned(desired, live)
    assert get(plan, "user.update:u2").requires == ("user.delete:gone",)


def test_an_email_held_by_a_kept_person_in_another_case_is_a_config_error() -> None:
    live = live_org(("u1", 1, "Ann@Example.com", None), ("u2", 2, None, None))
    desired = desired_org(("u1", 1, "Ann@Example.com", None), ("u2", 2, "ann@example.com", None))
    with pytest.raises(ConfigError) as caught:
        build_plan(desired, live, PRUNE)
    assert "the email is already used by live user u1" in caught.value.problems[0].message


@pytest.mark.parametrize("reading", list(READINGS))
def test_a_long_rotation_is_one_release_and_a_chain(reading: str) -> None:
    profile, clears = READINGS[reading]
    policy = with_reading(PRUNE, clears)
    n = 3000  # deeper than Python's recursion limit: the cycle search must be iterative
    live_users = [
        user(f"u{i:04d}", "人", "eng", mobile=mobile(i), telephone=str(i)) for i in range(n)
    ]
    want_users = [
        user(f"u{i:04d}", "人", "eng", mobile=mobile(i), telephone=str((i + 1) % n))
        for i in range(n)
    ]
    live = org(live_dept(2, "研发", key="eng"), *live_users)
    desired = org(dept("eng", "研发"), *want_users)
    plan = build_plan(desired, live, policy)
    releases = [s.id for s in plan.steps if s.id.startswith("user.release:")]
    assert releases == ["user.release:u0000"]
    sim = SimDingTalk.from_org(live, profile)
    sim.apply(plan)
    assert build_plan(desired, sim.to_org(), policy).empty


def test_a_deferred_manager_and_a_deferred_email_are_one_update() -> None:
    # n1 and n2 are new and manage each other (n2 gets its manager in phase 5); n2 also takes
    # the email old gives up.
    live = live_org(("old", 1, EMAIL[1], None))
    desired = org(
        dept("eng", "研发"),
        user("old", "旧", "eng", mobile=mobile(1), email=EMAIL[2]),
        user("n1", "一", "eng", mobile=mobile(2), manager="n2"),
        user("n2", "二", "eng", mobile=mobile(3), email=EMAIL[1], manager="n1"),
    )
    plan = planned(desired, live)
    late = [s for s in plan.steps if s.key == "n2" and s.action is Action.UPDATE_USER]
    assert [s.id for s in late] == ["user.update:n2"]
    assert late[0].body == UpdateUser(userid="n2", manager="n1", email=EMAIL[1])
    assert late[0].requires == ("user.create:n2", "user.create:n1", "user.update:old")
    assert "manager set after creation" in late[0].note
    assert "email set once old gives it up" in late[0].note
