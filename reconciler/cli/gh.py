"""`orgctl gh`: what the GitHub Actions workflows post to GitHub.

    orgctl gh comment --pr N --file plan.md [--exit-code N] [--errors-file F]
    orgctl gh drift-issue --file plan.md --exit-code N
    orgctl gh drift-pr --report pull.json [--base main] [--sha SHA]
    orgctl gh lifecycle-pr --report due.json [--base main] [--sha SHA]
    orgctl gh report-failure [--sha SHA] [--exit-code N]
    orgctl gh resolve-failure [--sha SHA]

Each reads GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL (Actions sets the last two)
and the run's URL from GITHUB_SERVER_URL/GITHUB_RUN_ID. Only comments and issues written by
github-actions[bot] (or ORGCTL_GITHUB_LOGIN, for another token) are taken as orgctl's. Each
exits 0 once GitHub shows the result, whatever the result says: the workflow fails the job
in its own step, so a red job never hides the comment that explains it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import app, out, reported
from reconciler.errors import InputError
from reconciler.gitops import comments, drift, failures, markdown, markers
from reconciler.gitops.client import GitHubClient
from reconciler.gitops.issues import execute_issue_actions

gh = typer.Typer(
    name="gh",
    help="Post plans, drift and apply failures to GitHub (used by the workflows).",
    no_args_is_help=True,
)
app.add_typer(gh, name="gh")

ExitCodeOption = Annotated[
    int | None,
    typer.Option("--exit-code", help="Exit code of the orgctl command whose result this is."),
]


def _read(path: Path | None, *, required: bool) -> str:
    if path is None:
        if required:
            raise InputError("--file is required")
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise InputError(f"{path}: no such file") from None
        return ""
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None


@gh.command()
def comment(
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
    file: Annotated[Path | None, typer.Option("--file", help="Markdown to post.")] = None,
    marker: Annotated[str, typer.Option(help="Hidden marker naming the sticky comment.")] = (
        markers.PLAN_MARKER
    ),
    exit_code: ExitCodeOption = None,
    errors_file: Annotated[
        Path | None, typer.Option("--errors-file", help="stderr of the plan, shown on failure.")
    ] = None,
    sha: Annotated[str, typer.Option(help="Commit the plan is for (PR head).")] = "",
    limit: Annotated[int, typer.Option(help="Max characters per comment.")] = (
        markdown.SAFE_BODY_LIMIT
    ),
    max_parts: Annotated[int, typer.Option(help="Most comments one plan may take.")] = 10,
) -> None:
    """Create or update the PR's sticky plan comment, split into parts when it is long."""
    with reported():
        code = 0 if exit_code is None else exit_code
        # A plan that failed may have written nothing: then the errors are the comment.
        plan_md = _read(file, required=code in (0, 2))
        errors = _read(errors_file, required=False)
        run_url = markdown.run_url_from_env(os.environ)
        body = comments.build_plan_comment(
            plan_md, exit_code=code, errors=errors, run_url=run_url, sha=sha
        )
        note = markdown.plan_too_long_note(f"longer than {max_parts} comments", run_url)
        parts = markdown.split_comment(
            body, limit, marker, max_parts=max_parts, truncated_note=note
        )
        with GitHubClient.from_env(os.environ) as client:
            existing = client.list_issue_comments(pr)
            actions = comments.sync_sticky_comment(existing, marker, parts, client.login)
            for line in comments.execute_comment_actions(client, pr, actions):
                out(f"PR #{pr}: {line}")


@gh.command("drift-issue")
def drift_issue(
    exit_code: Annotated[
        int, typer.Option("--exit-code", help="Exit code of `orgctl plan --detailed-exitcode`.")
    ],
    file: Annotated[Path | None, typer.Option("--file", help="The plan as markdown.")] = None,
) -> None:
    """Open or update the one drift issue (exit 2 or 3); close it when drift is gone (0)."""
    with reported():
        if exit_code not in (0, 2, 3):
            out(f"plan exited {exit_code}: drift unknown, the drift issue is left as it is")
            return
        drifted = exit_code in (2, 3)
        plan_md = _read(file, required=drifted)
        run_url = markdown.run_url_from_env(os.environ)
        body = drift.build_drift_issue_body(plan_md, run_url, unsafe=exit_code == 3)
        with GitHubClient.from_env(os.environ) as client:
            issues = client.list_open_issues(markers.DRIFT_LABEL)
            actions = drift.decide_drift_issue(
                issues,
                drifted=drifted,
                body=body,
                resolved_comment=drift.build_drift_resolved_comment(run_url),
                author=client.login,
            )
            done = execute_issue_actions(client, actions)
        for line in done or ["no drift, no open drift issue: nothing to do"]:
            out(line)


@gh.command("report-failure")
def report_failure(
    sha: Annotated[str, typer.Option(help="Commit that was applied (default: GITHUB_SHA).")] = "",
    exit_code: ExitCodeOption = None,
) -> None:
    """Tell people a merged change did not reach DingTalk: on the PR that merged it, or in
    an issue labelled orgctl-apply-failure when no PR did."""
    with reported():
        commit = sha or os.environ.get("GITHUB_SHA", "")
        run_url = markdown.run_url_from_env(os.environ)
        body = failures.build_failure_report(commit, run_url, exit_code)
        with GitHubClient.from_env(os.environ) as client:
            pulls = client.pulls_for_commit(commit) if commit else []
            pull = failures.choose_merged_pull(pulls, commit)
            issues = [] if pull is not None else client.list_open_issues(markers.FAILURE_LABEL)
            actions = failures.decide_failure_report(pull, issues, body, client.login)
            for line in execute_issue_actions(client, actions):
                out(line)


