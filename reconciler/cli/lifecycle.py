"""`orgctl lifecycle due`: remove from the YAML the people whose ``leaves_on`` has come.

    orgctl lifecycle due [ORG_DIR] [--today YYYY-MM-DD] [--dry-run] [--report FILE]

What the nightly job runs before `orgctl gh lifecycle-pr`. Reads no tenant: which day it is
comes from the clock in the policy's time zone (``--today`` to see another day). The files
are edited like `orgctl pull` edits them (only the removed entries and the references to
them change) and loaded again; if they would not load, they are put back. ``--report`` writes
the JSON `orgctl gh lifecycle-pr` reads (the shape `orgctl pull --report` writes).

Exit codes: 0 ok (changed or not) · 1 error.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import OrgDirArgument, app, err, out, reported
from reconciler.cli.pull import _write
from reconciler.clock import SYSTEM_CLOCK, local_date
from reconciler.desired.edit import OrgFiles
from reconciler.desired.leavers import due as due_edits
from reconciler.desired.load import load_desired
from reconciler.errors import InputError

lifecycle_app = typer.Typer(
    name="lifecycle",
    help="People leaving: remove the entries whose leaves_on has come (the nightly job).",
    no_args_is_help=True,
)
app.add_typer(lifecycle_app, name="lifecycle")


@lifecycle_app.command()
def due(
    org_dir: OrgDirArgument = Path("org"),
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="The day to act for, YYYY-MM-DD (default: today in the policy's time zone).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; write nothing.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the changed files and changes as JSON."),
    ] = None,
) -> None:
    """Remove the people whose leaves_on is today or past from the YAML."""
    with reported():
        desired, policy = load_desired(org_dir)
        day = _day(today) if today else local_date(SYSTEM_CLOCK.now(), policy.timezone)
        files = OrgFiles.load(org_dir, desired)
        result = due_edits(desired, policy, day, files)
        changed = sorted(files.changed())
        for change in result.changes:
            out(change)
        for note in result.notes:
            err(f"note: {note}")
        if dry_run:
            out(f"{len(result.changes)} entries would change in {len(changed)} files (dry run)")
        else:
            _write(files, org_dir)
            if result.changes:
                out(f"{len(result.changes)} entries changed in {len(changed)} files")
            else:
                out(f"nobody's leaves_on has come by {day.isoformat()}: nothing to remove")
        if report is not None:
            data = {
                "files": [(org_dir / name).as_posix() for name in changed],
                "changes": list(result.changes),
                "notes": list(result.notes),
            }
            try:
                text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
                report.write_text(text, encoding="utf-8")
            except OSError as error:
                raise InputError(f"cannot write {report}: {error.strerror}") from None


def _day(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--today {text}: not a date (YYYY-MM-DD)") from None
