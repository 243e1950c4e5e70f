"""Who is told what after an apply: work notices (工作通知) to the managers of the people it
changed. Pure: no I/O.

From the steps that *succeeded* (`ApplyReport`) and the directory as it was before the apply
(``live``), each person's change and who hears of it:

* deleted, or replaced (deleted and re-created for a new mobile: DingTalk history is gone):
  the person's manager (``manager_userid``) and the managers of every department they were in;
* moved (departments changed): the managers of the departments they left (as they were) and
  of those they joined (as the YAML sets them, else as they were).

Nobody is told about their own change — a deleted person cannot read it, and a moved manager
knows — and nobody the same apply deleted is told anything. Each recipient gets ONE notice
listing all of their people; recipients whose notices read the same share a call (≤ 100
people a call, DingTalk's limit). The text names people and departments only, never a mobile
or an email, and fits DingTalk's 2,048 bytes (the rest is summarised as "N more").
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.apply.report import ApplyReport
from reconciler.model import ROOT, DeptKey, Org, UserId
from reconciler.plan.document import Plan
from reconciler.plan.steps import CreateUser, DeleteUser, UpdateUser
from reconciler.policy import NoticeLang
from reconciler.textsafe import terminal_safe

MAX_RECIPIENTS = 100
"""People per asyncsend_v2 call (the TOP SDK and the older page; the current one says 5,000)."""
MAX_MSG_BYTES = 2048
"""``msg`` as compact UTF-8 JSON ("消息内容，最长不超过2048个字节")."""


class ChangeKind(enum.StrEnum):
    DELETED = "deleted"
    REPLACED = "replaced"
    MOVED = "moved"
    LEAVING = "leaving"  # advance notice of a leaves_on date


_ORDER = {ChangeKind.LEAVING: 0, ChangeKind.DELETED: 1, ChangeKind.REPLACED: 2, ChangeKind.MOVED: 3}


@dataclass(frozen=True, slots=True)
class PersonChange:
    """What happened to one person, and who hears of it."""

    kind: ChangeKind
    userid: UserId
    name: str
    departments: tuple[str, ...] = ()
    """Name paths they were in (deleted, replaced, leaving) or left (moved)."""
    joined: tuple[str, ...] = ()
    """Name paths they joined (moved)."""
    recipients: frozenset[UserId] = frozenset()
    on: dt.date | None = None
    """The leaving date (LEAVING)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """One asyncsend_v2 call: the same text to at most 100 people."""

    text: str
    recipients: tuple[UserId, ...]

    @property
    def msg(self) -> dict[str, object]:
        return notice_msg(self.text)


def notice_msg(text: str) -> dict[str, object]:
    """The ``msg`` of a text work notice."""
    return {"msgtype": "text", "text": {"content": text}}


def msg_bytes(text: str) -> int:
    """Bytes of the notice's ``msg`` as compact UTF-8 JSON, which DingTalk caps at 2,048."""
    compact = json.dumps(notice_msg(text), ensure_ascii=False, separators=(",", ":"))
    return len(compact.encode("utf-8"))


# -- what the apply did --------------------------------------------------------------------


def people_to_look_up(plan: Plan, live: Org) -> list[UserId]:
    """People the plan deletes (or replaces) whose manager the snapshot did not read: it
    reads ``manager_userid`` only where the YAML manages it. Read them before the apply,
    while they still exist."""
    return sorted(
        {
            step.body.userid
            for step in plan.steps
            if isinstance(step.body, DeleteUser)
            and step.body.userid in live.users
            and live.users[step.body.userid].manager is None
        }
    )


