"""Property: for random live and desired orgs (the planner's collision-heavy strategy), one
apply leaves nothing to plan, and DingTalk's rules never reject a write."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, assume, given, settings

from reconciler.clock import FakeClock
from reconciler.errors import ConfigError
from reconciler.model import Org
from reconciler.plan.planner import build_plan
from reconciler.sandbox import Sandbox
from tests.apply.helpers import apply_once, make_client, plan_for, read, seed
from tests.plan.strategies import READINGS, Scenario, left, read_as, scenarios


def loadable(desired: Org) -> bool:
    """What `orgctl validate` accepts about managers: nobody manages themselves, no loops."""
    for start in desired.users:
        seen = {start}
        manager = desired.users[start].manager
        while manager:
            if manager in seen:
                return False
            seen.add(manager)
            manager = desired.users[manager].manager if manager in desired.users else None
    return True


@pytest.mark.parametrize("reading", list(READINGS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_apply_then_plan_is_empty(reading: str, scenario: Scenario) -> None:
    assume(loadable(scenario.desired))
    scenario, profile = read_as(scenario, reading)
    clock = FakeClock()
    with Sandbox(clock=clock, qps=0, profile=profile) as sb:
        seed(sb, scenario.live)

        async def check() -> None:
            async with make_client(sb, clock) as client:
                try:
                    build_plan(
                        scenario.desired, await read(client, scenario.desired), scenario.policy
                    )
                except ConfigError:
                    assume(False)  # unreachable desired state: the planner says so, fine
                run = await apply_once(
                    client, scenario.desired, clock, scenario.policy, concurrency=16
                )
                assert run.report.ok, [(r.step_id, r.errcode, r.message) for r in run.report.failed]
                again = await plan_for(client, scenario.desired, scenario.policy)
                assert left(run.plan, again) == []

        asyncio.run(check())
        assert [(w.api, w.errcode, w.body) for w in sb.writes() if w.errcode != 0] == []
