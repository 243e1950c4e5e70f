"""`orgctl pull`: write what was changed in the DingTalk console into the existing YAML.

    orgctl pull [ORG_DIR] [--only users|departments] [--department KEY] [--dry-run]
                [--report FILE] [--sandbox]

Reads DingTalk (read-only), edits the org files in place touching only the entries that
differ, then loads the result as `orgctl validate` would. One line per changed entry goes to
stdout, mobiles and emails masked. ``--report`` writes JSON for `orgctl gh drift-pr`: the
changed files (paths as given, under ORG_DIR) and the same lines.

Exit codes: 0 ok (changed or not) · 1 error (for one: the edited YAML would not load, say
``--only departments`` removed a department people still name; the files are put back and
the problems listed).
"""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import OrgDirArgument, command, err, out, reported
from reconciler.clock import local_date
from reconciler.desired.edit import OrgFiles
from reconciler.desired.load import load_desired
from reconciler.errors import ConfigError, InputError
from reconciler.live.pull import PullResult, Scope
from reconciler.live.pull import pull as pull_org
from reconciler.live.snapshot import read_live
from reconciler.live.target import Target, open_target
from reconciler.model import Org
from reconciler.reconcile import managers_to_read


class OnlyKind(StrEnum):
    users = "users"
    departments = "departments"


@command
def pull(
    org_dir: OrgDirArgument = Path("org"),
    only: Annotated[
        OnlyKind | None, typer.Option("--only", help="Change only users or only departments.")
    ] = None,
    department: Annotated[
        str | None,
        typer.Option(
            "--department",
            help="Only this department (key), the departments below it and their people.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change; write nothing.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the changed files and changes as JSON."),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Read the embedded sandbox tenant.")
    ] = False,
) -> None:
    """Edit the YAML so it describes DingTalk: console changes come back as a diff."""
    with reported():
        desired, policy = load_desired(org_dir)
        files = OrgFiles.load(org_dir, desired)
        target = open_target(sandbox=sandbox)
        err(target.description)
        live = asyncio.run(_read(target, desired))
        scope = Scope(only=only.value if only is not None else None, subtree=department)
        if department is not None and not _known(department, desired, live):
            raise InputError(f"--department {department}: no such department key")
        today = local_date(target.client.clock.now(), policy.timezone)
        result = pull_org(desired, live, policy, files, scope, today=today)
        changed = sorted(files.changed())
        for change in result.changes:
            out(change.describe())
        for note in result.notes:
            err(f"note: {note}")
        if dry_run:
            out(f"{len(result.changes)} entries would change in {len(changed)} files (dry run)")
        else:
            _write(files, org_dir)
            out(_summary(result, changed))
        if report is not None:
            shown = [(org_dir / name).as_posix() for name in changed]
            _write_report(report, shown, result)


async def _read(target: Target, desired: Org) -> Org:
    async with target:
        return await read_live(target.client, read_managers=managers_to_read(desired))


def _write(files: OrgFiles, org_dir: Path) -> None:
    """Write the edits; if the YAML then does not load (say ``--only departments`` removed a
    department people still name), put every file back and report the problems."""
    before = {name: files.files[name].original for name in files.changed()}
    files.write()
    try:
        load_desired(org_dir)
    except ConfigError as error:
        for name, text in before.items():
            path = org_dir / name
            if text:
                path.write_text(text, encoding="utf-8")
            else:
                path.unlink()
        err("pull put the files back: the edits would leave this YAML invalid")
        raise error from None


def _known(key: str, desired: Org, live: Org) -> bool:
    return key in desired.departments or key in live.departments


def _summary(result: PullResult, changed: list[str]) -> str:
    if not result.changes:
        return "the YAML already describes DingTalk: nothing to pull"
    return f"{len(result.changes)} entries changed in {len(changed)} files: {', '.join(changed)}"


def _write_report(path: Path, files: list[str], result: PullResult) -> None:
    data = {
        "files": files,
        "changes": [c.describe() for c in result.changes],
        "notes": list(result.notes),
    }
    try:
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None
