"""`pull` and leaving dates: a leaves_on line stays in the YAML, and a leaver moved into the
holding department (a plan did it, on its day) is not console drift."""

from __future__ import annotations

import asyncio
import datetime

from reconciler.apply.executor import apply_plan
from reconciler.desired.edit import OrgFiles
from reconciler.desired.load import load_desired
from reconciler.live.pull import pull
from reconciler.plan.planner import build_plan
from reconciler.plan.steps import Action
from tests.apply.helpers import make_client, read
from tests.pull.conftest import Tenant

TODAY = datetime.date(2026, 1, 1)


def test_pull_keeps_leaves_on_and_does_not_undo_a_holding_move(tenant: Tenant) -> None:
    org = tenant.org
    with (org / "departments.yaml").open("a", encoding="utf-8") as f:
        f.write("  - key: leavers\n    name: 离职过渡\n    parent: root\n")
    with (org / "orgctl.yaml").open("a", encoding="utf-8") as f:
        f.write("lifecycle:\n  holding_department: leavers\n  hold_days: 7\n")
    path = org / "people" / "engineering.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "    job_number: XH0103\n", "    job_number: XH0103\n    leaves_on: 2026-01-05\n"
        ),
        encoding="utf-8",
    )
    desired, policy = load_desired(org)

    async def apply_today() -> list[tuple[Action, str]]:
        async with make_client(tenant.sb, tenant.clock) as client:
            live = await read(client, desired)
            plan = build_plan(desired, live, policy, today=TODAY)
            report = await apply_plan(plan, client, live, clock=tenant.clock)
            assert not report.failed, report
            return [(s.action, s.key) for s in plan.steps]

    steps = asyncio.run(apply_today())
    assert (Action.UPDATE_USER, "qianwei") in steps  # into the holding department
    assert tenant.live().users["qianwei"].departments != desired.users["qianwei"].departments
    before = {p: p.read_text(encoding="utf-8") for p in org.rglob("*.yaml")}

    files = OrgFiles.load(org, desired)
    result = pull(desired, tenant.live(), policy, files, today=TODAY)
    assert [c.ident for c in result.changes if c.ident == "qianwei"] == []
    files.write()
    after = {p: p.read_text(encoding="utf-8") for p in org.rglob("*.yaml")}
    assert after == before
    assert "    leaves_on: 2026-01-05\n" in path.read_text(encoding="utf-8")
    # Without the day, the move would look like console drift: the guard is what keeps it.
    files = OrgFiles.load(org, desired)
    undated = pull(desired, tenant.live(), policy, files)
    assert [c.ident for c in undated.changes] == ["qianwei"]
