"""`orgctl validate [ORG_DIR]` and `orgctl schema [--policy]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import OrgDirArgument, command, out, reported
from reconciler.desired.load import load, schema_text


@command
def validate(
    org_dir: OrgDirArgument = Path("org"),
) -> None:
    """Check the desired YAML without contacting DingTalk; print every problem found."""
    with reported():
        desired = load(org_dir)
    org = desired.org
    counts = ", ".join(
        _count(n, noun)
        for n, noun in (
            (len(desired.files), "file"),
            (len(org.departments), "department"),
            (len(org.users), "user"),
        )
    )
    out(f"{org_dir.as_posix().rstrip('/')}/: {counts} — valid")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@command
def schema(
    policy: Annotated[
        bool, typer.Option("--policy", help="The schema of orgctl.yaml instead of org files.")
    ] = False,
) -> None:
    """Print the JSON Schema of org files (for editors and CI)."""
    out(schema_text("policy" if policy else "org"), nl=False)
