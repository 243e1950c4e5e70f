"""`orgctl gh`: what the GitHub Actions workflows post to GitHub.

    orgctl gh comment --pr N --file plan.md [--exit-code N] [--errors-file F]
    orgctl gh drift-issue --file plan.md --exit-code N
    orgctl gh drift-pr --report pull.json [--base main] [--sha SHA]
    orgctl gh lifecycle-pr --report due.json [--base main] [--sha SHA]
    orgctl gh report-failure [--sha SHA] [--exit-code N]
    orgctl gh resolve-failure [--sha SHA]
    orgctl gh approval-status --pr N
    orgctl gh gate --sha SHA --org DIR --out reviewed.json --outputs FILE [--approve-digest D]
    orgctl gh plan-changed --fresh fresh.json [--reviewed reviewed.json] [--pr N] [--sha SHA]
    orgctl gh applied [--sha SHA] [--pr N] [--approval TEXT]

Each reads GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL (Actions sets the last two)
and the run's URL from GITHUB_SERVER_URL/GITHUB_RUN_ID. Only comments and issues written by
github-actions[bot] (or ORGCTL_GITHUB_LOGIN, for another token) are taken as orgctl's. Each
exits 0 once GitHub shows the result, whatever the result says: the workflow fails the job
in its own step, so a red job never hides the comment that explains it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import app, err, out, reported
from reconciler.desired.files import POLICY_FILE
from reconciler.desired.load import load_policy
from reconciler.errors import InputError, UnsafePlanError
from reconciler.gitops import (
    approvals,
    comments,
    drift,
    failures,
    gate,
    markdown,
    markers,
    reviewed,
)
from reconciler.gitops.client import GitHubClient
from reconciler.gitops.issues import CommentOnIssue, execute_issue_actions
from reconciler.plan.document import Plan
from reconciler.plan.render import Format, render
from reconciler.policy import DEFAULT_POLICY, Policy

TEAMS_TOKEN_VAR = "ORGCTL_TEAMS_TOKEN"
"""A token that may read team memberships (GITHUB_TOKEN cannot), for approvals by team."""

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
    plan_json: Annotated[
        Path | None,
        typer.Option(
            "--plan-json",
            help="The plan file (plan --out): record its digest in the comment, as reviewed.",
        ),
    ] = None,
    org: Annotated[
        Path | None, typer.Option("--org", help="The org directory whose orgctl.yaml applies.")
    ] = None,
    artifact: Annotated[
        str, typer.Option(help="Name of the artifact this run keeps the plan file in.")
    ] = "",
) -> None:
    """Create or update the PR's sticky plan comment, split into parts when it is long. With
    --plan-json, it also records the reviewed plan and says what it needs approved."""
    with reported():
        code = 0 if exit_code is None else exit_code
        # A plan that failed may have written nothing: then the errors are the comment.
        plan_md = _read(file, required=code in (0, 2))
        errors = _read(errors_file, required=False)
        run_url = markdown.run_url_from_env(os.environ)
        record, needs_md = "", ""
        if plan_json is not None:
            policy = _policy(org)
            record_data = _record(plan_json, policy, sha, code, artifact)
            record = record_data.line()
            needs_md = approvals.needs_markdown(record_data.needs, policy.approvals.label)
        body = comments.build_plan_comment(
            plan_md,
            exit_code=code,
            errors=errors,
            run_url=run_url,
            sha=sha,
            record=record,
            needs_md=needs_md,
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
        _keep_one_pr(
            data["files"],
            base=base,
            sha=sha,
            body=drift.build_drift_pr_body(data["changes"], data["notes"], _run_url()),
            closed_comment=drift.build_drift_pr_closed_comment(_run_url()),
            branch=drift.DRIFT_BRANCH,
            marker=drift.DRIFT_PR_MARKER,
            title=drift.DRIFT_PR_TITLE,
            message="Keep the DingTalk console's changes (orgctl pull)",
            idle="no drift to pull, no open drift PR: nothing to do",
        )


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
        _keep_one_pr(
            data["files"],
            base=base,
            sha=sha,
            body=drift.build_lifecycle_pr_body(data["changes"], data["notes"], _run_url()),
            closed_comment=drift.build_lifecycle_pr_closed_comment(_run_url()),
            branch=drift.LIFECYCLE_BRANCH,
            marker=drift.LIFECYCLE_PR_MARKER,
            title=drift.LIFECYCLE_PR_TITLE,
            message="Remove the people whose leaving date has come (orgctl lifecycle due)",
            idle="nobody's leaves_on has come, no open leavers' PR: nothing to do",
        )


def _run_url() -> str:
    return markdown.run_url_from_env(os.environ)


def _keep_one_pr(
    paths: list[str],
    *,
    base: str,
    sha: str,
    body: str,
    closed_comment: str,
    branch: str,
    marker: str,
    title: str,
    message: str,
    idle: str,
) -> None:
    """Keep one PR from ``branch`` (found by ``marker``) carrying the files at ``paths`` as
    they are now, committed on ``sha``; close it and delete the branch when there are none."""
    files = {path: _read(Path(path), required=True) for path in paths}
    commit = sha or os.environ.get("GITHUB_SHA", "")
    with GitHubClient.from_env(os.environ) as client:
        pulls = drift.list_open_pulls(client, branch)
        actions = drift.decide_drift_pr(
            pulls,
            drifted=bool(files),
            body=body,
            closed_comment=closed_comment,
            branch=branch,
            marker=marker,
        )
        if files:
            if not commit:
                raise InputError(f"--sha or GITHUB_SHA is required to commit to {branch}")
            head = drift.commit_files(client, commit, files, message)
            drift.set_branch(client, branch, head)
        done = drift.execute_pull_actions(client, actions, base=base, branch=branch, title=title)
        if not files and pulls:
            drift.delete_branch(client, branch)
    for line in done or [idle]:
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


# --------------------------------------------------------------------------- approvals


def _policy(org: Path | None) -> Policy:
    if org is None:
        return DEFAULT_POLICY
    for name in (POLICY_FILE, "orgctl.yml"):
        if (org / name).is_file():
            return load_policy(org / name)
    return DEFAULT_POLICY


def _saved_plan(path: Path) -> Plan | None:
    text = _read(path, required=False)
    return Plan.from_json(text) if text.strip() else None


def _record(
    plan_json: Path, policy: Policy, sha: str, exit_code: int, artifact: str
) -> approvals.ReviewRecord:
    """What the plan job records: no digest when planning failed (nothing was reviewed)."""
    plan = None
    if exit_code in (0, 2, 3):
        try:
            plan = _saved_plan(plan_json)
        except InputError as error:  # the comment still goes up; nothing counts as reviewed
            err(f"warning: {plan_json}: {error}; the plan is not recorded as reviewed")
    run_id = os.environ.get("GITHUB_RUN_ID", "")
    label = policy.approvals.label
    if plan is None:
        return approvals.ReviewRecord(sha, "", run_id, artifact, exit_code, label=label)
    needs = approvals.plan_needs(plan, policy)
    return approvals.ReviewRecord(sha, plan.digest, run_id, artifact, exit_code, needs, label)


@gh.command("approval-status")
def approval_status(
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
) -> None:
    """Set the orgctl/approval status of the PR's planned commit: pending until the plan has
    the approvals it needs (run after the plan, and on label and review events)."""
    with reported():
        with GitHubClient.from_env(os.environ) as client:
            recorded = gate.read_record(client, pr)
            if recorded is None:
                out(f"PR #{pr} has no orgctl plan: no approval status to set")
                return
            record = recorded.record
            if not record.digest:
                state, text = "failure", "no plan for this commit: orgctl plan failed"
                notes: list[str] = []
            else:
                evaluation, notes = gate.judge(
                    client,
                    pr,
                    recorded,
                    record.needs,
                    record.label,
                    os.environ.get(TEAMS_TOKEN_VAR, ""),
                )
                state, text = approvals.commit_status(evaluation)
            client.create_status(
                record.sha,
                state,
                approvals.APPROVAL_CONTEXT,
                text,
                markdown.run_url_from_env(os.environ),
            )
        for note in notes:
            out(f"note: {note}")
        out(f"{approvals.APPROVAL_CONTEXT} on {record.sha[:12]}: {state}: {text}")


@gh.command("gate")
def gate_command(
    sha: Annotated[str, typer.Option(help="The commit of main being applied.")],
    org: Annotated[Path, typer.Option("--org", help="The org directory of that commit.")] = Path(
        "org"
    ),
    out_file: Annotated[
        Path, typer.Option("--out", help="Where to write the reviewed plan, when fetched.")
    ] = Path("reviewed.json"),
    outputs: Annotated[
        Path | None, typer.Option("--outputs", help="Append key=value lines here ($GITHUB_OUTPUT).")
    ] = None,
    approve_digest: Annotated[
        str, typer.Option("--approve-digest", help="Manual run: the digest approved by hand.")
    ] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Manual run: lift the thresholds for that digest.")
    ] = False,
) -> None:
    """Before apply on main: find the merged PR's reviewed plan and its approvals, and say
    how apply must run (outputs: mode, apply, pr, digest, reviewed-plan, force-digest,
    approval). Exit 3 when an approval is missing: then apply must not run."""
    with reported():
        event = os.environ.get("GITHUB_EVENT_NAME", "")
        if event == "workflow_dispatch":
            decision = reviewed.decide_dispatch(
                approve_digest, force, os.environ.get("GITHUB_ACTOR", "")
            )
        else:
            decision = _gate_push(sha, org, out_file)
        _write_outputs(outputs, decision.outputs())
        out(decision.message)
        if decision.approval:
            out(f"approval: {decision.approval}")
        if not decision.apply:
            raise UnsafePlanError(decision.message)


def _gate_push(sha: str, org: Path, out_file: Path) -> reviewed.GateDecision:
    out_file.unlink(missing_ok=True)  # only a plan fetched now may be applied as reviewed
    policy = _policy(org)
    with GitHubClient.from_env(os.environ) as client:
        pull = reviewed.choose_merged(client.pulls_for_commit(sha), sha)
        if pull is None:
            return reviewed.decide_push(
                pr=None, head_sha="", record=None, plan_fetched=False, evaluation=None
            )
        number = int(pull["number"])
        head = pull.get("head") or {}
        head_sha = str(head.get("sha", "")) if isinstance(head, dict) else ""
        recorded = gate.read_record(client, number)
        record = recorded.record if recorded is not None else None
        if recorded is None or record is None or not record.digest or record.sha != head_sha:
            return reviewed.decide_push(
                pr=number, head_sha=head_sha, record=record, plan_fetched=False, evaluation=None
            )
        plan, why = gate.fetch_reviewed_plan(client, record)
        if plan is None:
            err(f"note: {why}; comparing the plan digest only")
            needs = record.needs
        else:
            out_file.write_text(plan.to_json(), encoding="utf-8")
            needs = approvals.plan_needs(plan, policy)  # main's policy: what apply will use
        evaluation, notes = gate.judge(
            client,
            number,
            recorded,
            needs,
            policy.approvals.label,
            os.environ.get(TEAMS_TOKEN_VAR, ""),
        )
        for note in notes:
            err(f"note: {note}")
        return reviewed.decide_push(
            pr=number,
            head_sha=head_sha,
            record=dataclasses.replace(record, needs=needs),
            plan_fetched=plan is not None,
            evaluation=evaluation,
        )


def _write_outputs(path: Path | None, values: dict[str, str]) -> None:
    if path is None:
        return
    with path.open("a", encoding="utf-8") as handle:
        for key, value in values.items():
            if "\n" in value:  # never: digests, numbers and one-line notes
                raise InputError(f"output {key} spans lines")
            handle.write(f"{key}={value}\n")


@gh.command("plan-changed")
def plan_changed(
    fresh: Annotated[Path, typer.Option("--fresh", help="The plan computed now (apply --out).")],
    reviewed_file: Annotated[
        Path | None, typer.Option("--reviewed", help="The reviewed plan, when there was one.")
    ] = None,
    pr: Annotated[int | None, typer.Option("--pr", help="The merged pull request.")] = None,
    sha: Annotated[str, typer.Option(help="The commit of main (default: GITHUB_SHA).")] = "",
) -> None:
    """Apply refused a plan that is not the reviewed one: post the new plan on the merged PR
    and open or update the one plan-changed issue, with the difference and the new digest."""
    with reported():
        plan = _saved_plan(fresh)
        if plan is None:
            raise InputError(f"{fresh}: no plan (apply --out writes it)")
        saved = _saved_plan(reviewed_file) if reviewed_file is not None else None
        commit = sha or os.environ.get("GITHUB_SHA", "")
        run_url = markdown.run_url_from_env(os.environ)

        def body(plan_md: str = "") -> str:
            return reviewed.build_plan_changed_body(
                fresh=plan,
                difference=saved.difference(plan) if saved is not None else None,
                reviewed_digest=saved.digest if saved is not None else "",
                pr=pr,
                sha=commit,
                run_url=run_url,
                plan_md=plan_md,
            )

        with GitHubClient.from_env(os.environ) as client:
            if pr is not None:
                plan_md = render(plan, Format.MARKDOWN, masked=True)
                note = markdown.plan_too_long_note("too long for one comment", run_url)
                parts = markdown.split_comment(
                    body(plan_md),
                    markdown.SAFE_BODY_LIMIT,
                    reviewed.PLAN_CHANGED_MARKER,
                    max_parts=5,
                    truncated_note=note,
                )
                existing = client.list_issue_comments(pr)
                actions = comments.sync_sticky_comment(
                    existing, reviewed.PLAN_CHANGED_MARKER, parts, client.login
                )
                for line in comments.execute_comment_actions(client, pr, actions):
                    out(f"PR #{pr}: {line}")
            issue_body = markdown.truncate_markdown(
                body(), markdown.SAFE_BODY_LIMIT, "_(cut short: see the run log)_"
            )
            issues = client.list_open_issues(reviewed.PLAN_CHANGED_LABEL)
            actions_i = reviewed.decide_plan_changed_issue(issues, issue_body, client.login)
            for line in execute_issue_actions(client, actions_i):
                out(line)


@gh.command("applied")
def applied(
    sha: Annotated[str, typer.Option(help="Commit that was applied (default: GITHUB_SHA).")] = "",
    pr: Annotated[int | None, typer.Option("--pr", help="The merged pull request.")] = None,
    approval: Annotated[str, typer.Option(help="Who approved the plan (gate's output).")] = "",
) -> None:
    """After a successful apply: close open apply-failure and plan-changed issues, and say on
    the merged PR who approved the plan, when someone had to."""
    with reported():
        commit = sha or os.environ.get("GITHUB_SHA", "")
        run_url = markdown.run_url_from_env(os.environ)
        done: list[str] = []
        with GitHubClient.from_env(os.environ) as client:
            resolved = failures.build_failure_resolved_comment(commit, run_url)
            failed = client.list_open_issues(markers.FAILURE_LABEL)
            changed = client.list_open_issues(reviewed.PLAN_CHANGED_LABEL)
            actions = [
                *failures.decide_failure_resolved(failed, resolved, client.login),
                *reviewed.decide_plan_changed_resolved(changed, resolved, client.login),
            ]
            if approval and pr is not None:
                note = reviewed.build_approval_comment(approval, commit, run_url)
                actions.append(CommentOnIssue(pr, note))
            done = execute_issue_actions(client, actions)
        for line in done or ["nothing to close or report"]:
            out(line)
