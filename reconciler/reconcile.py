"""The sequences the CLI runs: `make_plan` (load desired, read live, plan, check safety) and
`run_apply` (the same under the tenant lock, then the saved-plan check, confirm, journal and
execute). No printing: the CLI shows what the callbacks hand it and maps errors to exit codes.

I/O at the edges only: `load_desired` reads files, `read_live` reads DingTalk, the executor
writes; everything in between (`build_plan`, `check_safety`, the digest comparison) is pure.
"""

from __future__ import annotations

import datetime
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
from reconciler.notify.compose import (
    PersonChange,
    applied_changes,
    batches,
    deleted_people,
    due_people,
    leaving_on_notice_day,
    notices,
    people_to_look_up,
)
from reconciler.notify.deliver import BatchOutcome, NoticeReport, deliver, lookup_managers
from reconciler.plan.document import Plan
from reconciler.plan.lifecycle import split_removed
from reconciler.plan.planner import build_plan
from reconciler.plan.safety import Violation, check_safety
from reconciler.policy import Notify, Policy


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
    notices: NoticeReport | None = None
    """The work notices sent after the steps; None when none were to be sent (no ``notify:``
    in the policy, ``--no-notify``, nothing applied). Never changes the exit code."""


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
    force_digest: str = "",
    base_dir: Path | None = None,
) -> PlanResult:
    """Raises ConfigError (bad YAML, or a desired state live cannot reach) or SnapshotError.
    ``base``: a git ref; entries removed since then count as leaving if their leaves_on had
    come, and are refused otherwise under ``lifecycle.dated_removals_only``. ``base_dir``: the
    same with the base org in a directory (the plan workflow's checkout of the PR's base).
    ``force_digest``: the thresholds are lifted (as by ``force``) for the plan with exactly
    this digest only, e.g. one approved on its pull request."""
    desired, policy = load_desired(org_dir)
    removed = removed_since(org_dir, base, desired, base_dir=base_dir)
    client.set_qps(policy.qps)  # rate_limit.qps: the client was made before the policy was read
    live = await read_live(client, progress=progress, read_managers=managers_to_read(desired))
    # Which day it is for the org decides whose leaves_on has come: the injected clock, in
    # the policy's time zone (23:30 UTC is already tomorrow in Shanghai).
    today = local_date(client.clock.now(), policy.timezone)
    dated, undated = split_removed(removed, today)
    plan = build_plan(desired, live, policy, today=today, removed=dated)
    forced = force or (force_digest != "" and plan.digest == force_digest)
    violations = tuple(check_safety(plan, policy, force=forced, undated_removals=undated))
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


STEPS_LISTED = 50
"""Steps named when a plan is refused for its digest; all of them are in `--out`."""


