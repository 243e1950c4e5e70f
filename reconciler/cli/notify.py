"""`orgctl notify due`: advance work notices (工作通知) before people's ``leaves_on``.

    orgctl notify due [ORG_DIR] [--date YYYY-MM-DD] [--dry-run] [--agent-id N] [--sandbox]

Run it once a day (the nightly job): it tells the managers of everyone whose ``leaves_on`` is
``notify.advance_days`` days away, on exactly that day. Without ``notify.advance_days`` in
orgctl.yaml it does nothing and exits 0.

Exit codes: 0 sent (or nobody due) · 1 a notice could not be sent, or an error.
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Annotated

import typer

from reconciler.apply.journal import scrub
from reconciler.cli.app import OrgDirArgument, app, err, out, reported
from reconciler.errors import InputError
from reconciler.live.target import Target, open_target
from reconciler.notify.deliver import NoticeReport
from reconciler.reconcile import DueResult, run_notify_due
from reconciler.textsafe import terminal_safe

notify_app = typer.Typer(
    help="Work notices (工作通知) to managers: advance notice before a leaves_on date.",
    no_args_is_help=True,
)
app.add_typer(notify_app, name="notify")


@notify_app.command("due")
def due_command(
    org_dir: OrgDirArgument = Path("org"),
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            metavar="YYYY-MM-DD",
            help="Act as if today were this day (the org's time zone): catch up a missed run.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who is due and who would hear; send nothing.")
    ] = False,
    agent_id: Annotated[
        int | None,
        typer.Option(
            "--agent-id",
            min=1,
            help="The AgentID of the app whose credentials this run uses, if not notify.agent_id "
            "(the nightly job runs with the read app).",
        ),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Use the embedded sandbox tenant.")
    ] = False,
) -> None:
    """Tell managers notify.advance_days before a person's leaves_on (run daily)."""
    with reported():
        today = _date(date)
        target = open_target(sandbox=sandbox)
        err(target.description)
        result = asyncio.run(_due(target, org_dir, today, dry_run, agent_id))
    out(_summary(result, dry_run))
    if result.notices is not None and result.notices.failed:
        raise typer.Exit(1)


async def _due(
    target: Target,
    org_dir: Path,
    today: datetime.date | None,
    dry_run: bool,
    agent_id: int | None,
) -> DueResult:
    async with target:
        return await run_notify_due(
            org_dir, target, today=today, dry_run=dry_run, agent_id=agent_id
        )


def _date(text: str | None) -> datetime.date | None:
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"--date {text!r}: expected YYYY-MM-DD") from None


def _summary(result: DueResult, dry_run: bool) -> str:
    if not result.configured:
        return "notify.advance_days is not set in orgctl.yaml: no advance notices."
    day = result.today.isoformat()
    if not result.changes:
        return f"{day}: nobody's advance notice is due."
    lines = [f"{day}: {len(result.changes)} leaving, notice due:"]
    for change in result.changes:
        heard = ", ".join(sorted(change.recipients - {change.userid})) or "nobody (no manager)"
        on = change.on.isoformat() if change.on else "?"
        lines.append(f"  {terminal_safe(change.name)} ({change.userid}) leaves {on} → {heard}")
    if dry_run:
        lines.append("Dry run: nothing sent.")
    if result.notices is not None:
        lines.append(notice_lines(result.notices))
    if result.journal is not None:
        lines.append(f"journal: {result.journal}")
    return "\n".join(lines)


def notice_lines(report: NoticeReport, note: str = "") -> str:
    """What the work notices did: calls sent and failed (errcode, hint), the people DingTalk
    will not deliver to, and those who already got the same notice today."""
    people = sum(len(o.recipients) for o in report.sent)
    if not report.outcomes and not report.lookup_errors:
        return "Notices: nobody to tell."
    lines = [
        f"Notices: {len(report.sent)} sent to {people} people, {len(report.failed)} failed"
        + (f" ({note})." if note else ".")
    ]
    for outcome in report.failed:
        who = ", ".join(outcome.recipients)
        lines.append(f"  FAILED   notice to {who}: {scrub(outcome.error)}")  # errcode, hint
    for person in report.undelivered:
        lines.append(f"  NOT SENT {person.userid}: {person.reason}")
    for outcome in report.sent:
        for person in outcome.undelivered:
            if person.repeat:
                lines.append(f"  ALREADY  {person.userid}: {person.reason}")
    for error in report.lookup_errors:
        lines.append(f"  WARNING  {scrub(error)}")
    return "\n".join(lines)
