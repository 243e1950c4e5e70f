"""`orgctl plan`: show what apply would change. Never writes to DingTalk.

    orgctl plan [ORG_DIR] [--format text|markdown|json] [--out FILE] [--detailed-exitcode]
                [--force] [--sandbox] [--no-color] [--base REF | --base-dir DIR]

The target line goes to stderr first, the rendered plan to stdout. Every format, and the
`--out` file, masks mobiles, emails and telephones: terminal output of CI jobs ends up in
logs, Markdown in PR comments, the plan file in a workflow artifact. The plan file still
pins down the reviewed writes: it carries a digest of each real step, and `orgctl apply
--plan FILE` applies only if the steps it plans then have the same digests.

Exit codes: 0 ok · 1 error · 2 changes pending (only with --detailed-exitcode) · 3 refused by
a safety rule (the plan is still shown, with the refusal on stderr).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.actions import append_step_summary
from reconciler.cli.app import (
    BaseDirOption,
    OrgDirArgument,
    command,
    err,
    out,
    report_refusals,
    reported,
    wants_color,
)
from reconciler.errors import InputError
from reconciler.live.target import Target, open_target
from reconciler.plan.render import Format, render, render_json
from reconciler.reconcile import PlanResult, make_plan


@command
def plan(
    org_dir: OrgDirArgument = Path("org"),
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="text (terminal), markdown (PR), json.")
    ] = Format.TEXT,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Also write the plan as JSON (masked, with a digest of every step) for "
            "`orgctl apply --plan FILE`.",
        ),
    ] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Lift the delete thresholds (never invariants).")
    ] = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Plan against the embedded sandbox tenant.")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No ANSI colours.")] = False,
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
    """Show what `orgctl apply` would change, in order. Never writes to DingTalk."""
    with reported():
        target = open_target(sandbox=sandbox)
        err(target.description)
        result = asyncio.run(_plan(target, org_dir, force, base, base_dir))
        color = fmt is Format.TEXT and wants_color(no_color)
        out(
            render(result.plan, fmt, violations=result.violations, color=color, masked=True),
            nl=False,
        )
        append_step_summary(
            lambda: render(result.plan, Format.MARKDOWN, violations=result.violations, masked=True)
        )
        if out_file is not None:
            _write(out_file, render_json(result.plan, masked=True))
            err(f"plan written to {out_file}")
    if result.unsafe:
        report_refusals(result.violations)
        raise typer.Exit(3)
    if detailed_exitcode and not result.plan.empty:
        raise typer.Exit(2)


async def _plan(
    target: Target, org_dir: Path, force: bool, base: str | None, base_dir: Path | None
) -> PlanResult:
    async with target:
        return await make_plan(org_dir, target.client, force=force, base=base, base_dir=base_dir)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write plan file {path}: {error.strerror}") from None
