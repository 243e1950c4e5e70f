"""End to end on the sandbox: people swapping emails (a pair, a three-way rotation, a pair
where one of them is re-created for a new mobile) apply with no write refused, and the next
plan is empty. The sandbox refuses a second holder of an email (60106), so a plan that took
an email before its holder released it would show up here as a rejected write."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from reconciler.apply.executor import apply_plan
from reconciler.clock import FakeClock
from reconciler.model import ROOT, Department, Org, User
from reconciler.plan.planner import Plan, build_plan
from reconciler.policy import Policy, TenantTraits
from reconciler.sandbox import LENIENT, STRICT, Sandbox
from tests.apply.helpers import apply_once, make_client, plan_for, read, seed

# Both readings of "" in user/update: the strict tenant ignores it (the release writes a
# placeholder), the lenient one clears with it; on lenient both with and without
# `orgctl doctor` having saved that "" clears.
READINGS = {
    "strict": (STRICT, None),
    "lenient": (LENIENT, None),
    "lenient, known to clear": (LENIENT, True),
}


@pytest.fixture(params=list(READINGS))
def reading(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sb(clock: FakeClock, reading: str) -> Iterator[Sandbox]:
    sandbox = Sandbox(clock=clock, profile=READINGS[reading][0])
    yield sandbox
    sandbox.close()


@pytest.fixture
def policy(reading: str) -> Policy:
    clears = READINGS[reading][1]
    return Policy(prune_users=True, tenant=TenantTraits(empty_string_clears=clears))


EMAILS = ("ann@example.com", "bob@example.com", "cy@example.com")


def person(n: int, email: str, *, mobile: int | None = None) -> User:
    return User(
        userid=f"u{n}",
        name=f"人{n}",
        departments=("eng",),
        mobile=f"+86-1380013{mobile if mobile is not None else n:04d}",
        email=email,
    )


def orgs(live_emails: list[str], desired: list[User]) -> tuple[Org, Org]:
    live_dept = Department(key="eng", name="研发", parent=ROOT, dept_id=2, source_identifier="eng")
    want_dept = Department(key="eng", name="研发", parent=ROOT)
    live = Org.of([live_dept], [person(n, e) for n, e in enumerate(live_emails)])
    return live, Org.of([want_dept], desired)


def emails(sb: Sandbox) -> dict[str, str | None]:
    return {u["userid"]: u.get("email") for u in sb.tenant.users()}


def rejected(sb: Sandbox) -> list[tuple[str, int]]:
    return [(w.api, w.errcode) for w in sb.writes() if w.errcode != 0]


CASES = {
    "swap": (
        [EMAILS[0], EMAILS[1]],
        [person(0, EMAILS[1]), person(1, EMAILS[0])],
    ),
    "rotation": (
        list(EMAILS),
        [person(0, EMAILS[1]), person(1, EMAILS[2]), person(2, EMAILS[0])],
    ),
    "swap with a re-created person": (
        [EMAILS[0], EMAILS[1]],
        [person(0, EMAILS[1], mobile=9), person(1, EMAILS[0])],
    ),
    "swap in another case": (
        [EMAILS[0], EMAILS[1]],
        [person(0, EMAILS[1].upper()), person(1, EMAILS[0].title())],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_emails_change_hands_with_no_rejected_write(
    sb: Sandbox, clock: FakeClock, policy: Policy, case: str
) -> None:
    live_emails, desired_users = CASES[case]
    live, desired = orgs(live_emails, desired_users)
    seed(sb, live)

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            run = await apply_once(client, desired, clock, policy, concurrency=8)
            assert run.report.ok, [(r.step_id, r.errcode, r.message) for r in run.report.failed]
            assert len(run.report.done) == len(run.plan.steps)
            assert (await plan_for(client, desired, policy)).empty

    asyncio.run(scenario())
    assert rejected(sb) == []
    assert emails(sb) == {u.userid: u.email for u in desired_users}


def test_without_the_release_the_sandbox_refuses_the_swap(
    sb: Sandbox, clock: FakeClock, policy: Policy
) -> None:
    # The same swap with the release step taken out (and nothing waiting): the first update
    # takes an email its holder still has. This is what the release step prevents.
    live_emails, desired_users = CASES["swap"]
    live, desired = orgs(live_emails, desired_users)
    seed(sb, live)

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            read_live = await read(client, desired)
            plan = build_plan(desired, read_live, policy)
            assert plan.steps[0].id == "user.release:u0"
            naive = Plan(
                steps=tuple(
                    dataclasses.replace(s, requires=())
                    for s in plan.steps
                    if not s.id.startswith("user.release:")
                ),
                existing_users=plan.existing_users,
                existing_departments=plan.existing_departments,
                live_fingerprint=plan.live_fingerprint,
                desired_fingerprint=plan.desired_fingerprint,
            )
            report = await apply_plan(naive, client, read_live, clock=clock, concurrency=1)
            # Each takes the other's email while the other still has it.
            assert [(r.step_id, r.errcode) for r in report.failed] == [
                ("user.update:u1", 60106),
                ("user.update:u0", 60106),
            ]

    asyncio.run(scenario())
    assert rejected(sb) == [("topapi/v2/user/update", 60106)] * 2


def test_telephones_rotate_with_no_rejected_write(
    sb: Sandbox, clock: FakeClock, policy: Policy
) -> None:
    # Extension numbers are unique too (40100): the same hand-off ordering must hold for them.
    phones = ("8100", "8101", "8102")
    live, desired = orgs(
        list(EMAILS),
        [
            dataclasses.replace(person(n, EMAILS[n]), telephone=phones[(n + 1) % 3])
            for n in range(3)
        ],
    )
    live = Org.of(
        list(live.departments.values()),
        [dataclasses.replace(u, telephone=phones[n]) for n, u in enumerate(live.users.values())],
    )
    seed(sb, live)

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            run = await apply_once(client, desired, clock, policy, concurrency=8)
            assert run.report.ok, [(r.step_id, r.errcode, r.message) for r in run.report.failed]
            assert (await plan_for(client, desired, policy)).empty

    asyncio.run(scenario())
    assert rejected(sb) == []
    telephones = {u["userid"]: u.get("telephone") for u in sb.tenant.users()}
    assert telephones == {"u0": "8101", "u1": "8102", "u2": "8100"}
