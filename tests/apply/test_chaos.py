"""Apply under faults, in-process on a fake clock: 5xx/-1, throttling, token expiry, timeouts
(also after the write was applied), a kill mid-apply. Every run must converge within three
applies, and no delete may happen that no plan asked for."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.apply.executor import StepEvent, apply_plan
from reconciler.clock import FakeClock
from reconciler.desired.load import load_desired
from reconciler.dingtalk import DingTalkClient
from reconciler.model import Org
from reconciler.plan.planner import Action, Plan, build_plan
from reconciler.plan.steps import DeleteDepartment
from reconciler.policy import Policy
from reconciler.sandbox import Sandbox
from tests.apply.helpers import Run, apply_once, make_client, plan_for, read
from tests.apply.test_sandbox_e2e import edited


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    sandbox = Sandbox(clock=clock, seed=11)  # the strict profile: 33012 for an unknown userid
    yield sandbox
    sandbox.close()


@pytest.fixture
def example(repo_root: Path) -> tuple[Org, Policy]:
    return load_desired(repo_root / "org")


class Deletes:
    """What each plan meant to delete, by what the write log will show (userid, dept_id)."""

    def __init__(self) -> None:
        self.users: set[str] = set()
        self.departments: set[int] = set()

    def note(self, plan: Plan, live: Org) -> None:
        for step in plan.steps:
            if step.action is Action.DELETE_USER:
                self.users.add(step.key)
            elif isinstance(step.body, DeleteDepartment):
                dept_id = live.departments[step.body.dept].dept_id
                assert dept_id is not None
                self.departments.add(dept_id)

    def unplanned(self, sb: Sandbox) -> list[tuple[str, object]]:
        found: list[tuple[str, object]] = []
        for write in sb.writes():
            if write.api.endswith("user/delete") and write.body["userid"] not in self.users:
                found.append((write.api, write.body["userid"]))
            if write.api.endswith("department/delete") and (
                write.body["dept_id"] not in self.departments
            ):
                found.append((write.api, write.body["dept_id"]))
        return found


async def apply_until_clean(
    client: DingTalkClient,
    desired: Org,
    policy: Policy,
    clock: FakeClock,
    deletes: Deletes,
    *,
    runs: int = 3,
    events: list[StepEvent] | None = None,
) -> list[Run]:
    history: list[Run] = []
    for _ in range(runs):
        on_event = events.append if events is not None else None
        run = await apply_once(client, desired, clock, policy, on_event=on_event)
        deletes.note(run.plan, run.live)
        history.append(run)
        if run.report.ok:
            break
    return history


@pytest.mark.parametrize("after_write", [True, False], ids=["applied", "not-applied"])
def test_faults_everywhere_still_converge_without_unplanned_deletes(
    sb: Sandbox, clock: FakeClock, example: tuple[Org, Policy], after_write: bool
) -> None:
    desired, policy = example
    after = edited(desired)
    deletes = Deletes()
    sb.faults.error_rate = 0.10  # HTTP 502 or -1
    sb.faults.throttle_rate = 0.05  # 90018 beyond the real limit
    sb.faults.timeout_rate = 0.05  # no answer
    sb.faults.timeout_after_write = after_write
    events: list[StepEvent] = []

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            first = await apply_until_clean(client, desired, policy, clock, deletes, events=events)
            assert first[-1].report.ok, first[-1].report.failed
            sb.expire_tokens()  # the token dies between runs too
            second = await apply_until_clean(client, after, policy, clock, deletes, events=events)
            assert second[-1].report.ok, second[-1].report.failed
            sb.faults.error_rate = sb.faults.throttle_rate = sb.faults.timeout_rate = 0.0
            assert (await plan_for(client, after, policy)).empty

    asyncio.run(scenario())
    assert deletes.unplanned(sb) == []
    # The faults did bite: some write outcomes were unknown and had to be read back.
    assert any(e.kind == "verify" for e in events)
    # No write the tenant executed was rejected: in particular no 60102/60021/60104 from a
    # create sent again after a timeout that had in fact created the object.
    assert [(w.api, w.errcode) for w in sb.writes() if w.errcode != 0] == []


def test_unknown_outcomes_are_read_back_not_written_twice(
    sb: Sandbox, clock: FakeClock, example: tuple[Org, Policy]
) -> None:
    desired, policy = example
    sb.faults.timeout_rate = 0.2
    sb.faults.timeout_after_write = True  # every timeout hides a write that happened
    events: list[StepEvent] = []

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            run = await apply_once(client, desired, clock, policy, on_event=events.append)
            assert run.report.ok, run.report.failed

    asyncio.run(scenario())
    verified = [e for e in events if e.kind == "verify"]
    assert verified, "a 20% timeout rate should have hidden some writes"
    # A department or user created once under a timeout is not created again: the write log
    # holds exactly one successful create per object, and no 60102/60021 from a blind retry.
    creates = [w for w in sb.writes() if w.api.endswith("/create")]
    assert all(w.errcode == 0 for w in creates)
    names = [w.body.get("userid") or w.body["source_identifier"] for w in creates]
    assert len(names) == len(set(names))


def test_token_expiry_mid_apply_is_refreshed_transparently(
    sb: Sandbox, clock: FakeClock, example: tuple[Org, Policy]
) -> None:
    desired, policy = example
    finished = 0

    def expire_now_and_then(event: StepEvent) -> None:
        nonlocal finished
        if event.finished:
            finished += 1
            if finished % 10 == 0:
                sb.expire_tokens()

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            run = await apply_once(client, desired, clock, policy, on_event=expire_now_and_then)
            assert run.report.ok, run.report.failed
            assert (await plan_for(client, desired, policy)).empty

    asyncio.run(scenario())
    assert finished >= 20


@pytest.mark.parametrize("kill_after", [1, 5, 10])
def test_an_apply_killed_mid_way_converges_on_the_next_run(
    sb: Sandbox, clock: FakeClock, example: tuple[Org, Policy], kill_after: int
) -> None:
    desired, policy = example
    after = edited(desired)
    deletes = Deletes()

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            first = await apply_until_clean(client, desired, policy, clock, deletes)
            assert first[-1].report.ok
            writes_before = len(sb.writes())

            live = await read(client, after)
            plan = build_plan(after, live, policy)
            deletes.note(plan, live)
            task: asyncio.Task[object] | None = None

            def kill(event: StepEvent) -> None:
                if len(sb.writes()) - writes_before >= kill_after and task is not None:
                    task.cancel()

            task = asyncio.create_task(
                apply_plan(plan, client, live, clock=clock, on_event=kill, concurrency=4)
            )
            with pytest.raises(asyncio.CancelledError):
                await task
            killed_at = len(sb.writes()) - writes_before
            assert kill_after <= killed_at < len(plan.steps)

            rest = await apply_until_clean(client, after, policy, clock, deletes)
            assert rest[-1].report.ok, rest[-1].report.failed
            assert len(rest[0].plan.steps) < len(plan.steps) + 2  # re-planned what was left
            assert (await plan_for(client, after, policy)).empty

    asyncio.run(scenario())
    assert deletes.unplanned(sb) == []
    assert [w for w in sb.writes() if w.errcode != 0] == []


def test_a_replace_killed_between_delete_and_create_recreates_the_person(
    sb: Sandbox, clock: FakeClock, example: tuple[Org, Policy]
) -> None:
    desired, policy = example
    new_mobile = "+86-13700000009"
    after = Org.of(
        list(desired.departments.values()),
        [
            dataclasses.replace(u, mobile=new_mobile) if u.userid == "qianwei" else u
            for u in desired.users.values()
        ],
    )

    async def scenario() -> None:
        async with make_client(sb, clock) as client:
            assert (await apply_once(client, desired, clock, policy)).report.ok
            live = await read(client, after)
            plan = build_plan(after, live, policy)
            task: asyncio.Task[object] | None = None

            def kill(event: StepEvent) -> None:
                if event.step_id == "user.delete:qianwei" and event.kind == "done":
                    assert task is not None
                    task.cancel()

            task = asyncio.create_task(apply_plan(plan, client, live, clock=clock, on_event=kill))
            with pytest.raises(asyncio.CancelledError):
                await task
            assert "qianwei" not in {u["userid"] for u in sb.tenant.users()}  # absent now

            again = await apply_once(client, after, clock, policy)
            assert ("create_user", "qianwei") in {(str(s.action), s.key) for s in again.plan.steps}
            assert again.report.ok

    asyncio.run(scenario())
    people = {u["userid"]: u for u in sb.tenant.users()}
    assert people["qianwei"]["mobile"] == "13700000009"
