"""`orgctl apply`: make DingTalk match the YAML — re-read, plan, check, confirm, execute.

    orgctl apply [ORG_DIR] [--yes] [--plan FILE] [--digest D] [--force | --force-digest D]
                 [--approval TEXT] [--out FILE] [--sandbox] [--concurrency N] [--no-notify]
                 [--base REF | --base-dir DIR]

Exit codes: 0 applied (or nothing to do) · 1 a step failed, or an error · 3 the plan was
refused by a safety rule (nothing written) · 4 the saved plan is stale (nothing written).
Work notices (``notify:`` in orgctl.yaml) are reported after the steps and never change the
exit code.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from reconciler.apply.executor import DEFAULT_CONCURRENCY, ApplyReport, Outcome, StepEvent
from reconciler.apply.journal import scrub
from reconciler.cli.app import (
    BaseDirOption,
    OrgDirArgument,
    command,
    err,
    is_terminal,
    out,
    report_refusals,
    reported,
    wants_color,
)
from reconciler.cli.notify import notice_lines
from reconciler.errors import InputError
from reconciler.live.target import Target, open_target
from reconciler.plan.document import Plan
from reconciler.plan.render import render_json, render_text
from reconciler.plan.safety import Violation
from reconciler.reconcile import PlanResult, read_saved_plan, run_apply

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
            help="The reviewed plan (orgctl plan --out, masked or not): apply only if the "
            "steps planned now are exactly its steps; otherwise exit 4 and write nothing.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Override the delete thresholds (never invariants).")
    ] = False,
    digest: Annotated[
        str,
        typer.Option(
            "--digest",
            help="Apply only if the plan computed now has this digest (a plan approved by "
            "its digest); otherwise exit 4 and write nothing.",
        ),
    ] = "",
    force_digest: Annotated[
        str,
        typer.Option(
            "--force-digest",
            help="Like --force, for a plan with this digest only: any other plan keeps the "
            "thresholds.",
        ),
    ] = "",
    approval: Annotated[
        str, typer.Option("--approval", help="Who approved this plan, for the journal.")
    ] = "",
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the plan computed now (masked, as plan --out), applied or not: a "
            "refused plan can be posted for review.",
        ),
    ] = None,
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
    no_notify: Annotated[
        bool,
        typer.Option(
            "--no-notify", help="Send no work notices this time, although orgctl.yaml says notify."
        ),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="A git ref (the PR's base, the commit before a push): entries removed since "
            "then whose leaves_on had come are deleted even with prune.users off; under "
            "lifecycle.dated_removals_only other removals are refused.",
        ),
    ] = None,
    base_dir: BaseDirOption = None,
) -> None:
    """Make DingTalk match the YAML: re-read it, plan, check safety, confirm, apply."""
    with reported():
        target = open_target(sandbox=sandbox, concurrency=concurrency)
        out(target.description)
        options = _Options(digest, force_digest, approval, out_file)
        code = asyncio.run(
            _apply(
                target,
                org_dir,
                yes,
                plan_file,
                force,
                concurrency,
                local,
                options,
                notify=not no_notify,
                base=base,
                base_dir=base_dir,
            )
        )
    if code:
        raise typer.Exit(code)


async def _apply(
    target: Target,
    org_dir: Path,
    yes: bool,
    plan_file: Path | None,
    force: bool,
    concurrency: int,
    local: bool,
    options: _Options,
    notify: bool = True,
    base: str | None = None,
    base_dir: Path | None = None,
) -> int:
    saved = read_saved_plan(plan_file) if plan_file is not None else None

    def keep(result: PlanResult) -> None:
        if options.out_file is not None:
            _write_plan(options.out_file, render_json(result.plan, masked=True))
            err(f"plan written to {options.out_file}")

    def show(result: PlanResult) -> None:
        if result.unsafe:
            out(_show(result.plan, result.violations), nl=False)
            report_refusals(result.violations)
        elif result.plan.empty:
            out("No changes: DingTalk already matches the desired state.")
        else:
            out(_show(result.plan), nl=False)

    def confirm(result: PlanResult) -> bool:
        return _confirm(yes, result.plan, target)

    async with target:
        applied = await run_apply(
            org_dir,
            target,
            confirm=confirm,
            saved=saved,
            saved_from=str(plan_file),
            force=force,
            concurrency=concurrency,
            local=local,
            notify=notify,
            base=base,
            base_dir=base_dir,
            on_plan=show,
            progress=_progress,
            digest=options.digest,
            force_digest=options.force_digest,
            approval=options.approval,
            on_planned=keep,
        )
    if applied.report is None:
        return 0
    out(_report(applied.report))
    if applied.notices is not None:
        out(notice_lines(applied.notices, "the apply's result does not depend on them"))
    out(f"journal: {applied.journal}")
    return applied.report.exit_code


@dataclass(frozen=True, slots=True)
class _Options:
    """The options for reviewed and approved plans."""

    digest: str = ""
    force_digest: str = ""
    approval: str = ""
    out_file: Path | None = None


def _write_plan(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write plan file {path}: {error.strerror}") from None


def _show(plan: Plan, violations: tuple[Violation, ...] = ()) -> str:
    """The plan as `orgctl plan` shows it, masked: apply logs end up in CI."""
    color = wants_color()
    return render_text(plan, violations=violations, color=color, masked=True)


def _confirm(yes: bool, plan: Plan, target: Target) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(
            "refusing to apply without confirmation: stdin is not a terminal; "
            "review the plan and pass --yes"
        )
    return typer.confirm(f"Apply {len(plan.steps)} steps to {target.description}?")


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
