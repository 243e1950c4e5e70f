"""Drive plan → apply against a sandbox tenant, the way `orgctl apply` does, minus the CLI."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.apply.executor import ApplyReport, StepEvent, apply_plan
from reconciler.apply.journal import EventSink
from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.live.snapshot import read_live
from reconciler.live.target import sandbox_client
from reconciler.model import ROOT, Org
from reconciler.plan.planner import Plan, build_plan
from reconciler.policy import DEFAULT_POLICY, Policy
from reconciler.reconcile import managers_to_read
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox


def make_client(sb: Sandbox | None, clock: FakeClock, *, url: str | None = None, **options):
    """A real DingTalkClient: in-process through the sandbox's transport, or over HTTP."""
    if url is not None:
        return DingTalkClient(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            base_url=url,
            clock=clock,
            rng=random.Random(3),
            **options,
        )
    assert sb is not None
    return sandbox_client(sb, clock, rng=random.Random(3), **options)


async def read(client: DingTalkClient, desired: Org) -> Org:
    """What `orgctl plan`/`apply` read: managers only for the people whose manager the YAML
    manages, so fingerprints agree."""
    return await read_live(client, read_managers=managers_to_read(desired))


async def plan_for(client: DingTalkClient, desired: Org, policy: Policy = DEFAULT_POLICY) -> Plan:
    return build_plan(desired, await read(client, desired), policy)


@dataclass
class Run:
    live: Org  # what this apply read, and planned from
    plan: Plan
    report: ApplyReport


async def apply_once(
    client: DingTalkClient,
    desired: Org,
    clock: FakeClock,
    policy: Policy = DEFAULT_POLICY,
    *,
    concurrency: int = 8,
    on_event: Callable[[StepEvent], None] | None = None,
    journal: EventSink | None = None,
) -> Run:
    """One `orgctl apply`: a fresh read, a plan, the executor."""
    live = await read(client, desired)
    plan = build_plan(desired, live, policy)
    report = await apply_plan(
        plan,
        client,
        live,
        clock=clock,
        concurrency=concurrency,
        on_event=on_event,
        journal=journal,
        rng=random.Random(5),
    )
    return Run(live, plan, report)


async def converge(
    client: DingTalkClient,
    desired: Org,
    clock: FakeClock,
    policy: Policy = DEFAULT_POLICY,
    *,
    runs: int = 3,
    concurrency: int = 8,
) -> list[Run]:
    """Apply until a run is clean (nothing failed) or ``runs`` are spent."""
    done: list[Run] = []
    for _ in range(runs):
        run = await apply_once(client, desired, clock, policy, concurrency=concurrency)
        done.append(run)
        if run.report.ok and not run.report.pending:
            break
    return done


def seed(sb: Sandbox, live: Org) -> None:
    """Put ``live`` into the sandbox directly: departments parents first (keeping unkeyed ones
    unkeyed), users, then managers. dept_ids are the sandbox's own, not ``live``'s."""
    ids = {ROOT: 1}
    pending = sorted(live.departments.values(), key=lambda d: live.depth(d.key))
    for dept in pending:
        ids[dept.key] = sb.tenant.add_department(
            dept.name,
            ids[dept.parent],
            order=dept.order,
            source_identifier=dept.source_identifier,
            managers=dept.managers or (),
        )
    for user in live.users.values():
        fields: dict[str, object] = {}
        for name in ("title", "email", "telephone", "job_number", "work_place", "remark"):
            value = getattr(user, name)
            if value is not None:
                fields[name] = value
        if user.extension is not None:
            fields["extension"] = dict(user.extension)
        assert user.mobile is not None
        sb.tenant.add_user(
            user.userid, user.name, user.mobile, [ids[k] for k in user.departments], **fields
        )
    for user in live.users.values():
        if user.manager and user.manager != user.userid and user.manager in live.users:
            with sb.tenant.transaction():
                sb.tenant.update_user(user.userid, {"manager_userid": user.manager})
