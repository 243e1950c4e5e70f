"""Which comments and issues are orgctl's: a hidden marker starting the body, and the author.

A comment or issue is *ours* when its body starts with a hidden marker,
``<!-- orgctl-plan part=1/2 -->``, AND it was written by the workflow's own identity
(`BOT_LOGIN`, or ``ORGCTL_GITHUB_LOGIN`` for another token). Starting the body, not merely
appearing in it, so a human who pastes a marker into a reply never gets their comment edited or
deleted; written by us, so nobody can plant a "plan" that the bot then keeps updating under
their name, or have the bot delete its real one as a "duplicate".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PLAN_MARKER = "orgctl-plan"
DRIFT_MARKER = "orgctl-drift"
DRIFT_LABEL = "orgctl-drift"
FAILURE_MARKER = "orgctl-apply-failure"
FAILURE_LABEL = "orgctl-apply-failure"

BOT_LOGIN = "github-actions[bot]"
"""Who writes with the workflows' GITHUB_TOKEN. That token cannot ask GitHub who it is
(GET /user answers 403 for an installation token), so the login is known, not looked up."""
LOGIN_VAR = "ORGCTL_GITHUB_LOGIN"
"""Overrides `BOT_LOGIN` when the workflows post with another token (a GitHub App's
``<app>[bot]``, a machine user)."""

_MARKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


# --------------------------------------------------------------------------- markers


def _check_marker(marker: str) -> str:
    # The marker goes inside an HTML comment: "--" or ">" would end it early and show the rest.
    if not _MARKER_NAME.fullmatch(marker) or "--" in marker:
        raise ValueError(f"marker {marker!r}: use letters, digits, '.', '_' or a single '-'")
    return marker


def marker_line(marker: str, part: int | None = None, total: int | None = None) -> str:
    """The hidden first line that makes a body ours: ``<!-- orgctl-plan part=1/2 -->``."""
    _check_marker(marker)
    if part is None:
        return f"<!-- {marker} -->"
    return f"<!-- {marker} part={part}/{total} -->"


def _marker_pattern(marker: str) -> re.Pattern[str]:
    return re.compile(rf"\A<!-- {re.escape(_check_marker(marker))}(?: part=(\d+)/(\d+))? -->")


def has_marker(body: str | None, marker: str) -> bool:
    return marker_part(body, marker) is not None


def marker_part(body: str | None, marker: str) -> int | None:
    """The part number a marked body carries (1 when it has none), or None if not ours."""
    match = _marker_pattern(marker).match(body or "")
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 1


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    body: str
    author: str = ""
    updated_at: str = ""
    """GitHub's time of the last edit: an approval label counts only after it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comment:
        user = data.get("user") or {}
        login = str(user.get("login", "")) if isinstance(user, Mapping) else ""
        return cls(
            id=int(data["id"]),
            body=str(data.get("body") or ""),
            author=login,
            updated_at=str(data.get("updated_at") or data.get("created_at") or ""),
        )


@dataclass(frozen=True, slots=True)
class Issue:
    number: int
    title: str
    body: str
    state: str = "open"
    labels: tuple[str, ...] = ()
    author: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Issue:
        user = data.get("user") or {}
        labels = tuple(
            str(label["name"]) if isinstance(label, Mapping) else str(label)
            for label in data.get("labels") or ()
        )
        return cls(
            number=int(data["number"]),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            state=str(data.get("state") or "open"),
            labels=labels,
            author=str(user.get("login", "")) if isinstance(user, Mapping) else "",
        )


def written_by(login: str, author: str) -> bool:
    """Is `login` (a comment's or issue's user) `author`? GitHub logins ignore case."""
    return bool(login) and login.casefold() == author.casefold()


def find_marked_comments(
    comments: Sequence[Comment], marker: str, author: str = BOT_LOGIN
) -> dict[int, Comment]:
    """Our comments by part number: marked, and written by `author`. If a race left two
    comments claiming one part, the oldest (lowest id) wins; see `duplicate_marked_comments`
    for the others."""
    found: dict[int, Comment] = {}
    for comment in sorted(comments, key=lambda c: c.id):
        part = marker_part(comment.body, marker)
        if part is not None and part not in found and written_by(comment.author, author):
            found[part] = comment
    return found


def duplicate_marked_comments(
    comments: Sequence[Comment], marker: str, author: str = BOT_LOGIN
) -> list[Comment]:
    keep = {c.id for c in find_marked_comments(comments, marker, author).values()}
    return [
        c
        for c in sorted(comments, key=lambda c: c.id)
        if marker_part(c.body, marker) is not None
        and c.id not in keep
        and written_by(c.author, author)
    ]


def find_marked_issues(
    issues: Sequence[Issue], marker: str, author: str = BOT_LOGIN
) -> list[Issue]:
    """Open issues whose body starts with `marker` and that `author` opened, oldest first."""
    return sorted(
        (
            i
            for i in issues
            if i.state == "open" and has_marker(i.body, marker) and written_by(i.author, author)
        ),
        key=lambda i: i.number,
    )
