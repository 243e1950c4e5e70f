"""Glue for `orgctl plan`: load desired, read live, plan, check safety. No printing.

I/O at the edges only: `load_desired` reads files, `read_live` reads DingTalk; everything in
between (`build_plan`, `check_safety`) is pure. The CLI renders the result and picks the exit
code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.desired.load import load_desired
from reconciler.dingtalk import DingTalkClient
from reconciler.live.snapshot import Progress, read_live
from reconciler.model import Org, UserId
from reconciler.plan.planner import Plan, build_plan
from reconciler.plan.safety import Violation, check_safety
from reconciler.policy import Policy


@dataclass(frozen=True, slots=True)
class PlanResult:
    plan: Plan
    violations: tuple[Violation, ...]
    """Safety rules the plan breaks (with --force: only invariants). Non-empty: exit 3."""
    desired: Org
    live: Org
    policy: Policy

    @property
    def unsafe(self) -> bool:
        return bool(self.violations)


def managers_to_read(desired: Org) -> list[UserId]:
    """People whose ``manager`` the YAML manages. The snapshot reads manager_userid (one
    user/get each) only for them; others read as None, which a desired None never compares.
    Plan and apply must read the same set, or their live fingerprints differ."""
    return [u.userid for u in desired.users.values() if u.manager is not None]


async def make_plan(
    org_dir: Path,
    client: DingTalkClient,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> PlanResult:
    """Raises ConfigError (bad YAML, or a desired state live cannot reach) or SnapshotError."""
    desired, policy = load_desired(org_dir)
    client.set_qps(policy.qps)  # rate_limit.qps: the client was made before the policy was read
    live = await read_live(client, progress=progress, read_managers=managers_to_read(desired))
    plan = build_plan(desired, live, policy)
    violations = tuple(check_safety(plan, policy, force=force))
    return PlanResult(plan, violations, desired, live, policy)


__all__ = ["PlanResult", "make_plan", "managers_to_read"]
