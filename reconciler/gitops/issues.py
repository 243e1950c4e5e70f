"""Actions on issues (open, update, comment, close), shared by the drift and failure reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.gitops.client import GitHubClient
from reconciler.gitops.markers import Issue


@dataclass(frozen=True, slots=True)
class CreateIssue:
    title: str
    body: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpdateIssue:
    number: int
    body: str


@dataclass(frozen=True, slots=True)
class CommentOnIssue:
    number: int
    body: str


@dataclass(frozen=True, slots=True)
class CloseIssue:
    number: int
    reason: str = "completed"  # or "not_planned" (duplicates)


IssueAction = CreateIssue | UpdateIssue | CommentOnIssue | CloseIssue


def comment_and_close(
    issues: Sequence[Issue], comment: str, reason: str = "completed"
) -> list[IssueAction]:
    """Say why, then close: each issue gets its comment before it is closed."""
    actions: list[IssueAction] = []
    for issue in issues:
        actions += [CommentOnIssue(issue.number, comment), CloseIssue(issue.number, reason)]
    return actions


def close_duplicates(duplicates: Sequence[Issue], keep: int) -> list[IssueAction]:
    return comment_and_close(duplicates, f"Duplicate of #{keep}.\n", "not_planned")


def execute_issue_actions(client: GitHubClient, actions: Sequence[IssueAction]) -> list[str]:
    done: list[str] = []
    for action in actions:
        if isinstance(action, CreateIssue):
            issue = client.create_issue(action.title, action.body, action.labels)
            done.append(f"opened issue #{issue.number}")
        elif isinstance(action, UpdateIssue):
            client.update_issue(action.number, body=action.body)
            done.append(f"updated issue #{action.number}")
        elif isinstance(action, CommentOnIssue):
            comment = client.create_issue_comment(action.number, action.body)
            done.append(f"commented on #{action.number} (comment {comment.id})")
        else:
            client.update_issue(action.number, state="closed", state_reason=action.reason)
            done.append(f"closed issue #{action.number}")
    return done