def applied_changes(
    plan: Plan,
    report: ApplyReport,
    live: Org,
    desired: Org,
    managers: Mapping[UserId, UserId | None] | None = None,
) -> list[PersonChange]:
    """The people changes that happened, with their recipients (before exclusions).
    ``managers``: ``manager_userid`` read separately for people `people_to_look_up` named."""
    extra = managers or {}
    done = {r.step_id for r in report.done}
    created = {s.body.userid for s in plan.steps if s.id in done and isinstance(s.body, CreateUser)}
    changes: list[PersonChange] = []
    for step in plan.steps:
        if step.id not in done:
            continue
        body = step.body
        if isinstance(body, DeleteUser):
            before = live.users.get(body.userid)
            if before is None:
                continue
            manager = before.manager or extra.get(body.userid)
            recipients = {manager} if manager else set()
            for key in before.departments:
                recipients.update(_managers_before(key, live, desired))
            changes.append(
                PersonChange(
                    ChangeKind.REPLACED if body.userid in created else ChangeKind.DELETED,
                    body.userid,
                    before.name,
                    departments=_paths(before.departments, live, desired),
                    recipients=frozenset(recipients),
                )
            )
        elif isinstance(body, UpdateUser):
            moved = next((c for c in step.changes if c.name == "departments"), None)
            if moved is None:
                continue
            old = set(_keys(moved.old))
            new = set(_keys(moved.new))
            left, joined = sorted(old - new), sorted(new - old)
            if not left and not joined:
                continue
            recipients = set()
            for key in left:
                recipients.update(_managers_before(key, live, desired))
            for key in joined:
                recipients.update(_managers_after(key, live, desired))
            person = desired.users.get(body.userid) or live.users.get(body.userid)
            changes.append(
                PersonChange(
                    ChangeKind.MOVED,
                    body.userid,
                    person.name if person else step.label or body.userid,
                    departments=_paths(left, live, desired),
                    joined=_paths(joined, live, desired),
                    recipients=frozenset(recipients),
                )
            )
    return changes


def leaving_on_notice_day(
    desired: Org, live: Org, today: dt.date, advance_days: int
) -> list[PersonChange]:
    """People whose ``leaves_on`` is exactly ``advance_days`` after ``today`` (the org's
    day), told to their manager and their departments' managers (the YAML's where it sets
    them, else as they are in DingTalk). Exactly that day, never a window: run daily, each
    leaver is announced once; a re-run the same day sends the same text, which DingTalk
    delivers to a person once a day (143106)."""
    due = today + dt.timedelta(days=advance_days)
    changes = []
    for userid in due_people(desired, today, advance_days):
        want = desired.users[userid]
        have = live.users.get(userid)
        manager = want.manager or (have.manager if have else None)
        recipients = {manager} if manager else set()
        for key in want.departments:
            recipients.update(_managers_after(key, live, desired))
        changes.append(
            PersonChange(
                ChangeKind.LEAVING,
                userid,
                want.name,
                departments=_paths(want.departments, live, desired),
                recipients=frozenset(recipients),
                on=due,
            )
        )
    return changes


def due_people(desired: Org, today: dt.date, advance_days: int) -> list[UserId]:
    """Whose advance notice is due ``today`` (to read their live manager before telling)."""
    due = today + dt.timedelta(days=advance_days)
    return sorted(u for u, want in desired.users.items() if want.leaves_on == due)


def deleted_people(plan: Plan, report: ApplyReport) -> frozenset[UserId]:
    """People the apply deleted and did not re-create: told nothing."""
    done = {r.step_id for r in report.done}
    deleted = {s.body.userid for s in plan.steps if s.id in done and isinstance(s.body, DeleteUser)}
    created = {s.body.userid for s in plan.steps if s.id in done and isinstance(s.body, CreateUser)}
    return frozenset(deleted - created)