def check_digest(expected: str, fresh: Plan) -> None:
    """Raise StalePlanError unless ``fresh`` has the digest ``expected`` (a plan approved by
    its digest alone, without its file)."""
    if fresh.digest == expected:
        return
    ids = [step.id for step in fresh.steps]
    lines = [f"  + {i}" for i in ids[:STEPS_LISTED]]
    if len(ids) > STEPS_LISTED:
        lines.append(f"  … and {len(ids) - STEPS_LISTED} more")
    planned = "\n".join(["steps planned now:", *lines]) if ids else "nothing is planned now"
    raise StalePlanError(
        f"stale plan: the plan now has digest {fresh.digest}, not {expected}; nothing was "
        f"written; {planned}"
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
    notify: bool = True,
    digest: str = "",
    force_digest: str = "",
    approval: str = "",
    on_planned: Callable[[PlanResult], None] | None = None,
    base: str | None = None,
    base_dir: Path | None = None,
) -> ApplyResult:
    """`orgctl apply`: under the tenant lock, read and plan; with ``saved``, go on only if
    the fresh steps are the saved ones; hand the plan to ``on_plan`` (to show it); refuse an
    unsafe plan; ask ``confirm``; then journal and execute the fresh plan. ``progress``
    (given the number of steps) is entered around the execution and yields the callback
    that receives every step event.

    ``digest``: go on only if the fresh plan has it. ``force_digest``: lift the thresholds
    (never invariants) only for a plan with that digest. ``approval`` (who approved) goes
    into the journal. ``on_planned`` gets the fresh plan before any check (to keep it).

    The policy's ``apply.require_ci`` refuses a real tenant outside CI (``env``, default the
    process environment) unless ``local``.

    With ``notify:`` in the policy (and ``notify`` true), the managers of the people the steps
    deleted, re-created or moved get a work notice afterwards (`reconciler.notify`); what was
    sent and what failed is in the result and the journal, never in the exit code.

    Raises StalePlanError (exit 4), UnsafePlanError (exit 3), InputError when not confirmed,
    TargetError (outside CI), LockedError, ConfigError, SnapshotError; nothing is written in
    any of those cases.
    """
    clock = target.client.clock
    # Taken before reading: the plan must come from a state no other apply is changing.
    with TenantLock.for_target(target, clock=clock):
        result = await make_plan(
            org_dir,
            target.client,
            force=force,
            base=base,
            force_digest=force_digest,
            base_dir=base_dir,
        )
        if on_planned is not None:
            on_planned(result)
        check_apply_place(
            require_ci=result.policy.require_ci,
            is_sandbox=target.is_sandbox,
            local=local,
            env=os.environ if env is None else env,
        )
        plan = result.plan
        forced = force_digest != "" and plan.digest == force_digest
        if saved is not None:
            check_reviewed(saved, plan, saved_from)
        if digest:
            check_digest(digest, plan)
        if on_plan is not None:
            on_plan(result)
        if result.unsafe:
            raise UnsafePlanError("the plan was refused by a safety rule; nothing was written")
        if plan.empty:
            return ApplyResult(result, None)
        if not confirm(result):
            raise InputError("not applied: confirmation declined")
        settings = result.policy.notify if notify else None
        managers: dict[UserId, UserId | None] = {}
        lookup_errors: tuple[str, ...] = ()
        if settings is not None:
            # Before the writes: a deleted person's manager cannot be read afterwards.
            wanted = people_to_look_up(plan, result.live)
            managers, lookup_errors = await lookup_managers(target.client, wanted)
        with Journal.open(target.state_dir, target.tenant_id, clock=clock) as journal:
            journal.write(
                "plan",
                target=target.description,
                summary=plan.summary.line(),
                digest=plan.digest,
                reviewed=saved_from if saved is not None else None,
                approved_digest=digest or None,
                forced_digest=force_digest if forced else None,
                approval=approval or None,
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
            sent = None
            if settings is not None:
                try:
                    sent = await _send_notices(
                        settings, result, report, target.client, managers, lookup_errors, journal
                    )
                except Exception as error:
                    # A courtesy must never fail a plan whose writes are done (nor hide it).
                    journal.write("notice_error", error=str(error))
                    sent = NoticeReport((), (*lookup_errors, f"notices not sent: {error}"))
        return ApplyResult(result, report, journal.path, sent)


async def _send_notices(
    settings: Notify,
    result: PlanResult,
    report: ApplyReport,
    client: DingTalkClient,
    managers: Mapping[UserId, UserId | None],
    lookup_errors: tuple[str, ...],
    journal: Journal,
) -> NoticeReport:
    """Tell the managers (`reconciler.notify`), journaling every change and every call."""
    changes = applied_changes(result.plan, report, result.live, result.desired, managers)
    heard = notices(changes, excluded=deleted_people(result.plan, report))
    for change in changes:
        journal.write(
            "notice_change",
            kind=str(change.kind),
            userid=change.userid,
            name=change.name,
            departments=list(change.departments),
            joined=list(change.joined) or None,
            recipients=[r for r, told in heard.items() if change in told],
        )
    for error in lookup_errors:
        journal.write("notice_lookup_failed", error=error)

    outcomes = await deliver(
        client,
        settings.agent_id,
        batches(heard, settings.lang),
        on_outcome=lambda outcome: _journal_notice(journal, outcome),
    )
    return NoticeReport(outcomes, lookup_errors)


@dataclass(frozen=True, slots=True)
class DueResult:
    """What `orgctl notify due` did on ``today``."""

    today: datetime.date
    changes: tuple[PersonChange, ...]
    """The leavers whose advance notice was due, with everyone who heard of them."""
    notices: NoticeReport | None
    """None on a dry run or when nobody was due."""
    journal: Path | None = None
    configured: bool = True
    """False: orgctl.yaml sets no ``notify.advance_days`` (nothing was read or sent)."""


async def run_notify_due(
    org_dir: Path,
    target: Target,
    *,
    today: datetime.date | None = None,
    dry_run: bool = False,
    agent_id: int | None = None,
) -> DueResult:
    """`orgctl notify due`: tell the managers of everyone whose ``leaves_on`` is
    ``notify.advance_days`` after today (the org's day; ``today`` overrides it, to catch up a
    missed day). Reads DingTalk only when someone is due. Meant to run once a day (the nightly
    job): each leaver is due on exactly one day, so a daily run announces them once, and a
    second run the same day sends the same text again, which DingTalk does not deliver twice
    the same day (reported as "already got this notice today", not as a failure).

    ``agent_id`` overrides ``notify.agent_id``: a notice goes out from the app whose
    credentials the run uses, and the nightly job runs with the read app's.

    Without ``notify.advance_days`` in orgctl.yaml it does nothing (``configured`` false), so
    one nightly job fits every org repository. Raises ConfigError, SnapshotError.
    """
    desired, policy = load_desired(org_dir)
    settings = policy.notify
    client = target.client
    day = today or local_date(client.clock.now(), policy.timezone)
    if settings is None or settings.advance_days is None:
        return DueResult(day, (), None, None, False)
    client.set_qps(policy.qps)
    leavers = due_people(desired, day, settings.advance_days)
    if not leavers:
        return DueResult(day, (), None)
    live = await read_live(client, read_managers=[*managers_to_read(desired), *leavers])
    changes = tuple(leaving_on_notice_day(desired, live, day, settings.advance_days))
    if dry_run:
        return DueResult(day, changes, None)
    heard = notices(changes)
    with Journal.open(target.state_dir, target.tenant_id, clock=client.clock) as journal:
        journal.write("notify_due", target=target.description, day=day.isoformat())
        for change in changes:
            journal.write(
                "notice_change",
                kind=str(change.kind),
                userid=change.userid,
                name=change.name,
                leaves_on=change.on.isoformat() if change.on else None,
                recipients=[r for r, told in heard.items() if change in told],
            )
        outcomes = await deliver(
            client,
            agent_id or settings.agent_id,
            batches(heard, settings.lang),
            on_outcome=lambda outcome: _journal_notice(journal, outcome),
        )
    return DueResult(day, changes, NoticeReport(outcomes), journal.path)


def _journal_notice(journal: Journal, outcome: BatchOutcome) -> None:
    journal.write(
        "notice",
        recipients=list(outcome.recipients),
        task_id=outcome.task_id,
        errcode=outcome.errcode,
        error=outcome.error or None,
        hint=outcome.hint or None,
        undelivered=[f"{u.userid}: {u.reason}" for u in outcome.undelivered] or None,
    )


__all__ = [
    "ApplyResult",
    "DueResult",
    "PlanResult",
    "check_digest",
    "check_reviewed",
    "make_plan",
    "managers_to_read",
    "read_saved_plan",
    "run_apply",
    "run_notify_due",
]
