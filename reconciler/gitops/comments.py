"""The sticky plan comment on a pull request: its body, how to bring GitHub in line, doing it.

Later pushes update the parts in place, create missing ones and delete extra ones, so a PR
carries one plan, never a trail of stale ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.gitops.client import GitHubClient
from reconciler.gitops.markdown import mask_pii, run_link
from reconciler.gitops.markers import (
    BOT_LOGIN,
    Comment,
    duplicate_marked_comments,
    find_marked_comments,
)


def build_plan_comment(
    plan_md: str,
    *,
    exit_code: int = 0,
    errors: str = "",
    run_url: str = "",
    sha: str = "",
    record: str = "",
    needs_md: str = "",
) -> str:
    """The PR comment for one `orgctl plan` run (without the marker: splitting adds it).

    exit 0/2: the plan as rendered. exit 3: the plan with a banner that a safety rule
    refused it. exit 1 (invalid YAML, DingTalk unreachable, …): the errors, masked.
    ``record``: the hidden review record (first, so it lands in part 1); ``needs_md``: what
    the plan needs before it is applied on merge.
    """
    lines: list[str] = [record] if record else []
    if exit_code == 3:
        lines += [
            "### ⛔ orgctl plan: refused by a safety rule",
            "",
            "This plan would not be applied as it is. Split the change into smaller "
            "PRs, change the policy in a reviewed PR, or approve it (below).",
            "",
        ]
    elif exit_code not in (0, 2):
        lines += [
            "### ❌ orgctl plan failed",
            "",
            "Nothing can be applied from this commit until this is fixed.",
            "",
        ]
    if errors.strip() and exit_code not in (0, 2):
        text = mask_pii(errors.strip())
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
        lines += [f"{fence}text", text, fence, ""]
    if needs_md.strip():
        lines += [needs_md.rstrip("\n"), ""]
    if plan_md.strip():
        lines += [plan_md.rstrip("\n"), ""]
    elif exit_code in (0, 2):
        lines += ["orgctl plan produced no output.", ""]
    footer = f"Plan for commit `{sha[:12]}`" if sha else "Plan"
    lines += ["---", f"<sub>{footer} · {run_link(run_url)} · updated on every push</sub>"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class CreateComment:
    body: str
    part: int


@dataclass(frozen=True, slots=True)
class UpdateComment:
    comment_id: int
    body: str
    part: int


@dataclass(frozen=True, slots=True)
class KeepComment:
    comment_id: int
    part: int


@dataclass(frozen=True, slots=True)
class DeleteComment:
    comment_id: int


CommentAction = CreateComment | UpdateComment | KeepComment | DeleteComment


def sync_sticky_comment(
    existing: Sequence[Comment], marker: str, parts: Sequence[str], author: str = BOT_LOGIN
) -> list[CommentAction]:
    """Make the PR's marked comments by `author` equal `parts`: update in place, create what
    is missing, delete extra parts (the plan got shorter) and duplicates (two runs raced)."""
    found = find_marked_comments(existing, marker, author)
    actions: list[CommentAction] = []
    for part, body in enumerate(parts, 1):
        comment = found.get(part)
        if comment is None:
            actions.append(CreateComment(body, part))
        elif comment.body == body:
            actions.append(KeepComment(comment.id, part))
        else:
            actions.append(UpdateComment(comment.id, body, part))
    for part in sorted(found):
        if part > len(parts):
            actions.append(DeleteComment(found[part].id))
    duplicates = duplicate_marked_comments(existing, marker, author)
    actions.extend(DeleteComment(c.id) for c in duplicates)
    return actions


def execute_comment_actions(
    client: GitHubClient, number: int, actions: Sequence[CommentAction]
) -> list[str]:
    """Carry out `actions` on issue/PR `number`; return one line per action for the CLI."""
    done: list[str] = []
    for action in actions:
        if isinstance(action, CreateComment):
            created = client.create_issue_comment(number, action.body)
            done.append(f"created comment {created.id} (part {action.part})")
        elif isinstance(action, UpdateComment):
            client.update_issue_comment(action.comment_id, action.body)
            done.append(f"updated comment {action.comment_id} (part {action.part})")
        elif isinstance(action, KeepComment):
            done.append(f"comment {action.comment_id} (part {action.part}) is up to date")
        else:
            client.delete_issue_comment(action.comment_id)
            done.append(f"deleted comment {action.comment_id}")
    return done