def _keys(value: object) -> tuple[DeptKey, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def _managers_before(key: DeptKey, live: Org, desired: Org) -> tuple[UserId, ...]:
    """A department's managers as they were. An adopted department is keyed by its desired
    key in the plan and by ``#<id>`` in live: its managers are then the YAML's."""
    dept = live.departments.get(key) or desired.departments.get(key)
    return dept.managers or () if dept else ()


def _managers_after(key: DeptKey, live: Org, desired: Org) -> tuple[UserId, ...]:
    """A department's managers after the apply: the YAML's where it manages them."""
    want = desired.departments.get(key)
    if want is not None and want.managers is not None:
        return want.managers
    return _managers_before(key, live, desired)


def _paths(keys: Iterable[DeptKey], live: Org, desired: Org) -> tuple[str, ...]:
    paths = []
    for key in keys:
        if key == ROOT:
            paths.append("/")
        elif key in desired.departments:
            paths.append(desired.path(key))
        elif key in live.departments:
            paths.append(live.path(key))
        else:
            paths.append(key)
    return tuple(sorted(paths))


# -- one notice per recipient, batched -------------------------------------------------------


def notices(
    changes: Sequence[PersonChange], *, excluded: Iterable[UserId] = ()
) -> dict[UserId, tuple[PersonChange, ...]]:
    """Recipient → the changes they hear of (sorted). Nobody hears of their own change; the
    ``excluded`` (people the apply deleted) hear nothing."""
    skip = set(excluded)
    heard: dict[UserId, list[PersonChange]] = defaultdict(list)
    for change in changes:
        for recipient in change.recipients:
            if recipient and recipient != change.userid and recipient not in skip:
                heard[recipient].append(change)
    return {
        recipient: tuple(sorted(found, key=lambda c: (_ORDER[c.kind], c.name, c.userid)))
        for recipient, found in sorted(heard.items())
    }


def batches(heard: Mapping[UserId, Sequence[PersonChange]], lang: NoticeLang = "zh") -> list[Batch]:
    """One text per recipient; recipients with the same text share calls of ≤ 100."""
    by_text: dict[str, list[UserId]] = defaultdict(list)
    for recipient, changes in heard.items():
        by_text[render(changes, lang)].append(recipient)
    result: list[Batch] = []
    for text in sorted(by_text):
        people = sorted(by_text[text])
        for start in range(0, len(people), MAX_RECIPIENTS):
            result.append(Batch(text, tuple(people[start : start + MAX_RECIPIENTS])))
    return result


_TEXT = {
    "zh": {
        "title": "【通讯录变更】以下人员的通讯录信息已变更：",
        "title_leaving": "【离职提醒】以下人员即将离职：",
        ChangeKind.DELETED: "{name} 已从通讯录删除（原部门：{departments}）",
        ChangeKind.REPLACED: "{name} 因手机号变更，账号已删除并重新创建，原有钉钉记录不再保留"
        "（部门：{departments}）",
        ChangeKind.LEAVING: "{name} 将于 {on} 离职（部门：{departments}）",
        "left": "调离 {departments}",
        "joined": "调入 {departments}",
        "moved": "{name} {what}",
        "sep": "、",
        "more": "……另有 {n} 项变更，详见 apply 日志",
        "footer": "此通知由 orgctl 自动发送。",
    },
    "en": {
        "title": "[Directory change] These people's directory entries changed:",
        "title_leaving": "[Leaving soon] These people are about to leave:",
        ChangeKind.DELETED: "{name} was removed from the directory (was in {departments})",
        ChangeKind.REPLACED: "{name}'s account was deleted and re-created for a new mobile; "
        "their DingTalk history is gone (in {departments})",
        ChangeKind.LEAVING: "{name} leaves on {on} (in {departments})",
        "left": "left {departments}",
        "joined": "joined {departments}",
        "moved": "{name} {what}",
        "sep": ", ",
        "more": "… and {n} more changes (see the apply journal)",
        "footer": "Sent by orgctl.",
    },
}


def render(changes: Sequence[PersonChange], lang: NoticeLang = "zh") -> str:
    """The notice's text: a title, a line per change, a footer; cut to fit 2,048 bytes."""
    words = _TEXT[lang]
    leaving = all(c.kind is ChangeKind.LEAVING for c in changes)
    head = str(words["title_leaving" if leaving else "title"])
    lines = [f"· {_line(c, lang)}" for c in changes]
    footer = str(words["footer"])
    for shown in range(len(lines), -1, -1):
        body = lines[:shown]
        if shown < len(lines):
            body.append(str(words["more"]).format(n=len(lines) - shown))
        text = "\n".join([head, *body, footer])
        if msg_bytes(text) <= MAX_MSG_BYTES:
            return text
    raise AssertionError("the title and footer alone fit")  # pragma: no cover


def _line(change: PersonChange, lang: NoticeLang) -> str:
    words = _TEXT[lang]
    sep = str(words["sep"])
    name = _safe(change.name)
    departments = sep.join(_safe(p) for p in change.departments) or "-"
    if change.kind is ChangeKind.MOVED:
        parts = []
        if change.departments:
            parts.append(str(words["left"]).format(departments=departments))
        if change.joined:
            joined = sep.join(_safe(p) for p in change.joined)
            parts.append(str(words["joined"]).format(departments=joined))
        what = ("，" if lang == "zh" else "; ").join(parts)
        return str(words["moved"]).format(name=name, what=what)
    on = change.on.isoformat() if change.on else ""
    return str(words[change.kind]).format(name=name, departments=departments, on=on)


def _safe(text: str) -> str:
    """Names come from anyone with console access: no control or bidi characters, one line."""
    return terminal_safe(text).replace("\n", " ").replace("\t", " ")


__all__ = [
    "MAX_MSG_BYTES",
    "MAX_RECIPIENTS",
    "Batch",
    "ChangeKind",
    "PersonChange",
    "applied_changes",
    "batches",
    "deleted_people",
    "due_people",
    "leaving_on_notice_day",
    "msg_bytes",
    "notice_msg",
    "notices",
    "people_to_look_up",
    "render",
]
