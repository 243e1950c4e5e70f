"""GitHub glue for the GitOps workflows: sticky plan comments, the drift issue, failure reports.

Pure decisions first (what to post, where, split how), then a small httpx client that carries
them out. The workflows stay thin: every rule lives here, under test.

- A comment or issue is *ours* when its body starts with a hidden marker,
  ``<!-- orgctl-plan part=1/2 -->``, AND it was written by the workflow's own identity
  (`BOT_LOGIN`, or ``ORGCTL_GITHUB_LOGIN`` for another token). Starting the body, not merely
  appearing in it, so a human who pastes a marker into a reply never gets their comment
  edited or deleted; written by us, so nobody can plant a "plan" that the bot then keeps
  updating under their name, or have the bot delete its real one as a "duplicate".
- GitHub refuses a comment body over 65,536 characters (Atlantis PR #66; digger#1645). A long
  plan is split into numbered parts; a split never leaves a ``<details>`` block or a code
  fence open: it is closed at the end of one part and reopened, "(continued)", in the next.
- Later pushes update the parts in place, create missing ones and delete extra ones, so a PR
  carries one plan, never a trail of stale ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler.errors import GitHubError, TargetError
from reconciler.phone import mask_email, mask_mobile

GITHUB_BODY_LIMIT = 65536
"""GitHub's hard cap on a comment or issue body. GitHub counts code points (a body of 65,536
astral emoji, 262,144 UTF-8 bytes, is accepted; one more byte is not), so Python's len()
is the right measure."""

SAFE_BODY_LIMIT = 60000
"""What we aim for: GitHub may normalise line endings to CRLF before counting, and the
anchors' default is 60 k. The margin costs nothing."""

DEFAULT_API_URL = "https://api.github.com"

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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comment:
        user = data.get("user") or {}
        login = str(user.get("login", "")) if isinstance(user, Mapping) else ""
        return cls(id=int(data["id"]), body=str(data.get("body") or ""), author=login)


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


# --------------------------------------------------------------------------- splitting

