"""Apply failures: the report on the merged pull request or a failure issue, and its closing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.gitops.issues import (
    CommentOnIssue,
    CreateIssue,
    IssueAction,
    UpdateIssue,
    close_duplicates,
    comment_and_close,
)
from reconciler.gitops.markdown import run_link
from reconciler.gitops.markers import (
    BOT_LOGIN,
    FAILURE_LABEL,
    FAILURE_MARKER,
    Issue,
    find_marked_issues,
    marker_line,
)


def _commit_ref(sha: str) -> str:
    return f"`{sha[:12]}`" if sha else "the head of `main`"


_APPLY_EXIT_MEANING = {
    1: "Some steps failed (the others were applied and are kept), or DingTalk could not be "
    "read. The run log and the journal artifact name each failed step.",
    3: "A safety rule refused the plan (it deletes or replaces more than the policy allows), "
    "or an approval it needs is missing (see the plan comment and the run log). "
    "Nothing was applied.",
    4: "The saved plan no longer matched DingTalk. Nothing was applied.",
}

FAILURE_TITLE = "orgctl apply failed on main"


def build_failure_report(sha: str, run_url: str, exit_code: int | None = None) -> str:
    """A comment on the merged PR (or the body of the failure issue) after a failed apply."""
    meaning = _APPLY_EXIT_MEANING.get(
        exit_code or 0, "The apply job failed before or while applying; see the run log."
    )
    commit = _commit_ref(sha)
    code = f" (exit {exit_code})" if exit_code is not None else ""
    return "\n".join(
        [
            marker_line(FAILURE_MARKER),
            f"### ❌ orgctl apply failed{code}",
            "",
            f"{commit} is merged, but DingTalk does not fully match `org/` yet.",
            "",
            f"- What happened: {meaning}",
            f"- Details: {run_link(run_url)}; its `orgctl-journal` artifact lists every step.",
            "- What to do: fix the cause (a follow-up PR, or the DingTalk app's permissions or IP "
            "allow-list), then re-run the *apply* workflow. Apply always starts from a fresh read "
            "of DingTalk and the head of `main`, so re-running is safe: done steps are not redone.",
            "",
        ]
    )


def choose_merged_pull(pulls: Sequence[Mapping[str, Any]], sha: str) -> int | None:
    """The PR that merged `sha`: the one whose merge commit it is, else a merged one."""
    merged = [p for p in pulls if p.get("merged_at")]
    for pull in merged:
        if pull.get("merge_commit_sha") == sha:
            return int(pull["number"])
    return int(merged[0]["number"]) if merged else None


def decide_failure_report(
    pull_number: int | None, open_issues: Sequence[Issue], body: str, author: str = BOT_LOGIN
) -> list[IssueAction]:
    """Tell the merged PR (a new comment notifies its author and reviewers); without one
    (a direct push, a manual run), keep one open failure issue and comment on it."""
    if pull_number is not None:
        return [CommentOnIssue(pull_number, body)]
    ours = find_marked_issues(open_issues, FAILURE_MARKER, author)
    if not ours:
        return [CreateIssue(FAILURE_TITLE, body, (FAILURE_LABEL,))]
    keep, *duplicates = ours
    return [
        UpdateIssue(keep.number, body),
        CommentOnIssue(keep.number, body),
        *close_duplicates(duplicates, keep.number),
    ]


def decide_failure_resolved(
    open_issues: Sequence[Issue], comment: str, author: str = BOT_LOGIN
) -> list[IssueAction]:
    """After a green apply, close the open failure issue(s): DingTalk matches main again."""
    return comment_and_close(find_marked_issues(open_issues, FAILURE_MARKER, author), comment)


def build_failure_resolved_comment(sha: str, run_url: str) -> str:
    commit = _commit_ref(sha)
    return (
        f"orgctl apply succeeded for {commit} ({run_link(run_url)}): "
        "DingTalk matches `org/` again. Closing.\n"
    )
