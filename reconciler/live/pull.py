"""What `orgctl pull` changes in the YAML so that it describes the live directory. Pure: the
org files come in already read (`OrgFiles`), the result is a list of `edit` operations.

The diff decides what differs (so right after pull, plan finds nothing to do); this module
turns each difference into the smallest edit of the file that holds it:

- a field that differs gets the live value, only for fields the YAML manages (a field the
  YAML leaves out stays out); a value DingTalk cleared becomes ``""`` (``[]``/``{}`` for a
  list or mapping), which the diff reads as "empty" and keeps managing; a cleared
  ``manager`` or ``order`` is removed, as no empty value of theirs is valid;
- a person or department the YAML has and DingTalk no longer has is removed from its file;
- a person the YAML lacks goes into the file where the people of their first department's
  top-level department are (the file `orgctl dump` would put them in, found among the
  existing files by who is in them), after the last person there from the same department;
- a department the YAML lacks goes into the file of its parent, after its preceding
  sibling's subtree, with the key `orgctl dump` would give it (a console-made department
  has none yet; the next apply writes it into DingTalk, an *adopt* step).

A mobile keeps its spelling: a number written without ``+86-`` is written back without it.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.desired.edit import AddEntry, Edit, Kind, OrgFiles, RemoveEntry, SetField
from reconciler.live.dump import USER_FIELD_ORDER, generated_keys
from reconciler.model import ROOT, SENSITIVE_FIELDS, Department, DeptKey, Org, User
from reconciler.phone import mask_email, mask_mobile
from reconciler.plan.diff import Diff, diff
from reconciler.plan.lifecycle import held_view
from reconciler.policy import Policy

Only = Literal["users", "departments"]
PEOPLE_DIR = "people"
DEPARTMENTS_FILE = "departments.yaml"


@dataclass(frozen=True, slots=True)
class Scope:
    """What pull may change: both kinds by default; ``only`` one; ``subtree``: only that
    department, the departments below it and the people in them."""

    only: Only | None = None
    subtree: DeptKey | None = None

    def kinds(self) -> tuple[Kind, ...]:
        if self.only is None:
            return ("departments", "users")
        return (self.only,)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry pull changes, for people: what the YAML said and what it says now."""

    kind: Kind
    ident: str
    action: Literal["update", "add", "remove"]
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (field, YAML value, live value)
    file: str = ""

    def describe(self) -> str:
        """One line, personal data masked: fit for a pull request."""
        noun = "person" if self.kind == "users" else "department"
        if self.action == "add":
            return f"new {noun} {self.ident} ({self.file})"
        if self.action == "remove":
            return f"{noun} {self.ident} removed ({self.file})"
        parts = [
            f"{name} {_show(name, old)} → {_show(name, new)}" for name, old, new in self.fields
        ]
        return f"{noun} {self.ident}: " + "; ".join(parts)


@dataclass(frozen=True, slots=True)
class PullResult:
    edits: tuple[Edit, ...]
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = field(default=())
    """What pull saw but left alone, and why."""


def _show(name: str, value: Any) -> str:
    if value is None or value == "" or value == () or value == {}:
        return "(empty)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    text = str(value)
    if name in SENSITIVE_FIELDS:
        if name == "mobile":
            return mask_mobile(text)
        if name == "email":
            return mask_email(text)
        return "*" * max(len(text) - 2, 1) + text[-2:]
    return text


def pull(
    desired: Org,
    live: Org,
    policy: Policy,
    files: OrgFiles,
    scope: Scope | None = None,
    *,
    today: datetime.date | None = None,
) -> PullResult:
    """The edits that make the YAML describe ``live`` within ``scope``, applied to ``files``
    (in memory: `OrgFiles.write` writes them) and returned. ``today``: a leaver moved into the
    holding department (``lifecycle``) is where the YAML wants them, not drift."""
    return _Puller(held_view(desired, policy, today), live, policy, files, scope or Scope()).run()