_DETAILS_OPEN = re.compile(r"<details(?:\s[^>]*)?>", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
_SUMMARY = re.compile(r"<summary(?:\s[^>]*)?>(.*?)</summary\s*>", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True, slots=True)
class _Block:
    open_tag: str  # the <details ...> tag as written, so "open" survives a split
    summary: str | None


@dataclass(frozen=True, slots=True)
class _State:
    """What is open at a point in a markdown document: <details> blocks, and a code fence."""

    details: tuple[_Block, ...] = ()
    fence: str | None = None  # the opening fence line, e.g. "```diff"

    def closing(self) -> str:
        text = ""
        if self.fence is not None:
            text += _fence_chars(self.fence) + "\n"
        if self.details:
            text += "\n" + "</details>\n" * len(self.details)
        return text

    def reopening(self) -> str:
        text = ""
        for block in self.details:
            summary = f"{block.summary} (continued)" if block.summary else "(continued)"
            text += f"{block.open_tag}\n<summary>{summary}</summary>\n\n"
        if self.fence is not None:
            text += self.fence + "\n"
        return text


def _fence_chars(fence_line: str) -> str:
    match = _FENCE.match(fence_line)
    return match.group(1) if match else "```"


def _advance(state: _State, line: str) -> _State:
    """The state after `line` (without its newline)."""
    if state.fence is not None:
        match = _FENCE.match(line)
        opener = _fence_chars(state.fence)
        if (
            match
            and match.group(1)[0] == opener[0]
            and len(match.group(1)) >= len(opener)
            and not match.group(2).strip()
        ):
            return _State(state.details, None)
        return state
    match = _FENCE.match(line)
    if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
        return _State(state.details, line.strip())
    details = list(state.details)
    # Walk tags left to right so "<details><summary>x</summary>…</details>" on one line nets out.
    tokens = sorted(
        [(m.start(), "open", m.group(0)) for m in _DETAILS_OPEN.finditer(line)]
        + [(m.start(), "close", m.group(0)) for m in _DETAILS_CLOSE.finditer(line)]
        + [(m.start(), "summary", m.group(1).strip()) for m in _SUMMARY.finditer(line)]
    )
    for _, kind, text in tokens:
        if kind == "open":
            details.append(_Block(text, None))
        elif kind == "close":
            if details:
                details.pop()
        elif details and details[-1].summary is None:
            details[-1] = _Block(details[-1].open_tag, text)
    return _State(tuple(details), None)


def _chunks(body: str, budget: int) -> list[str]:
    """Cut `body` into pieces of at most `budget` characters, each valid on its own:
    whatever <details> or fence is open where a piece ends is closed there and reopened at the
    start of the next. Cuts fall between lines, preferably where nothing is open (so a small
    <details> block is moved whole to the next part rather than cut into two stubs); only a
    line longer than a whole piece is cut inside."""
    lines = body.splitlines(keepends=True)
    pieces: list[str] = []
    state = _State()
    current = ""  # includes the reopening of the state it started in
    has_content = False
    clean_cut: tuple[int, int] | None = None  # (line index, len(current)) where nothing is open

    def fits(text: str, after: _State) -> bool:
        return len(current) + len(text) + len(after.closing()) <= budget

    i = 0
    while i < len(lines):
        line = lines[i]
        after = _advance(state, line.rstrip("\r\n"))
        if fits(line, after):
            current += line
            has_content = True
            state = after
            i += 1
            if state == _State() and line.strip():
                clean_cut = (i, len(current))
            continue
        if has_content:
            if clean_cut is not None and clean_cut[1] >= budget // 2 and clean_cut[0] < i:
                # Cut where nothing is open and go on from there with the lines after it.
                pieces.append(current[: clean_cut[1]])
                i, current, state, has_content = clean_cut[0], "", _State(), False
                clean_cut = None
                continue
            pieces.append(current + state.closing())
            current, has_content, clean_cut = state.reopening(), False, None
            continue
        # A single line longer than a piece: cut it (only pathological lines get here).
        rest = line
        while rest:
            room = budget - len(current) - len(state.closing())
            if room <= 0:
                raise ValueError("markdown nests too deep to split within the limit")
            if len(rest) + len(after.closing()) - len(state.closing()) <= room:
                current += rest
                has_content = True
                state = after
                break
            current += rest[:room]
            rest = rest[room:]
            pieces.append(current + state.closing())
            current, has_content = state.reopening(), False
        i += 1
    if has_content or not pieces:
        pieces.append(current + state.closing())
    return pieces


def _part_header(marker: str, part: int, total: int) -> str:
    header = marker_line(marker, part, total) + "\n"
    if total > 1:
        header += f"_Part {part} of {total}: GitHub limits a comment to 65,536 characters._\n\n"
    return header


def split_comment(
    body: str,
    limit: int = GITHUB_BODY_LIMIT,
    marker: str = PLAN_MARKER,
    *,
    max_parts: int | None = None,
    truncated_note: str = "",
) -> list[str]:
    """Split `body` into comment bodies of at most `limit` characters, each starting with the
    hidden marker and its part number. With `max_parts`, a body that needs more parts is cut
    after that many and ends with `truncated_note`."""
    reserve = len(_part_header(marker, 99999, 99999))
    budget = limit - reserve
    if budget < 200:
        raise ValueError(f"limit {limit} is too small to split a comment into")
    if len(body) + len(_part_header(marker, 1, 1)) <= limit:
        return [_part_header(marker, 1, 1) + body]
    pieces = _chunks(body, budget)
    if max_parts is not None and len(pieces) > max_parts:
        note = "\n\n" + (truncated_note or "_(truncated)_") + "\n"
        pieces = _chunks(body, budget - len(note))[:max_parts]
        pieces[-1] += note
    total = len(pieces)
    return [_part_header(marker, i, total) + piece for i, piece in enumerate(pieces, 1)]


def truncate_markdown(body: str, limit: int, note: str) -> str:
    """`body` if it fits in `limit`, else its first valid piece followed by `note`."""
    if len(body) <= limit:
        return body
    tail = "\n\n" + note + "\n"
    return _chunks(body, limit - len(tail))[0] + tail


# --------------------------------------------------------------------------- masking

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# "+86-15172391968", "+8615172391968", "15172391968", "+1-2025550123": a run of 7-15 digits,
# optionally after a country code. Digits glued to other digits or letters are left alone,
# so department ids and long numeric userids survive.
_PHONE = re.compile(r"(?<![\w+*])(\+\d{1,3}[- ]?)?(\d{7,15})(?![\w*])")


def mask_pii(text: str) -> str:
    """Mask anything that looks like a mobile number or an email in free text (error
    messages that end up in a PR comment). The plan renderer masks its own values; this is
    the belt to its braces for text we did not render."""

    def phone(match: re.Match[str]) -> str:
        prefix, digits = match.group(1) or "", match.group(2)
        if not prefix and not (len(digits) == 11 and digits.startswith("1")):
            return match.group(0)  # not a mainland mobile and no country code: leave it
        if prefix and prefix[-1] in "- ":
            return mask_mobile(f"{prefix[:-1]}-{digits}")
        # "+8615172391968": where the country code ends is ambiguous; hide all but the ends.
        return mask_mobile(prefix + digits)

    return _PHONE.sub(phone, _EMAIL.sub(lambda m: mask_email(m.group(0)), text))


# --------------------------------------------------------------------------- bodies


def run_url_from_env(environ: Mapping[str, str]) -> str:
    """The URL of this workflow run, from the variables every Actions runner sets."""
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not repo or not run_id:
        return ""
    return f"{server}/{repo}/actions/runs/{run_id}"


def _run_link(run_url: str) -> str:
    return f"[workflow run]({run_url})" if run_url else "the workflow run"


def plan_too_long_note(what: str, run_url: str) -> str:
    """The note that ends a cut plan: ``_The plan is {what}; the full plan is in the …_``."""
    where = f"[workflow run]({run_url})" if run_url else "workflow run"
    return f"_The plan is {what}; the full plan is in the {where}._"


def _commit_ref(sha: str) -> str:
    return f"`{sha[:12]}`" if sha else "the head of `main`"


def build_plan_comment(
    plan_md: str,
    *,
    exit_code: int = 0,
    errors: str = "",
    run_url: str = "",
    sha: str = "",
) -> str:
    """The PR comment for one `orgctl plan` run (without the marker: splitting adds it).

    exit 0/2: the plan as rendered. exit 3: the plan with a banner that a safety rule
    refused it. exit 1 (invalid YAML, DingTalk unreachable, …): the errors, masked.
    """
    lines: list[str] = []
    if exit_code == 3:
        lines += [
            "### ⛔ orgctl plan: refused by a safety rule",
            "",
            "This plan would not be applied as it is. Split the change into smaller "
            "PRs, or change the policy in a reviewed PR.",
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
    if plan_md.strip():
        lines += [plan_md.rstrip("\n"), ""]
    elif exit_code in (0, 2):
        lines += ["orgctl plan produced no output.", ""]
    footer = f"Plan for commit `{sha[:12]}`" if sha else "Plan"
    lines += ["---", f"<sub>{footer} · {_run_link(run_url)} · updated on every push</sub>"]
    return "\n".join(lines) + "\n"


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
        f"DingTalk ({_run_link(run_url)}). Someone probably edited the directory in the "
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
        f"({_run_link(run_url)}). Closing.\n"
    )


_APPLY_EXIT_MEANING = {
    1: "Some steps failed (the others were applied and are kept), or DingTalk could not be "
    "read. The run log and the journal artifact name each failed step.",
    3: "A safety rule refused the plan: it deletes or replaces more than the policy allows. "
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
            f"- Details: {_run_link(run_url)}; its `orgctl-journal` artifact lists every step.",
            "- What to do: fix the cause (a follow-up PR, or the DingTalk app's permissions or IP "
            "allow-list), then re-run the *apply* workflow. Apply always starts from a fresh read "
            "of DingTalk and the head of `main`, so re-running is safe: done steps are not redone.",
            "",
        ]
    )


