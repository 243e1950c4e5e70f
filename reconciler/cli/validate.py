"""`orgctl validate [ORG_DIR] [--format text|github] [--base REF | --base-dir DIR]` and
`orgctl schema [--policy]`."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import BaseDirOption, OrgDirArgument, command, err, fail, out
from reconciler.clock import SYSTEM_CLOCK, local_date
from reconciler.desired.base import removal_problem, removed_since
from reconciler.desired.load import Desired, load, schema_text
from reconciler.errors import ConfigError, OrgctlError, Problem
from reconciler.plan.lifecycle import split_removed, undated_removal_message


class ValidateFormat(enum.StrEnum):
    text = "text"
    github = "github"


@command
def validate(
    org_dir: OrgDirArgument = Path("org"),
    fmt: Annotated[
        ValidateFormat | None,
        typer.Option(
            "--format",
            help="text (file:line:col: field: message on stderr), or github (::error "
            "workflow commands on stdout, shown on the PR's changed lines). Default: github "
            "when GITHUB_ACTIONS=true, else text.",
        ),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="A git ref (the PR's base): under lifecycle.dated_removals_only, refuse "
            "entries removed since then without a leaves_on that has come.",
        ),
    ] = None,
    base_dir: BaseDirOption = None,
) -> None:
    """Check the desired YAML without contacting DingTalk; print every problem found."""
    if fmt is None:
        on_actions = os.environ.get("GITHUB_ACTIONS") == "true"
        fmt = ValidateFormat.github if on_actions else ValidateFormat.text
    try:
        desired = load(org_dir)
        if base is not None or base_dir is not None:
            _check_removals(org_dir, base, base_dir, desired)
    except ConfigError as error:
        if fmt is ValidateFormat.github:
            for problem in error.problems:
                out(github_annotation(problem))
            err(f"error: {error}")
            raise typer.Exit(error.exit_code) from None
        fail(error)
    except OrgctlError as error:
        fail(error)
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


def _check_removals(
    org_dir: Path, base: str | None, base_dir: Path | None, desired: Desired
) -> None:
    """Entries removed since ``base`` must have had a leaves_on that has come, when the
    policy says so (the YAML alone cannot show a removal: the base can)."""
    policy = desired.policy
    # Read even when the policy does not ask: a base that does not load is a mistake to show.
    removed = removed_since(org_dir, base, desired.org, base_dir=base_dir)
    if not policy.lifecycle.dated_removals_only:
        return
    today = local_date(SYSTEM_CLOCK.now(), policy.timezone)
    _, undated = split_removed(removed, today)
    if undated:
        raise ConfigError([removal_problem(u, undated_removal_message(u)) for u in undated])


def github_annotation(problem: Problem) -> str:
    """One problem as a GitHub Actions workflow command: an error annotation on that line
    of the file, which GitHub shows on the pull request's diff. The file is as the loader
    names it, relative to the working directory: run from the repository root."""
    props = [f"file={_property(problem.file)}"]
    if problem.line:
        props += [f"line={problem.line}", f"col={problem.column}"]
    if problem.field:
        props.append(f"title={_property(problem.field)}")
    return f"::error {','.join(props)}::{_data(problem.message)}"


def _data(text: str) -> str:
    # The runner's escaping of a command's message (toolkit/core's escapeData).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    # A property value also ends at ':' and ',' (toolkit/core's escapeProperty).
    return _data(text).replace(":", "%3A").replace(",", "%2C")


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