@gh.command("resolve-failure")
def resolve_failure(
    sha: Annotated[str, typer.Option(help="Commit that was applied (default: GITHUB_SHA).")] = "",
) -> None:
    """After a successful apply, close the open orgctl-apply-failure issue, if any."""
    with reported():
        commit = sha or os.environ.get("GITHUB_SHA", "")
        comment = failures.build_failure_resolved_comment(
            commit, markdown.run_url_from_env(os.environ)
        )
        with GitHubClient.from_env(os.environ) as client:
            issues = client.list_open_issues(markers.FAILURE_LABEL)
            done = execute_issue_actions(
                client, failures.decide_failure_resolved(issues, comment, client.login)
            )
        for line in done or ["no open apply-failure issue: nothing to do"]:
            out(line)


@gh.command("drift-pr")
def drift_pr(
    report: Annotated[
        Path, typer.Option("--report", help="The JSON `orgctl pull --report` wrote.")
    ],
    base: Annotated[str, typer.Option(help="Branch the PR targets.")] = "main",
    sha: Annotated[
        str, typer.Option(help="Commit pull read the YAML from (default: GITHUB_SHA).")
    ] = "",
) -> None:
    """Open or update the one drift PR (branch orgctl/drift) with what `orgctl pull` changed;
    close it when pull changes nothing."""
    with reported():
        data = _pull_report(report)
        files = {path: _read(Path(path), required=True) for path in data["files"]}
        commit = sha or os.environ.get("GITHUB_SHA", "")
        run_url = markdown.run_url_from_env(os.environ)
        body = drift.build_drift_pr_body(data["changes"], data["notes"], run_url)
        with GitHubClient.from_env(os.environ) as client:
            pulls = drift.list_open_pulls(client, drift.DRIFT_BRANCH)
            actions = drift.decide_drift_pr(
                pulls,
                drifted=bool(files),
                body=body,
                closed_comment=drift.build_drift_pr_closed_comment(run_url),
            )
            if files:
                if not commit:
                    raise InputError("--sha or GITHUB_SHA is required to commit the drift")
                message = "Keep the DingTalk console's changes (orgctl pull)"
                head = drift.commit_files(client, commit, files, message)
                drift.set_branch(client, drift.DRIFT_BRANCH, head)
            done = drift.execute_pull_actions(client, actions, base=base)
            if not files and pulls:
                drift.delete_branch(client, drift.DRIFT_BRANCH)
        for line in done or ["no drift to pull, no open drift PR: nothing to do"]:
            out(line)


@gh.command("lifecycle-pr")
def lifecycle_pr(
    report: Annotated[
        Path, typer.Option("--report", help="The JSON `orgctl lifecycle due --report` wrote.")
    ],
    base: Annotated[str, typer.Option(help="Branch the PR targets.")] = "main",
    sha: Annotated[
        str, typer.Option(help="Commit the YAML was read from (default: GITHUB_SHA).")
    ] = "",
) -> None:
    """Open or update the one leavers' PR (branch orgctl/lifecycle) removing the entries
    whose leaves_on has come; close it when there are none."""
    with reported():
        data = _pull_report(report)
        files = {path: _read(Path(path), required=True) for path in data["files"]}
        commit = sha or os.environ.get("GITHUB_SHA", "")
        run_url = markdown.run_url_from_env(os.environ)
        body = drift.build_lifecycle_pr_body(data["changes"], data["notes"], run_url)
        branch = drift.LIFECYCLE_BRANCH
        with GitHubClient.from_env(os.environ) as client:
            pulls = drift.list_open_pulls(client, branch)
            actions = drift.decide_drift_pr(
                pulls,
                drifted=bool(files),
                body=body,
                closed_comment=drift.build_lifecycle_pr_closed_comment(run_url),
                branch=branch,
                marker=drift.LIFECYCLE_PR_MARKER,
            )
            if files:
                if not commit:
                    raise InputError("--sha or GITHUB_SHA is required to commit the removal")
                message = "Remove the people whose leaving date has come (orgctl lifecycle due)"
                head = drift.commit_files(client, commit, files, message)
                drift.set_branch(client, branch, head)
            done = drift.execute_pull_actions(
                client, actions, base=base, branch=branch, title=drift.LIFECYCLE_PR_TITLE
            )
            if not files and pulls:
                drift.delete_branch(client, branch)
        for line in done or ["nobody's leaves_on has come, no open leavers' PR: nothing to do"]:
            out(line)


def _pull_report(path: Path) -> dict[str, list[str]]:
    """The report's files (relative paths inside the repository), changes and notes."""
    try:
        data = json.loads(_read(path, required=True))
    except ValueError:
        raise InputError(f"{path}: not the JSON `orgctl pull --report` writes") from None
    result: dict[str, list[str]] = {}
    for key in ("files", "changes", "notes"):
        value = data.get(key, []) if isinstance(data, dict) else None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{path}: {key} must be a list of strings")
        result[key] = value
    for name in result["files"]:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts:
            raise InputError(f"{path}: {name} is not a path inside the repository")
    return result
