"""The sequences the CLI runs: `make_plan` (load desired, read live, plan, check safety) and
`run_apply` (the same under the tenant lock, then the saved-plan check, confirm, journal and
execute). No printing: the CLI shows what the callbacks hand it and maps errors to exit codes.

I/O at the edges only: `load_desired` reads files, `read_live` reads DingTalk, the executor
writes; everything in between (`build_plan`, `check_safety`, the digest comparison) is pure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.executor import DEFAULT_CONCURRENCY, ApplyReport, StepEvent, apply_plan
from reconciler.apply.journal import Journal
from reconciler.apply.lock import TenantLock, check_apply_place
from reconciler.clock import local_date
from reconciler.desired.base import removed_since
from reconciler.desired.load import load_desired
from reconciler.dingtalk import DingTalkClient
from reconciler.errors import InputError, StalePlanError, UnsafePlanError
from reconciler.live.snapshot import Progress, read_live
from reconciler.live.target import Target
from reconciler.model import Org, UserId
from reconciler.plan.document import Plan
from reconciler.plan.lifecycle import split_removed
from reconciler.plan.planner import build_plan
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


@dataclass(frozen=True, slots=True)
class ApplyResult:
    planned: PlanResult
    report: ApplyReport | None
    """None when there was nothing to do."""
    journal: Path | None = None


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
    base: str | None = None,
) -> PlanResult:
    """Raises ConfigError (bad YAML, or a desired state live cannot reach) or SnapshotError.
    ``base``: a git ref; entries removed since then count as leaving if their leaves_on had
    come, and are refused otherwise under ``lifecycle.dated_removals_only``."""
    desired, policy = load_desired(org_dir)
    removed = removed_since(org_dir, base, desired) if base is not None else ()
    client.set_qps(policy.qps)  # rate_limit.qps: the client was made before the policy was read
    live = await read_live(client, progress=progress, read_managers=managers_to_read(desired))
    # Which day it is for the org decides whose leaves_on has come: the injected clock, in
    # the policy's time zone (23:30 UTC is already tomorrow in Shanghai).
    today = local_date(client.clock.now(), policy.timezone)
    dated, undated = split_removed(removed, today)
    plan = build_plan(desired, live, policy, today=today, removed=dated)
    violations = tuple(check_safety(plan, policy, force=force, undated_removals=undated))
    return PlanResult(plan, violations, desired, live, policy)


def read_saved_plan(path: Path) -> Plan:
    """A plan file written by `orgctl plan --out` (masked or not). Raises InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read plan file {path}: {error.strerror}") from None
    return Plan.from_json(text)


def check_reviewed(saved: Plan, fresh: Plan, source: str) -> None:
    """Raise StalePlanError unless ``fresh`` has exactly the steps of ``saved`` (by digest,
    in order). Drift that changes no step (an edit of a field the YAML does not manage) does
    not matter: what would be written is what was reviewed."""
    difference = saved.difference(fresh)
    if difference.empty:
        return
    changed = [
        what
        for what, old, new in (
            ("DingTalk", saved.live_fingerprint, fresh.live_fingerprint),
            ("the YAML", saved.desired_fingerprint, fresh.desired_fingerprint),
        )
        if old != new
    ] or ["the policy (orgctl.yaml) or orgctl itself"]  # same inputs, other plan
    lines = "\n".join(f"  {line}" for line in difference.lines())
    raise StalePlanError(
        f"stale plan: {' and '.join(changed)} changed since {source} was made, and the steps "
        f"planned now differ from it; nothing was written; re-plan and review:\n{lines}"
    )


async def run_apply(
    org_dir: Path,
    target: Target,
    *,
    confirm: Callable[[PlanResult], bool],
    saved: Plan | None = None,
    saved_from: str = "the saved plan",
    force: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_plan: Callable[[PlanResult], None] | None = None,
    progress: Callable[[int], AbstractContextManager[Callable[[StepEvent], None]]] | None = None,
    local: bool = False,
    env: Mapping[str, str] | None = None,
    base: str | None = None,
) -> ApplyResult:
    """`orgctl apply`: under the tenant lock, read and plan; with ``saved``, go on only if
    the fresh steps are the saved ones; hand the plan to ``on_plan`` (to show it); refuse an
    unsafe plan; ask ``confirm``; then journal and execute the fresh plan. ``progress``
    (given the number of steps) is entered around the execution and yields the callback
    that receives every step event.

    The policy's ``apply.require_ci`` refuses a real tenant outside CI (``env``, default the
    process environment) unless ``local``.

    Raises StalePlanError (exit 4), UnsafePlanError (exit 3), InputError when not confirmed,
    TargetError (outside CI), LockedError, ConfigError, SnapshotError; nothing is written in
    any of those cases.
    """
    clock = target.client.clock
    # Taken before reading: the plan must come from a state no other apply is changing.
    with TenantLock.for_target(target, clock=clock):
        result = await make_plan(org_dir, target.client, force=force, base=base)
        check_apply_place(
            require_ci=result.policy.require_ci,
            is_sandbox=target.is_sandbox,
            local=local,
            env=os.environ if env is None else env,
        )
        plan = result.plan
        if saved is not None:
            check_reviewed(saved, plan, saved_from)
        if on_plan is not None:
            on_plan(result)
        if result.unsafe:
            raise UnsafePlanError("the plan was refused by a safety rule; nothing was written")
        if plan.empty:
            return ApplyResult(result, None)
        if not confirm(result):
            raise InputError("not applied: confirmation declined")
        with Journal.open(target.state_dir, target.tenant_id, clock=clock) as journal:
            journal.write(
                "plan",
                target=target.description,
                summary=plan.summary.line(),
                digest=plan.digest,
                reviewed=saved_from if saved is not None else None,
                live_fingerprint=plan.live_fingerprint,
                desired_fingerprint=plan.desired_fingerprint,
            )
            with progress(len(plan.steps)) if progress else nullcontext(None) as on_event:
                report = await apply_plan(
                    plan,
                    target.client,
                    result.live,
                    journal=journal,
                    clock=clock,
                    concurrency=concurrency,
                    on_event=on_event,
                )
        return ApplyResult(result, report, journal.path)


__all__ = [
    "ApplyResult",
    "PlanResult",
    "check_reviewed",
    "make_plan",
    "managers_to_read",
    "read_saved_plan",
    "run_apply",
]