# --------------------------------------------------------------------------- decisions


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


def _comment_and_close(
    issues: Sequence[Issue], comment: str, reason: str = "completed"
) -> list[IssueAction]:
    """Say why, then close: each issue gets its comment before it is closed."""
    actions: list[IssueAction] = []
    for issue in issues:
        actions += [CommentOnIssue(issue.number, comment), CloseIssue(issue.number, reason)]
    return actions


def _close_duplicates(duplicates: Sequence[Issue], keep: int) -> list[IssueAction]:
    return _comment_and_close(duplicates, f"Duplicate of #{keep}.\n", "not_planned")


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
        return _comment_and_close(ours, resolved_comment)
    if not ours:
        return [CreateIssue(DRIFT_TITLE, body, (DRIFT_LABEL,))]
    keep, *duplicates = ours
    update: list[IssueAction] = [] if keep.body == body else [UpdateIssue(keep.number, body)]
    return update + _close_duplicates(duplicates, keep.number)


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
        *_close_duplicates(duplicates, keep.number),
    ]


def decide_failure_resolved(
    open_issues: Sequence[Issue], comment: str, author: str = BOT_LOGIN
) -> list[IssueAction]:
    """After a green apply, close the open failure issue(s): DingTalk matches main again."""
    return _comment_and_close(find_marked_issues(open_issues, FAILURE_MARKER, author), comment)


