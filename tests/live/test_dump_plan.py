"""dump → load → plan: a tenant orgctl created plans to no changes; a hand-made one adopts."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from pathlib import Path

from reconciler.clock import FakeClock
from reconciler.desired.load import load_desired
from reconciler.live.dump import dump_org
from reconciler.live.snapshot import read_live
from reconciler.live.target import sandbox_client
from reconciler.model import Org, UserId
from reconciler.plan.planner import Action, build_plan
from reconciler.sandbox import Sandbox
from tests.live.helpers import seed


def read(sb: Sandbox, clock: FakeClock, read_managers: bool | Collection[UserId]) -> Org:
    async def go() -> Org:
        async with sandbox_client(sb, clock) as client:
            return await read_live(client, read_managers=read_managers)

    return asyncio.run(go())


def dump_and_load(live: Org, out: Path) -> Org:
    for name, text in dump_org(live).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    desired, _ = load_desired(out)
    return desired


def plan_after_dump(sb: Sandbox, clock: FakeClock, out: Path) -> list[tuple[Action, str]]:
    desired = dump_and_load(read(sb, clock, read_managers=True), out)
    # What plan/apply do: read managers only for users whose desired state manages one.
    managed = {u.userid for u in desired.users.values() if u.manager is not None}
    live = read(sb, clock, read_managers=managed)
    # An empty or partial dump would plan to "no changes" too: the dump must hold the tenant.
    assert len(desired.departments) == len(live.departments) == 25
    assert desired.users.keys() == live.users.keys()
    assert len(managed) == len(range(1, 120, 9))
    return [(step.action, step.key) for step in build_plan(desired, live).steps]


def seeded(clock: FakeClock, unkeyed_every: int) -> Sandbox:
    sb = Sandbox(clock=clock)
    seed(sb.tenant, departments=25, users=120, unkeyed_every=unkeyed_every)
    for n in range(1, 120, 9):  # some people have a manager (read only through user/get)
        sb.tenant.update_user(f"user{n:05d}", {"manager_userid": "user00000"})
    return sb


def test_a_tenant_orgctl_created_dumps_and_replans_to_no_changes(tmp_path: Path, clock: FakeClock):
    sb = seeded(clock, unkeyed_every=0)
    try:
        assert plan_after_dump(sb, clock, tmp_path / "org") == []
    finally:
        sb.close()


def test_unkeyed_departments_dump_to_an_adoption_and_nothing_else(tmp_path: Path, clock: FakeClock):
    sb = seeded(clock, unkeyed_every=5)
    try:
        steps = plan_after_dump(sb, clock, tmp_path / "org")
    finally:
        sb.close()
    assert {action for action, _ in steps} == {Action.ADOPT_DEPARTMENT}
    assert sorted(key for _, key in steps) == sorted(
        f"dept-{100_000_001 + n}" for n in range(0, 25, 5)
    )
