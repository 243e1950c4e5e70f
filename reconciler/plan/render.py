"""Plan → text for a terminal, Markdown for a PR comment, JSON for `apply --plan`. Pure.

No file handles, no clock: the same plan renders to the same string, which is what the golden
files under tests/plan/golden/ pin down.

Personal data: `masked=True` masks mobiles, emails and telephones everywhere (field changes
and payloads). Markdown is masked by default (PR comments are read by many). The CLI masks
every format, since terminal output of CI jobs ends up in logs and the JSON plan file in an
artifact; a masked JSON plan keeps the digests of the real steps, which is all `apply --plan`
needs from it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from enum import StrEnum

from reconciler.plan.diff import FieldChange
from reconciler.plan.document import SCHEMA_VERSION, Plan
from reconciler.plan.safety import Violation
from reconciler.plan.steps import Action, Phase, Step
from reconciler.textsafe import markdown_inert, terminal_safe


class Format(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


MARKDOWN_BUDGET = 59_000
"""GitHub refuses comment bodies over 65,536 characters. The Markdown stays under this budget
(the `orgctl gh` marker line and GitHub's CRLF normalisation fit in the margin); beyond it the
per-phase details are cut, never the totals."""

MARKDOWN_VALUE_CHARS = 200
"""A longer value (a remark can be 2,000 characters) is cut in the Markdown."""

MARKDOWN_DESTRUCTIVE_LINES = 50


def render(
    plan: Plan,
    fmt: Format | str,
    *,
    violations: Sequence[Violation] = (),
    color: bool = False,
    masked: bool | None = None,
) -> str:
    """Dispatch on format. ``masked`` None means the format's default (see module doc)."""
    fmt = Format(fmt)
    if fmt is Format.TEXT:
        return render_text(plan, violations=violations, color=color, masked=bool(masked))
    if fmt is Format.MARKDOWN:
        return render_markdown(
            plan, violations=violations, masked=True if masked is None else masked
        )
    return render_json(plan, masked=bool(masked))


def render_json(plan: Plan, *, masked: bool = False) -> str:
    return (plan.masked() if masked else plan).to_json()


# -- text ---------------------------------------------------------------------------------

_ANSI = {
    "+": "32",
    "-": "31",
    "~": "33",
    "±": "35",
    "!": "33",
    "✗": "1;31",
    "#": "2",
    "h": "1",
    "@": "36",
}


def _paint(text: str, code: str, color: bool) -> str:
    text = terminal_safe(text)  # names typed in the console: no control codes reach a terminal
    return f"\x1b[{_ANSI[code]}m{text}\x1b[0m" if color else text


def render_text(
    plan: Plan,
    *,
    violations: Sequence[Violation] = (),
    color: bool = False,
    masked: bool = False,
) -> str:
    if masked and not plan.pii_masked:
        plan = plan.masked()
    lines: list[str] = []
    if plan.empty:
        lines.append("No changes: DingTalk matches the desired state.")
    replaced = plan.replaced_users()
    for phase, steps in _by_phase(plan.steps):
        lines.append(_paint(f"{int(phase)}. {phase.title}", "h", color))
        for step in steps:
            mark = _marker(step, replaced)
            head = f"  {mark} {_verb(step)} {step.key}"
            if step.label:
                head += f"  {step.label}"
            lines.append(_paint(head, mark, color))
            changes = _change_lines(step, limit=None)
            lines.extend(terminal_safe(f"      {line}") for line in changes)
            if step.note:
                lines.append(_paint(f"      # {step.note}", "#", color))
    if plan.scheduled:
        lines.append(_paint("Scheduled to leave (no step until the date):", "h", color))
        lines.extend(_paint(f"  @ {line}", "@", color) for line in _scheduled_lines(plan))
    if plan.pending:
        lines.append(_paint("Pending invitations (not accepted yet, DingTalk 40103):", "h", color))
        lines.extend(_paint(f"  @ {p.describe()}", "@", color) for p in plan.pending)
    if plan.warnings:
        lines.append(_paint("Warnings:", "!", color))
        lines.extend(_paint(f"  ! {w}", "!", color) for w in plan.warnings)
    lines.append(plan.summary.line())
    if violations:
        lines.append(_paint("Refused by safety checks: apply will not run this plan.", "✗", color))
        lines.extend(_paint(f"  ✗ {v.message}", "✗", color) for v in violations)
    return "\n".join(lines) + "\n"


# -- markdown -----------------------------------------------------------------------------


def render_markdown(
    plan: Plan,
    *,
    violations: Sequence[Violation] = (),
    masked: bool = True,
    budget: int = MARKDOWN_BUDGET,
) -> str:
    if masked and not plan.pii_masked:
        plan = plan.masked()
    summary = plan.summary
    head: list[str] = ["### orgctl plan", "", f"**{summary.line()}**", ""]
    if violations:
        head += [
            "> [!CAUTION]",
            "> **Refused by safety checks:** `orgctl apply` will not run this plan.",
        ]
        head += [f"> - {_md_text(v.message)}" for v in violations]
        head.append("")
    replaced = plan.replaced_users()
    destructive = _destructive_lines(plan, replaced)
    if destructive:
        noun = "change" if len(destructive) == 1 else "changes"
        head += ["> [!WARNING]", f"> **{len(destructive)} destructive {noun}**"]
        shown = destructive[:MARKDOWN_DESTRUCTIVE_LINES]
        head += [f"> - {line}" for line in shown]
        if len(destructive) > len(shown):
            head.append(f"> - … and {len(destructive) - len(shown)} more (see the details)")
        head.append("")
    if plan.empty:
        head += ["No changes: DingTalk matches the desired state.", ""]
    else:
        u, d = summary.users, summary.departments
        head += [
            "| | create | update | replace | delete |",
            "|:--|--:|--:|--:|--:|",
            f"| departments | {d.create} | {d.update} | – | {d.delete} |",
            f"| users | {u.create} | {u.update} | {u.replace} | {u.delete} |",
            "",
        ]
    tail: list[str] = []
    if plan.scheduled:
        tail += ["**Scheduled to leave** (no step until the date)", ""]
        shown = _scheduled_lines(plan)[:MARKDOWN_DESTRUCTIVE_LINES]
        tail += [f"- {_md_text(line)}" for line in shown]
        if len(plan.scheduled) > len(shown):
            tail.append(f"- … and {len(plan.scheduled) - len(shown)} more")
        tail.append("")
    if plan.pending:
        tail += ["**Pending invitations** (not accepted yet, DingTalk 40103)", ""]
        shown_pending = plan.pending[:MARKDOWN_DESTRUCTIVE_LINES]
        tail += [f"- {_md_text(p.describe())}" for p in shown_pending]
        if len(plan.pending) > len(shown_pending):
            tail.append(f"- … and {len(plan.pending) - len(shown_pending)} more")
        tail.append("")
    if plan.warnings:
        tail += ["**Warnings**", ""]
        tail += [f"- {_md_text(w)}" for w in plan.warnings[:MARKDOWN_DESTRUCTIVE_LINES]]
        if len(plan.warnings) > MARKDOWN_DESTRUCTIVE_LINES:
            tail.append(f"- … and {len(plan.warnings) - MARKDOWN_DESTRUCTIVE_LINES} more")
        tail.append("")
    tail.append(
        f"<sub>{len(plan.steps)} steps · live {plan.live_fingerprint[:19]} · desired "
        f"{plan.desired_fingerprint[:19]} · plan schema {SCHEMA_VERSION}"
        + (" · mobiles, emails and telephones masked" if plan.pii_masked else "")
        + "</sub>"
    )

    text_head = "\n".join(head) + "\n"
    text_tail = "\n".join(tail) + "\n"
    phases = _by_phase(plan.steps)
    # Every phase keeps at least its folded heading and a "… n more" line: reserve those
    # first, then the steps share what is left, in plan order.
    room = (
        budget
        - len(text_head)
        - len(text_tail)
        - sum(len(_opening(phase, steps)) + _SECTION_OVERHEAD for phase, steps in phases)
    )
    sections: list[str] = []
    for phase, steps in phases:
        section, room = _phase_section(phase, steps, replaced, room)
        sections.append(section)
    return text_head + "".join(sections) + text_tail


_CLOSING = "</details>\n\n"
_CUT_LINE = "… {n} more steps not shown (comment size limit); the JSON plan has them all\n"
_SECTION_OVERHEAD = len(_CLOSING) + len("```diff\n```\n\n") + len(_CUT_LINE) + 10


def _opening(phase: Phase, steps: Sequence[Step]) -> str:
    noun = "step" if len(steps) == 1 else "steps"
    return f"<details><summary>{int(phase)}. {phase.title} ({len(steps)} {noun})</summary>\n\n"


def _phase_section(
    phase: Phase, steps: Sequence[Step], replaced: frozenset[str], room: int
) -> tuple[str, int]:
    """One folded phase; steps are cut once the room is spent, saying how many."""
    opening = _opening(phase, steps)
    blocks: list[str] = []
    for n, step in enumerate(steps):
        block = "\n".join(_step_lines(step, replaced)) + "\n"
        if len(block) > room:
            shown = "```diff\n" + "".join(blocks) + "```\n\n" if blocks else ""
            cut = _CUT_LINE.format(n=len(steps) - n)
            return opening + shown + cut + _CLOSING, max(room, 0)
        blocks.append(block)
        room -= len(block)
    return opening + "```diff\n" + "".join(blocks) + "```\n\n" + _CLOSING, room


def _step_lines(step: Step, replaced: frozenset[str]) -> list[str]:
    mark = _marker(step, replaced)
    head = f"{mark} {_verb(step)} {step.key}" + (f"  {step.label}" if step.label else "")
    lines = [_fence_safe(head)]
    lines += [
        _fence_safe("    " + line) for line in _change_lines(step, limit=MARKDOWN_VALUE_CHARS)
    ]
    if step.note:
        lines.append(_fence_safe(f"    # {step.note}"))
    return lines


def _destructive_lines(plan: Plan, replaced: frozenset[str]) -> list[str]:
    lines: list[str] = []
    for step in plan.steps:
        if not step.destructive:
            continue
        if step.action is Action.CREATE_USER and step.key in replaced:
            continue  # one line per replace: its delete half says it
        what = "replace user" if step.key in replaced and step.kind == "user" else _verb(step)
        label = f" ({_md_text(step.label)})" if step.label else ""
        note = f": {_md_text(step.note)}" if step.note else ""
        # Words, not the +/- markers: "- - delete" would render as a nested list.
        lines.append(f"**{what}** `{_code_text(step.key)}`{label}{note}")
    return lines


# -- shared -------------------------------------------------------------------------------


def _scheduled_lines(plan: Plan) -> list[str]:
    """Soonest first: ``2026-12-01  lisi  李四 (in the holding department)``."""
    return [
        f"{s.leaves_on.isoformat()}  {s.userid}  {s.name}"
        + (" (in the holding department)" if s.held else "")
        for s in sorted(plan.scheduled, key=lambda s: (s.leaves_on, s.userid))
    ]


_VERBS = {
    Action.CREATE_DEPARTMENT: "create department",
    Action.UPDATE_DEPARTMENT: "update department",
    Action.ADOPT_DEPARTMENT: "adopt department",
    Action.SET_MANAGERS: "set managers of",
    Action.DELETE_DEPARTMENT: "delete department",
    Action.DELETE_USER: "delete user",
    Action.CREATE_USER: "create user",
    Action.UPDATE_USER: "update user",
}


def _verb(step: Step) -> str:
    return _VERBS[step.action]


def _marker(step: Step, replaced: frozenset[str]) -> str:
    if (
        step.kind == "user"
        and step.key in replaced
        and step.action in (Action.CREATE_USER, Action.DELETE_USER)
    ):
        return "±"
    if step.action in (Action.CREATE_DEPARTMENT, Action.CREATE_USER):
        return "+"
    if step.action in (Action.DELETE_DEPARTMENT, Action.DELETE_USER):
        return "-"
    return "~"


def _by_phase(steps: Iterable[Step]) -> list[tuple[Phase, list[Step]]]:
    groups: list[tuple[Phase, list[Step]]] = []
    for step in steps:
        if not groups or groups[-1][0] != step.phase:
            groups.append((step.phase, []))
        groups[-1][1].append(step)
    return groups


def _change_lines(step: Step, *, limit: int | None) -> list[str]:
    creating = step.action in (Action.CREATE_DEPARTMENT, Action.CREATE_USER)
    return [_change_line(change, creating, limit) for change in step.changes]


def _change_line(change: FieldChange, creating: bool, limit: int | None) -> str:
    new = _value(change.new, limit)
    if change.old is None and (creating or change.name == "managers"):
        return f"{change.name}: {new}"
    return f"{change.name}: {_value(change.old, limit)} → {new}"


def _value(value: object, limit: int | None) -> str:
    if value is None:
        text = "(none)"
    elif value == "":
        text = '""'
    elif isinstance(value, tuple | list):
        text = "[" + ", ".join(str(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    text = " ".join(text.splitlines()) if "\n" in text else text
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _md_text(text: str) -> str:
    """Plain text inside Markdown: no HTML, no accidental emphasis, links or tables."""
    escaped = html.escape(text, quote=False)
    for char in "\\`*_[]|#":
        escaped = escaped.replace(char, "\\" + char)
    return markdown_inert(" ".join(escaped.splitlines()))


def _code_text(text: str) -> str:
    return text.replace("`", "ˋ")


def _fence_safe(line: str) -> str:
    """A line inside a ``` fence: a run of backticks must not close it early."""
    return line.replace("```", "ˋˋˋ")


__all__ = [
    "MARKDOWN_BUDGET",
    "Format",
    "render",
    "render_json",
    "render_markdown",
    "render_text",
]