def build_failure_resolved_comment(sha: str, run_url: str) -> str:
    commit = _commit_ref(sha)
    return (
        f"orgctl apply succeeded for {commit} ({_run_link(run_url)}): "
        "DingTalk matches `org/` again. Closing.\n"
    )


# --------------------------------------------------------------------------- client


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<https://…?page=2>; rel="next", <…>; rel="last"`` → {"next": …, "last": …}."""
    links: dict[str, str] = {}
    for part in (value or "").split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if not match:
            continue
        for rel in re.findall(r'rel="?([^";]+)"?', match.group(2)):
            for name in rel.split():
                links[name] = match.group(1)
    return links


_LABEL_INFO = {
    DRIFT_LABEL: ("d93f0b", "DingTalk differs from org/ (opened by the nightly drift check)"),
    FAILURE_LABEL: ("b60205", "orgctl apply failed on main"),
}


@dataclass
class GitHubClient:
    """The few GitHub REST calls the workflows need. Sync httpx; the token goes only in the
    Authorization header, only to `api_url`'s origin, and never into a repr or an error."""

    token: str = field(repr=False)
    repository: str
    api_url: str = DEFAULT_API_URL
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    timeout: float = 30.0
    per_page: int = 100
    login: str = BOT_LOGIN
    """Who this token writes as: only comments and issues by this login are ours."""
    _http: httpx.Client | None = field(default=None, init=False, repr=False)
    _origin: tuple[str, str] = field(default=("", ""), init=False, repr=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], transport: httpx.BaseTransport | None = None
    ) -> GitHubClient:
        token = environ.get("GITHUB_TOKEN", "")
        repository = environ.get("GITHUB_REPOSITORY", "")
        if not token:
            raise TargetError(
                "GITHUB_TOKEN is not set: give this step `env: GITHUB_TOKEN: ${{ github.token }}`"
            )
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise TargetError("GITHUB_REPOSITORY must be owner/name (Actions sets it)")
        api_url = environ.get("GITHUB_API_URL") or DEFAULT_API_URL
        login = environ.get(LOGIN_VAR, "").strip() or BOT_LOGIN
        return cls(
            token=token, repository=repository, api_url=api_url, transport=transport, login=login
        )

    def __post_init__(self) -> None:
        self.api_url = self.api_url.rstrip("/")
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TargetError(f"GITHUB_API_URL {self.api_url!r} is not an http(s) URL")
        self._origin = (parts.scheme, parts.netloc)

    # -- plumbing

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                transport=self.transport,
                timeout=self.timeout,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                    "User-Agent": "orgctl",
                },
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            parts = urlsplit(path_or_url)
            # A Link header pointing elsewhere must not receive our token.
            if (parts.scheme, parts.netloc) != self._origin:
                raise GitHubError(f"GitHub API returned a link to another host: {parts.netloc}")
            return path_or_url
        return f"{self.api_url}{path_or_url}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        ok_missing: bool = False,
    ) -> httpx.Response:
        url = self._url(path)
        shown = urlsplit(url).path
        try:
            response = self._client().request(method, url, json=json, params=params)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API {method} {shown}: {type(exc).__name__}") from None
        if ok_missing and response.status_code == 404:
            return response
        if response.status_code >= 400:
            raise GitHubError(_describe_failure(method, shown, response))
        return response

    def _paginate(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
    ) -> Iterator[dict[str, Any]]:
        query: dict[str, str | int] | None = {**(params or {}), "per_page": self.per_page}
        url: str | None = path
        while url is not None:
            response = self._request("GET", url, params=query)
            query = None  # a "next" link already carries the query
            items = response.json()
            if not isinstance(items, list):
                raise GitHubError(
                    f"GitHub API GET {urlsplit(self._url(path)).path}: expected a list"
                )
            yield from items
            url = parse_link_header(response.headers.get("link")).get("next")

    def _repo(self, suffix: str) -> str:
        return f"/repos/{self.repository}{suffix}"

    # -- comments

    def list_issue_comments(self, number: int) -> list[Comment]:
        return [
            Comment.from_json(c) for c in self._paginate(self._repo(f"/issues/{number}/comments"))
        ]

    def create_issue_comment(self, number: int, body: str) -> Comment:
        data = self._request(
            "POST", self._repo(f"/issues/{number}/comments"), json={"body": body}
        ).json()
        return Comment.from_json(data)

    def update_issue_comment(self, comment_id: int, body: str) -> Comment:
        data = self._request(
            "PATCH", self._repo(f"/issues/comments/{comment_id}"), json={"body": body}
        ).json()
        return Comment.from_json(data)

    def delete_issue_comment(self, comment_id: int) -> None:
        self._request("DELETE", self._repo(f"/issues/comments/{comment_id}"))

    # -- issues

    def list_open_issues(self, label: str) -> list[Issue]:
        items = self._paginate(self._repo("/issues"), {"state": "open", "labels": label})
        # The issues API lists pull requests too; they carry a "pull_request" key.
        return [Issue.from_json(i) for i in items if "pull_request" not in i]

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        for label in labels:
            self.ensure_label(label)
        data = self._request(
            "POST",
            self._repo("/issues"),
            json={"title": title, "body": body, "labels": list(labels)},
        ).json()
        return Issue.from_json(data)

    def update_issue(self, number: int, **fields: str) -> Issue:
        data = self._request("PATCH", self._repo(f"/issues/{number}"), json=fields).json()
        return Issue.from_json(data)

    def ensure_label(self, name: str) -> None:
        # GitHub would create a missing label on use, grey and unexplained; make it readable.
        if self._request("GET", self._repo(f"/labels/{name}"), ok_missing=True).is_success:
            return
        color, description = _LABEL_INFO.get(name, ("ededed", "managed by orgctl"))
        self._request(
            "POST",
            self._repo("/labels"),
            json={"name": name, "color": color, "description": description},
        )

    # -- commits

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        return list(self._paginate(self._repo(f"/commits/{sha}/pulls")))


