"""Drift: the one open drift issue, and the drift pull request that keeps the console's changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.gitops.client import GitHubClient
from reconciler.gitops.issues import (
    CreateIssue,
    IssueAction,
    UpdateIssue,
    close_duplicates,
    comment_and_close,
)
from reconciler.gitops.markdown import (
    SAFE_BODY_LIMIT,
    mask_pii,
    plan_too_long_note,
    run_link,
    truncate_markdown,
)
from reconciler.gitops.markers import (
    BOT_LOGIN,
    DRIFT_LABEL,
    DRIFT_MARKER,
    Issue,
    find_marked_issues,
    has_marker,
    marker_line,
)

# --------------------------------------------------------------------------- drift issue


DRIFT_TITLE = "DingTalk drift: the directory differs from org/"


def build_drift_issue_body(
    plan_md: str,
    run_url: str,
    *,
    unsafe: bool = False,
    limit: int = SAFE_BODY_LIMIT,
) -> str:
    """The body of the one open drift issue: what drift means, how to fix it, the plan."""
    head = [
        marker_line(DRIFT_MARKER),
        "The nightly `orgctl plan --detailed-exitcode` found changes between `org/` and "
        f"DingTalk ({run_link(run_url)}). Someone probably edited the directory in the "
        "DingTalk console.",
        "",
        "To resolve it, either:",
        "- **keep the console change**: edit `org/` to match it in a PR "
        "(`orgctl dump` shows the live state), or",
        "- **undo it**: run the *apply* workflow (Actions → apply → Run workflow); apply "
        "makes DingTalk match `org/` on `main`.",
        "",
        "This issue is updated every night and closed automatically once there is no drift.",
        "",
    ]
    if unsafe:
        head += [
            "> [!WARNING]",
            "> A safety rule refuses this plan: applying it would remove too much. "
            "Look before you apply.",
            "",
        ]
    head += ["## Plan", ""]
    text = "\n".join(head)
    note = plan_too_long_note("too long for an issue", run_url)
    return text + truncate_markdown(plan_md.rstrip("\n") + "\n", limit - len(text), note)


def build_drift_resolved_comment(run_url: str) -> str:
    return (
        f"No drift any more: the latest `orgctl plan` shows no changes "
        f"({run_link(run_url)}). Closing.\n"
    )


def decide_drift_issue(
    open_issues: Sequence[Issue],
    *,
    drifted: bool,
    body: str,
    resolved_comment: str,
    author: str = BOT_LOGIN,
) -> list[IssueAction]:
    """One open drift issue while there is drift; none once it is gone."""
    ours = find_marked_issues(open_issues, DRIFT_MARKER, author)
    if not drifted:
        return comment_and_close(ours, resolved_comment)
    if not ours:
        return [CreateIssue(DRIFT_TITLE, body, (DRIFT_LABEL,))]
    keep, *duplicates = ours
    update: list[IssueAction] = [] if keep.body == body else [UpdateIssue(keep.number, body)]
    return update + close_duplicates(duplicates, keep.number)


# --------------------------------------------------------------------------- drift pull request
#
# Besides the issue, the nightly drift job keeps one pull request from a fixed branch with
# `orgctl pull` applied: merging it keeps the console's changes in org/; closing it and
# letting apply run re-asserts the YAML. The commit is made through the Git Data API (the job
# needs no git credentials, and GitHub signs the commit), on top of the commit the job read.

DRIFT_BRANCH = "orgctl/drift"
DRIFT_PR_MARKER = "orgctl-drift-pr"
DRIFT_PR_TITLE = "Keep the DingTalk console's changes in org/"


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    body: str
    state: str = "open"
    head: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PullRequest:
        head = data.get("head") or {}
        return cls(
            number=int(data["number"]),
            body=str(data.get("body") or ""),
            state=str(data.get("state") or "open"),
            head=str(head.get("ref", "")) if isinstance(head, Mapping) else "",
        )


def build_drift_pr_body(changes: Sequence[str], notes: Sequence[str], run_url: str) -> str:
    """The drift PR's description: each change in plain words, masked (the lines come from
    `orgctl pull`, which masks them; masked again here, as for any text we did not render)."""
    lines = [
        marker_line(DRIFT_PR_MARKER),
        "### DingTalk was changed in the console",
        "",
        f"The nightly drift check ({run_link(run_url)}) found changes made in DingTalk that "
        "`org/` does not have. This PR writes them into `org/` with `orgctl pull`:",
        "",
        *(f"- kept from the console: {mask_pii(change)}" for change in changes),
        "",
        "**Merge** to keep them (the next plan is empty). **Close** to undo them: the next "
        "`apply` makes DingTalk match `org/` again. This PR is updated every night while the "
        "drift lasts, and closed once it is gone.",
    ]
    if notes:
        lines += ["", *(f"> {mask_pii(note)}" for note in notes)]
    return "\n".join(lines) + "\n"


def build_drift_pr_closed_comment(run_url: str) -> str:
    return f"No drift left to keep: `orgctl pull` changes nothing ({run_link(run_url)}). Closing.\n"


# --------------------------------------------------------------------------- leavers' PR
#
# The nightly job also keeps one pull request from its own branch that removes the entries
# whose leaves_on has come (`orgctl lifecycle due`), kept like the drift PR.

LIFECYCLE_BRANCH = "orgctl/lifecycle"
LIFECYCLE_PR_MARKER = "orgctl-lifecycle-pr"
LIFECYCLE_PR_TITLE = "Remove the people whose leaving date has come from org/"


def build_lifecycle_pr_body(changes: Sequence[str], notes: Sequence[str], run_url: str) -> str:
    """The leavers' PR description: who goes, on which date, from which file (masked, as any
    text we did not render)."""
    lines = [
        marker_line(LIFECYCLE_PR_MARKER),
        "### People whose leaving date has come",
        "",
        f"The nightly job ({run_link(run_url)}) found entries in `org/` whose `leaves_on` is "
        "today or past. This PR removes them (`orgctl lifecycle due`):",
        "",
        *(f"- {mask_pii(change)}" for change in changes),
        "",
        "From their date on, every plan deletes these people in DingTalk, with their entries "
        "in `org/` or, once this PR is merged, without (`orgctl plan --base` tells a dated "
        "removal from an undated one). **Merge** to remove the entries; to keep someone, "
        "change or remove their `leaves_on` on `main` instead. This PR is updated every night "
        "and closed once nobody's date has come.",
    ]
    if notes:
        lines += ["", *(f"> {mask_pii(note)}" for note in notes)]
    return "\n".join(lines) + "\n"


def build_lifecycle_pr_closed_comment(run_url: str) -> str:
    return (
        f"Nobody's leaving date has come any more: `orgctl lifecycle due` changes nothing "
        f"({run_link(run_url)}). Closing.\n"
    )


@dataclass(frozen=True, slots=True)
class CreatePull:
    body: str


@dataclass(frozen=True, slots=True)
class UpdatePull:
    number: int
    body: str


@dataclass(frozen=True, slots=True)
class ClosePull:
    number: int
    comment: str


PullAction = CreatePull | UpdatePull | ClosePull


def decide_drift_pr(
    open_pulls: Sequence[PullRequest],
    *,
    drifted: bool,
    body: str,
    closed_comment: str,
    branch: str = DRIFT_BRANCH,
    marker: str = DRIFT_PR_MARKER,
) -> list[PullAction]:
    """One open drift PR from DRIFT_BRANCH while `pull` changes something; none after. A PR
    counts only if it comes from that branch and its body starts with our marker (a human's
    PR from a branch of the same name is left alone). The leavers' PR is kept the same way,
    from its own ``branch`` with its own ``marker``."""
    ours = sorted(
        (p for p in open_pulls if p.head == branch and has_marker(p.body, marker)),
        key=lambda p: p.number,
    )
    if not drifted:
        return [ClosePull(p.number, closed_comment) for p in ours]
    if not ours:
        return [CreatePull(body)]
    keep, *duplicates = ours
    actions: list[PullAction] = [UpdatePull(keep.number, body)]
    return actions + [ClosePull(p.number, f"Duplicate of #{keep.number}.\n") for p in duplicates]


def list_open_pulls(client: GitHubClient, branch: str) -> list[PullRequest]:
    owner = client.repository.split("/")[0]
    items = client.paginate(
        client.repo_path("/pulls"), {"state": "open", "head": f"{owner}:{branch}"}
    )
    return [PullRequest.from_json(p) for p in items]


def commit_files(
    client: GitHubClient, base_sha: str, files: Mapping[str, str], message: str
) -> str:
    """A commit on top of ``base_sha`` with ``files`` (repository path → text) changed; its
    sha. Through the Git Data API: a tree on the base commit's tree, then the commit."""
    base = client.request("GET", client.repo_path(f"/git/commits/{base_sha}")).json()
    tree = client.request(
        "POST",
        client.repo_path("/git/trees"),
        json={
            "base_tree": base["tree"]["sha"],
            "tree": [
                {"path": path, "mode": "100644", "type": "blob", "content": text}
                for path, text in sorted(files.items())
            ],
        },
    ).json()
    commit = client.request(
        "POST",
        client.repo_path("/git/commits"),
        json={"message": message, "tree": tree["sha"], "parents": [base_sha]},
    ).json()
    return str(commit["sha"])