class _Puller:
    def __init__(
        self, desired: Org, live: Org, policy: Policy, files: OrgFiles, scope: Scope
    ) -> None:
        self.desired = desired
        self.live = live
        self.files = files
        self.scope = scope
        self.diff: Diff = diff(desired, live, policy)
        self.edits: list[Edit] = []
        self.changes: list[Change] = []
        self.notes: list[str] = []
        generated = generated_keys(live)
        # Live departments the YAML lacks (outside unmanaged subtrees): they get dump's key.
        self.missing = [
            key
            for key in _depth_first(live)
            if self.diff.ident.get(key) == key
            and key not in desired.departments
            and key not in self.diff.unmanaged
        ]
        self.new_key = {key: generated[key] for key in self.missing}
        self.in_scope = self._subtree()
        self.added_home: dict[str, DeptKey] = {}  # userid → home department key, added
        self.pending: list[SetField] = []
        self.tops: dict[DeptKey, DeptKey] = {}
        self.file_tops: dict[str, Counter[DeptKey]] = {}

    # -- keys and scope

    def key(self, ident: DeptKey) -> DeptKey:
        """The YAML key of a department ident (a console-made department: its new key)."""
        return self.new_key.get(ident, ident)

    def _subtree(self) -> set[DeptKey] | None:
        """Idents (and new keys) inside the selected subtree; None: everything."""
        top = self.scope.subtree
        if top is None:
            return None
        ident_of = {self.key(i): i for i in self.diff.ident.values()}
        top_ident = ident_of.get(top, top)
        found = {top_ident}
        for key in self.live.departments:
            ident = self.diff.ident.get(key, key)
            chain = [self.diff.ident.get(a, a) for a in self.live.ancestors(key)]
            if top_ident in chain:
                found.add(ident)
        for key in self.desired.departments:
            if top_ident in self.desired.ancestors(key):
                found.add(key)
        return found

    def dept_in_scope(self, ident: DeptKey) -> bool:
        return self.in_scope is None or ident in self.in_scope

    def user_in_scope(self, *departments: tuple[DeptKey, ...]) -> bool:
        if self.in_scope is None:
            return True
        return any(d in self.in_scope for group in departments for d in group)

    # -- the run

    def run(self) -> PullResult:
        kinds = self.scope.kinds()
        if "departments" in kinds:
            self.departments()
        if "users" in kinds:
            self.users()
        self.flush()
        return PullResult(tuple(self.edits), tuple(self.changes), tuple(self.notes))

    def emit(self, edit: Edit) -> None:
        # Applied as they come: where an addition goes depends on the edits before it. Set
        # fields wait, so each file is parsed and written once for all of them.
        self.edits.append(edit)
        if isinstance(edit, SetField):
            self.pending.append(edit)
            return
        self.flush()
        self.files.apply([edit])

    def flush(self) -> None:
        self.files.apply(self.pending)
        self.pending = []

    def set(self, kind: Kind, ident: str, fields: list[tuple[str, Any, Any]]) -> None:
        """Record SetField edits: (field, YAML value, value to write)."""
        if not fields:
            return
        where = self.files.file_of(kind, ident) or ""
        for name, _, value in fields:
            self.emit(SetField(kind, ident, name, value))
        self.changes.append(Change(kind, ident, "update", tuple(fields), where))

    def remove(self, kind: Kind, ident: str) -> None:
        where = self.files.file_of(kind, ident) or ""
        self.emit(RemoveEntry(kind, ident))
        self.changes.append(Change(kind, ident, "remove", (), where))

    # -- departments

    def departments(self) -> None:
        for ident, change in sorted(self.diff.departments.items()):
            if not self.dept_in_scope(ident):
                continue
            if change.kind == "create":
                self.remove("departments", ident)
                continue
            if change.kind == "delete":
                continue  # a department the YAML lacks: added below
            have = change.live
            assert have is not None
            fields: list[tuple[str, Any, Any]] = []
            for item in change.changes:
                if item.name == "name":
                    fields.append(("name", item.new, have.name))
                elif item.name == "parent":
                    fields.append(("parent", item.new, self.key(str(item.old))))
                elif item.name == "order":
                    fields.append(("order", item.new, have.order))
            if change.managers is not None:
                old = change.managers.old
                managers = sorted(str(u) for u in old) if isinstance(old, tuple) else []
                fields.append(("managers", change.managers.new, managers))
            if change.kind == "adopt":
                self.notes.append(
                    f"department {ident} has no key in DingTalk yet: the next apply writes it"
                )
            self.set("departments", ident, fields)
        for key in self.missing:
            if self.dept_in_scope(key):
                self.add_department(self.live.departments[key])

    def add_department(self, dept: Department) -> None:
        key = self.key(dept.key)
        parent = ROOT if dept.parent == ROOT else self.key(self.diff.ident[dept.parent])
        entry: dict[str, Any] = {"key": key, "name": dept.name, "parent": parent}
        if dept.order is not None:
            entry["order"] = dept.order
        if dept.managers:
            entry["managers"] = sorted(dept.managers)
        file = self.files.file_of("departments", parent) if parent != ROOT else None
        if file is None:
            file = self._top_departments_file()
        after = self._after_sibling(dept, file)
        if after is None and parent != ROOT and self.files.file_of("departments", parent) == file:
            after = parent
        self.emit(AddEntry("departments", entry, file, after))
        if key != dept.key:
            self.notes.append(
                f"department {key} ({self.live.path(dept.key)}) has no usable key in DingTalk: "
                "the next apply writes this one (an adopt step)"
            )
        self.changes.append(Change("departments", key, "add", (), file))

    def _top_departments_file(self) -> str:
        counts: dict[str, int] = {}
        for name in self.files.names():
            for ident in self.files.idents("departments", name):
                dept = self.desired.departments.get(ident)
                counts[name] = counts.get(name, 0) + (2 if dept and dept.parent == ROOT else 1)
        if not counts:
            return DEPARTMENTS_FILE
        return max(sorted(counts), key=lambda n: counts[n])

    def _after_sibling(self, dept: Department, file: str) -> str | None:
        """The entry the new department follows: the end of its preceding sibling's
        subtree (siblings in DingTalk's order, as dump writes them), as far as that is in
        ``file``."""
        in_file = self.files.idents("departments", file)
        siblings = sorted(
            (d for d in self.live.departments.values() if d.parent == dept.parent),
            key=lambda d: (d.order is None, d.order or 0, d.name, d.key),
        )
        before = siblings[: siblings.index(dept)]
        for sibling in reversed(before):
            keys = {self.key(self.diff.ident.get(sibling.key, sibling.key))}
            for other in self.live.departments.values():
                if sibling.key in self.live.ancestors(other.key):
                    keys.add(self.key(self.diff.ident.get(other.key, other.key)))
            last = [k for k in in_file if k in keys]
            if last:
                return last[-1]
        return None

    # -- users

    def users(self) -> None:
        for userid, change in sorted(self.diff.users.items()):
            want, have = change.desired, change.live
            if change.kind == "create":
                assert want is not None
                if self.user_in_scope(want.departments):
                    self.remove("users", userid)
                continue
            if change.kind in ("delete", "prune"):
                continue  # a person the YAML lacks: added below
            assert want is not None
            assert have is not None
            managed = self._managed(have)
            if not self.user_in_scope(want.departments, managed):
                continue
            fields: list[tuple[str, Any, Any]] = []
            for item in change.changes:
                fields.append(
                    (item.name, _yaml_value(want, item.name), self.user_value(item, want))
                )
            self.set("users", userid, fields)
        for userid in sorted(self.live.users):
            if userid in self.desired.users or userid in self.diff.ignored_users:
                continue
            have = self.live.users[userid]
            managed = self._managed(have)
            if managed and self.user_in_scope(managed):
                self.add_user(have, managed)

    def _managed(self, user: User) -> tuple[DeptKey, ...]:
        """A live user's departments as YAML keys, without those in unmanaged subtrees."""
        return tuple(
            sorted(
                {
                    self.key(self.diff.ident.get(k, k))
                    for k in user.departments
                    if k not in self.diff.unmanaged
                }
            )
        )

    def user_value(self, item: Any, want: User) -> Any:
        """The value to write for one changed field (item: a FieldChange, old = live)."""
        name, value = item.name, item.old
        if name == "departments":
            return [self.key(str(k)) for k in value or ()]
        if name == "mobile":
            raw = self.files.value("users", want.userid, "mobile")
            return _spelled(str(value), raw)
        if name == "extension":
            return dict(value or {})
        if value is None:
            return None if name == "manager" else ""
        return value

    def add_user(self, user: User, departments: tuple[DeptKey, ...]) -> None:
        entry: dict[str, Any] = {}
        for name in USER_FIELD_ORDER:
            value = departments if name == "departments" else getattr(user, name)
            if name == "extension" and isinstance(value, Mapping):
                value = dict(sorted(value.items()))
            if value is None or value == "" or value == {}:
                continue
            entry[name] = list(value) if isinstance(value, tuple) else value
        home = next((k for k in departments if k != ROOT), ROOT)
        top = self._top(home)
        file, after = self._user_place(home, top)
        self._tops_in(file)  # counted before this person is in it
        self.emit(AddEntry("users", entry, file, after))
        self.added_home[user.userid] = home
        self.file_tops[file][top] += 1
        self.changes.append(Change("users", user.userid, "add", (), file))

    def _top(self, key: DeptKey) -> DeptKey:
        """The top-level department above a YAML key, read in the live tree (remembered:
        placing each new person asks it for everyone in the candidate files)."""
        top = self.tops.get(key)
        if top is None:
            top = self.tops[key] = self._find_top(key)
        return top

    def _find_top(self, key: DeptKey) -> DeptKey:
        live_key = self.diff.live_key.get(key)
        if live_key is None:
            live_key = next((k for k, v in self.new_key.items() if v == key), key)
        chain = [live_key, *self.live.ancestors(live_key)]
        return self.key(self.diff.ident.get(chain[-1], chain[-1]))

    def _home_of(self, userid: str) -> DeptKey | None:
        if userid in self.added_home:
            return self.added_home[userid]
        user = self.desired.users.get(userid)
        if user is None:
            return None
        return next((k for k in user.departments if k != ROOT), ROOT)

    def _tops_in(self, name: str) -> Counter[DeptKey]:
        """How many people of each top-level department file ``name`` holds (counted once:
        people are removed before any is added, and each addition counts itself)."""
        counts = self.file_tops.get(name)
        if counts is None:
            homes = (self._home_of(u) for u in self.files.idents("users", name))
            counts = Counter(self._top(h) for h in homes if h is not None)
            self.file_tops[name] = counts
        return counts

    def _user_place(self, home: DeptKey, top: DeptKey) -> tuple[str, str | None]:
        """(file, the userid to follow) for a new person whose home department is ``home``."""
        best: tuple[int, str] | None = None
        for name in self.files.names():
            count = self._tops_in(name).get(top, 0)
            if count and (best is None or count > best[0]):
                best = (count, name)
        if best is None:
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", top).strip("._")[:100] or "department"
            return f"{PEOPLE_DIR}/{stem}.yaml", None
        file = best[1]
        ids = self.files.idents("users", file)
        same_home = [u for u in ids if self._home_of(u) == home]
        same_top = [u for u in ids if (h := self._home_of(u)) is not None and self._top(h) == top]
        after = (same_home or same_top or ids)[-1] if ids else None
        return file, after


def _depth_first(live: Org) -> list[DeptKey]:
    """Live keys, parents before children (dump's order among siblings)."""
    children: dict[DeptKey, list[Department]] = {}
    for dept in live.departments.values():
        children.setdefault(dept.parent, []).append(dept)
    ordered: list[DeptKey] = []

    def visit(parent: DeptKey) -> None:
        for dept in sorted(
            children.get(parent, []), key=lambda d: (d.order is None, d.order or 0, d.name, d.key)
        ):
            if dept.key not in ordered:
                ordered.append(dept.key)
                visit(dept.key)

    visit(ROOT)
    return ordered


def _yaml_value(user: User, name: str) -> Any:
    value = getattr(user, name)
    return list(value) if isinstance(value, tuple) else value


def _spelled(mobile: str, raw: Any) -> str:
    """The canonical live mobile in the spelling the YAML used: a mainland number written
    without ``+86`` stays without it."""
    if isinstance(raw, str) and not raw.strip().startswith("+") and mobile.startswith("+86-"):
        return mobile[len("+86-") :]
    return mobile


__all__ = ["Change", "PullResult", "Scope", "pull"]