def _describe_failure(method: str, path: str, response: httpx.Response) -> str:
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        message = ""
    text = f"GitHub API {method} {path}: HTTP {response.status_code}"
    if message:
        text += f" {message}"
    if response.status_code in (401, 403, 404):
        text += (
            " (check the job's `permissions:` (pull-requests: write for PR comments, "
            "issues: write for issues) and that GITHUB_TOKEN is passed to this step)"
        )
    return text


# --------------------------------------------------------------------------- execution


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
        f"The nightly drift check ({_run_link(run_url)}) found changes made in DingTalk that "
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
    return (
        f"No drift left to keep: `orgctl pull` changes nothing ({_run_link(run_url)}). Closing.\n"
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
    open_pulls: Sequence[PullRequest], *, drifted: bool, body: str, closed_comment: str
) -> list[PullAction]:
    """One open drift PR from DRIFT_BRANCH while `pull` changes something; none after. A PR
    counts only if it comes from that branch and its body starts with our marker (a human's
    PR from a branch of the same name is left alone)."""
    ours = sorted(
        (p for p in open_pulls if p.head == DRIFT_BRANCH and has_marker(p.body, DRIFT_PR_MARKER)),
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
    items = client._paginate(client._repo("/pulls"), {"state": "open", "head": f"{owner}:{branch}"})
    return [PullRequest.from_json(p) for p in items]


def commit_files(
    client: GitHubClient, base_sha: str, files: Mapping[str, str], message: str
) -> str:
    """A commit on top of ``base_sha`` with ``files`` (repository path → text) changed; its
    sha. Through the Git Data API: a tree on the base commit's tree, then the commit."""
    base = client._request("GET", client._repo(f"/git/commits/{base_sha}")).json()
    tree = client._request(
        "POST",
        client._repo("/git/trees"),
        json={
            "base_tree": base["tree"]["sha"],
            "tree": [
                {"path": path, "mode": "100644", "type": "blob", "content": text}
                for path, text in sorted(files.items())
            ],
        },
    ).json()
    commit = client._request(
        "POST",
        client._repo("/git/commits"),
        json={"message": message, "tree": tree["sha"], "parents": [base_sha]},
    ).json()
    return str(commit["sha"])


def set_branch(client: GitHubClient, branch: str, sha: str) -> None:
    """Point ``branch`` at ``sha``, creating it or moving it (force: each night's commit is
    made afresh on the base, not on the last one)."""
    found = client._request("GET", client._repo(f"/git/ref/heads/{branch}"), ok_missing=True)
    if found.status_code == 404:
        client._request(
            "POST", client._repo("/git/refs"), json={"ref": f"refs/heads/{branch}", "sha": sha}
        )
    else:
        client._request(
            "PATCH", client._repo(f"/git/refs/heads/{branch}"), json={"sha": sha, "force": True}
        )


def delete_branch(client: GitHubClient, branch: str) -> None:
    """Delete ``branch`` if it is there (a merge may have deleted it already)."""
    found = client._request("GET", client._repo(f"/git/ref/heads/{branch}"), ok_missing=True)
    if found.status_code != 404:
        client._request("DELETE", client._repo(f"/git/refs/heads/{branch}"))


def execute_pull_actions(
    client: GitHubClient, actions: Sequence[PullAction], *, base: str
) -> list[str]:
    done: list[str] = []
    for action in actions:
        if isinstance(action, CreatePull):
            data = client._request(
                "POST",
                client._repo("/pulls"),
                json={
                    "title": DRIFT_PR_TITLE,
                    "head": DRIFT_BRANCH,
                    "base": base,
                    "body": action.body,
                },
            ).json()
            done.append(f"opened pull request #{data['number']}")
        elif isinstance(action, UpdatePull):
            client._request(
                "PATCH", client._repo(f"/pulls/{action.number}"), json={"body": action.body}
            )
            done.append(f"updated pull request #{action.number}")
        else:
            client.create_issue_comment(action.number, action.comment)
            client._request(
                "PATCH", client._repo(f"/pulls/{action.number}"), json={"state": "closed"}
            )
            done.append(f"closed pull request #{action.number}")
    return done
