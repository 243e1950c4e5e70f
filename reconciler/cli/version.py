"""`orgctl version` and `orgctl --version`: the version, and the commit it was built from.

The commit tells which code a bug report is about when the version alone does not (an
install from a branch or a checkout). It comes from, in order: the git work tree the package
sits in (a development install), or the commit pip recorded when it installed from a git URL
(PEP 610 ``direct_url.json``). A release from the package index has neither: its version is
its tag.
"""

from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path

from reconciler import __version__
from reconciler.cli.app import command, out

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def version_line() -> str:
    commit = git_commit(PACKAGE_DIR.parent) or recorded_commit()
    return f"orgctl {__version__}" + (f" (commit {commit})" if commit else "")


def git_commit(where: Path) -> str | None:
    """The work tree's HEAD (12 hex digits), with ``-dirty`` when files are modified; None
    outside a git work tree or without git."""
    if not (where / ".git").exists():
        return None
    try:
        head = _git(where, "rev-parse", "--short=12", "HEAD")
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if head is None:
        return None
    return head + ("-dirty" if dirty else "")


def _git(where: Path, *args: str) -> str | None:
    result = subprocess.run(
        ["git", "-C", str(where), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def recorded_commit() -> str | None:
    """The commit pip recorded for ``pip install git+URL@REF`` (PEP 610)."""
    try:
        text = metadata.distribution("orgctl").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        commit = json.loads(text).get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return str(commit)[:12] if commit else None


@command
def version() -> None:
    """Print orgctl's version and the commit it was built from."""
    out(version_line())


def print_version_and_exit(value: bool) -> None:
    """The eager ``--version`` option's callback."""
    if value:
        import typer

        out(version_line())
        raise typer.Exit()
