"""Markdown for GitHub bodies: split within GitHub's limit, cut short, mask, link to the run.

GitHub refuses a comment body over 65,536 characters (Atlantis PR #66; digger#1645). A long
plan is split into numbered parts; a split never leaves a ``<details>`` block or a code fence
open: it is closed at the end of one part and reopened, "(continued)", in the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.gitops.markers import PLAN_MARKER, marker_line
from reconciler.phone import mask_email, mask_mobile

GITHUB_BODY_LIMIT = 65536
"""GitHub's hard cap on a comment or issue body. GitHub counts code points (a body of 65,536
astral emoji, 262,144 UTF-8 bytes, is accepted; one more byte is not), so Python's len()
is the right measure."""

SAFE_BODY_LIMIT = 60000
"""What we aim for: GitHub may normalise line endings to CRLF before counting. The margin
costs nothing."""


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


# --------------------------------------------------------------------------- links to the run


def run_url_from_env(environ: Mapping[str, str]) -> str:
    """The URL of this workflow run, from the variables every Actions runner sets."""
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not repo or not run_id:
        return ""
    return f"{server}/{repo}/actions/runs/{run_id}"


def run_link(run_url: str) -> str:
    return f"[workflow run]({run_url})" if run_url else "the workflow run"


def plan_too_long_note(what: str, run_url: str) -> str:
    """The note that ends a cut plan: ``_The plan is {what}; the full plan is in the …_``."""
    where = f"[workflow run]({run_url})" if run_url else "workflow run"
    return f"_The plan is {what}; the full plan is in the {where}._"
