"""`orgctl apply`: make DingTalk match the YAML — re-read, plan, check, confirm, execute.

    orgctl apply [ORG_DIR] [--yes] [--plan FILE] [--force] [--sandbox] [--concurrency N]

Exit codes: 0 applied (or nothing to do) · 1 a step failed, or an error · 3 the plan was
refused by a safety rule (nothing written) · 4 the saved plan is stale (nothing written).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from reconciler.apply.executor import (
    DEFAULT_CONCURRENCY,
    ApplyReport,
    Outcome,
    StepEvent,
    apply_plan,
)
from reconciler.apply.journal import Journal, scrub
from reconciler.apply.lock import TenantLock, check_apply_place
from reconciler.cli.app import (
    OrgDirArgument,
    command,
    err,
    is_terminal,
    out,
    report_refusals,
    reported,
    wants_color,
)
from reconciler.errors import InputError, StalePlanError, UnsafePlanError
from reconciler.live.target import Target, open_target
from reconciler.model import Org
from reconciler.plan.planner import Plan
from reconciler.plan.render import render_text
from reconciler.plan.safety import Violation
from reconciler.reconcile import make_plan

SKIPS_SHOWN = 20
"""Skipped steps listed in the final report; all of them are in the journal."""


@command
def apply(
    org_dir: OrgDirArgument = Path("org"),
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply without asking (CI, after review).")
    ] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="Apply this saved plan (orgctl plan --out) only if DingTalk and the YAML "
            "still match what it was made from; otherwise exit 4.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Override the delete thresholds (never invariants).")
    ] = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Apply to the embedded sandbox tenant.")
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", min=1, max=256, help="Steps in flight at once (shared by APIs)."
        ),
    ] = DEFAULT_CONCURRENCY,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="Apply from outside CI although the policy says apply.require_ci."
        ),
    ] = False,
) -> None:
    """Make DingTalk match the YAML: re-read it, plan, check safety, confirm, apply."""
    with reported():
        target = open_target(sandbox=sandbox, concurrency=concurrency)
        out(target.description)
        code = asyncio.run(_apply(target, org_dir, yes, plan_file, force, concurrency, local))
    if code:
        raise typer.Exit(code)


async def _apply(
    target: Target,
    org_dir: Path,
    yes: bool,
    plan_file: Path | None,
    force: bool,
    concurrency: int,
    local: bool = False,
) -> int:
    async with target:
        # Taken before reading: the plan must come from a state no other apply is changing.
        with TenantLock.for_target(target, clock=target.client.clock):
            saved = _read_plan(plan_file) if plan_file is not None else None
            result = await make_plan(org_dir, target.client, force=force)
            check_apply_place(
                require_ci=result.policy.require_ci,
                is_sandbox=target.is_sandbox,
                local=local,
                env=os.environ,
            )
            plan = result.plan
            if saved is not None:
                _check_fresh(saved, plan, plan_file)
                plan = saved
            if result.unsafe:
                out(_show(plan, result.violations), nl=False)
                report_refusals(result.violations)
                raise UnsafePlanError("the plan was refused by a safety rule; nothing was written")
            if plan.empty:
                out("No changes: DingTalk already matches the desired state.")
                return 0
            out(_show(plan), nl=False)
            _confirm(yes, plan, target)
            return await _execute(target, plan, result.live, concurrency)


def _read_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read plan file {path}: {error.strerror}") from None
    saved = Plan.from_json(text)
    if saved.pii_masked:
        raise InputError(
            f"{path} has masked mobiles and emails (it was made for a PR comment) and cannot "
            "be applied: use the unmasked plan JSON (orgctl plan --out FILE)"
        )
    return saved


def _check_fresh(saved: Plan, fresh: Plan, path: Path | None) -> None:
    changed = [
        what
        for what, old, new in (
            ("DingTalk", saved.live_fingerprint, fresh.live_fingerprint),
            ("the YAML", saved.desired_fingerprint, fresh.desired_fingerprint),
        )
        if old != new
    ]
    if not changed and saved.to_data()["steps"] != fresh.to_data()["steps"]:
        changed = ["the policy (orgctl.yaml) or orgctl itself"]  # same inputs, other plan
    if changed:
        raise StalePlanError(
            f"stale plan: {' and '.join(changed)} changed since {path} was made; re-plan"
        )


def _show(plan: Plan, violations: tuple[Violation, ...] = ()) -> str:
    """The plan as `orgctl plan` shows it, masked: apply logs end up in CI."""
    color = wants_color()
    return render_text(plan, violations=violations, color=color, masked=True)


def _confirm(yes: bool, plan: Plan, target: Target) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(
            "refusing to apply without confirmation: stdin is not a terminal; "
            "review the plan and pass --yes"
        )
    if not typer.confirm(f"Apply {len(plan.steps)} steps to {target.description}?"):
        raise InputError("not applied: confirmation declined")


async def _execute(target: Target, plan: Plan, live: Org, concurrency: int) -> int:
    clock = target.client.clock
    with Journal.open(target.state_dir, target.tenant_id, clock=clock) as journal:
        journal.write(
            "plan",
            target=target.description,
            summary=plan.summary.line(),
            live_fingerprint=plan.live_fingerprint,
            desired_fingerprint=plan.desired_fingerprint,
        )
        with _progress(len(plan.steps)) as on_event:
            report = await apply_plan(
                plan,
                target.client,
                live,
                journal=journal,
                clock=clock,
                concurrency=concurrency,
                on_event=on_event,
            )
        out(_report(report))
        out(f"journal: {journal.path}")
    return report.exit_code


@contextmanager
def _progress(total: int) -> Iterator[Callable[[StepEvent], None]]:
    """A progress bar on a terminal; in CI, a line per step that did not simply succeed and
    one every tenth of the way. Showing progress never stops an apply half-way: a closed
    output (``orgctl apply --yes | head``) loses the lines, not the writes."""
    with _display(total) as show:
        broken = False

        def guarded(event: StepEvent) -> None:
            nonlocal broken
            if broken:
                return
            try:
                show(event)
            except OSError:  # BrokenPipeError and friends: stop showing, keep applying
                broken = True

        yield guarded


@contextmanager
def _display(total: int) -> Iterator[Callable[[StepEvent], None]]:
    if is_terminal():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("applying", total=total)

            def advance(event: StepEvent) -> None:
                if event.finished:
                    bar.advance(task)
                    if event.kind != Outcome.DONE:
                        bar.console.print(_event_line(event))

            yield advance
        return

    finished = 0
    step = max(1, total // 10)

    def line(event: StepEvent) -> None:
        nonlocal finished
        if not event.finished:
            return
        finished += 1
        if event.kind != Outcome.DONE:
            err(_event_line(event))
        if finished % step == 0 or finished == total:
            err(f"applied {finished}/{total} steps")

    yield line


def _event_line(event: StepEvent) -> str:
    return _outcome_line(event.kind, event.step_id, event.errcode, event.message, event.hint)


def _outcome_line(kind: str, step_id: str, errcode: int | None, message: str, hint: str) -> str:
    """One step that did not simply succeed, as progress and the final report show it."""
    detail = f"errcode {errcode}: " if errcode is not None else ""
    detail += scrub(message)
    if hint:
        detail += f" — {hint}"
    return f"{kind.upper():8} {step_id}  {detail}".rstrip()


def _report(report: ApplyReport) -> str:
    counts = ", ".join(
        f"{len(report.with_outcome(o))} {o.value}"
        for o in (Outcome.DONE, Outcome.FAILED, Outcome.SKIPPED, Outcome.PENDING)
    )
    lines = [f"Apply: {counts} ({report.writes} writes, {report.elapsed:.1f} s)."]
    # Every failure and pending invitation; skips (one failed department can skip hundreds
    # of people) up to a screenful, the rest are in the journal.
    shown = (*report.failed, *report.pending, *report.skipped[:SKIPS_SHOWN])
    for r in shown:
        lines.append("  " + _outcome_line(r.outcome.value, r.step_id, r.errcode, r.message, r.hint))
    if len(report.skipped) > SKIPS_SHOWN:
        lines.append(f"  … and {len(report.skipped) - SKIPS_SHOWN} more skipped (see the journal)")
    for person in report.absent:
        lines.append(
            f"!!! {person.userid} is NOT in DingTalk right now: deleted for a mobile change, "
            f"then {scrub(person.reason)}. The next apply re-creates them: fix the cause and "
            "run it soon."
        )
    if report.failed:
        lines.append(
            "Re-run `orgctl apply` after fixing the causes: it re-reads DingTalk and "
            "plans only what is still missing."
        )
    return "\n".join(lines)