def set_branch(client: GitHubClient, branch: str, sha: str) -> None:
    """Point ``branch`` at ``sha``, creating it or moving it (force: each night's commit is
    made afresh on the base, not on the last one)."""
    found = client.request("GET", client.repo_path(f"/git/ref/heads/{branch}"), ok_missing=True)
    if found.status_code == 404:
        client.request(
            "POST", client.repo_path("/git/refs"), json={"ref": f"refs/heads/{branch}", "sha": sha}
        )
    else:
        client.request(
            "PATCH", client.repo_path(f"/git/refs/heads/{branch}"), json={"sha": sha, "force": True}
        )


def delete_branch(client: GitHubClient, branch: str) -> None:
    """Delete ``branch`` if it is there (a merge may have deleted it already)."""
    found = client.request("GET", client.repo_path(f"/git/ref/heads/{branch}"), ok_missing=True)
    if found.status_code != 404:
        client.request("DELETE", client.repo_path(f"/git/refs/heads/{branch}"))


def execute_pull_actions(
    client: GitHubClient,
    actions: Sequence[PullAction],
    *,
    base: str,
    branch: str = DRIFT_BRANCH,
    title: str = DRIFT_PR_TITLE,
) -> list[str]:
    done: list[str] = []
    for action in actions:
        if isinstance(action, CreatePull):
            data = client.request(
                "POST",
                client.repo_path("/pulls"),
                json={
                    "title": title,
                    "head": branch,
                    "base": base,
                    "body": action.body,
                },
            ).json()
            done.append(f"opened pull request #{data['number']}")
        elif isinstance(action, UpdatePull):
            client.request(
                "PATCH", client.repo_path(f"/pulls/{action.number}"), json={"body": action.body}
            )
            done.append(f"updated pull request #{action.number}")
        else:
            client.create_issue_comment(action.number, action.comment)
            client.request(
                "PATCH", client.repo_path(f"/pulls/{action.number}"), json={"state": "closed"}
            )
            done.append(f"closed pull request #{action.number}")
    return done
