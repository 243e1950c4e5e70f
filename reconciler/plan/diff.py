"""Compare desired with live: which departments and users change, and how, field by field.

Pure: no I/O, no ordering (that is `reconciler.plan.planner`'s job). The result, `Diff`, says *what*
differs; `plan.build_plan` turns it into ordered, dependent steps.

Identity. Users match by ``userid``. A live department matches the desired department whose
key equals its ``source_identifier``; a live department without one (key ``#<dept_id>``), or
whose identifier is unknown to the YAML (a key renamed in the YAML), matches the desired
department with the same name under the same *matched* parent — that is an adoption: apply
writes the desired key into ``source_identifier``. Every department therefore has an *ident*:
its desired key when it is (or will be) in the YAML, its live key otherwise.

Scope. Live subtrees named by `Policy.unmanaged_departments` are never touched, and live users
who belong only to such subtrees are ignored. A desired user's memberships in unmanaged
departments are kept (DingTalk's ``dept_id_list`` is written whole, so they are carried along).

Comparison. Only fields whose desired value is not None are managed. A live None compares as
empty. Equal users are recognised by one dataclass comparison; field detail is computed only
for the few that differ, which keeps 100k users well under a second.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from reconciler.errors import Problem
from reconciler.model import (
    DEPARTMENT_FIELDS,
    ROOT,
    USER_FIELDS,
    Department,
    DeptKey,
    Org,
    User,
    UserId,
)
from reconciler.policy import Policy

UNIQUE_USER_FIELDS = ("mobile", "email", "telephone")
UNIQUE_ERRCODES = {"mobile": 60104, "email": 60106, "telephone": 40100}
"""DingTalk refuses a second person with the same mobile, email or extension number."""


def unique_key(name: str, value: str) -> str:
    """How a unique value is compared: emails ignoring case (the loader's rule: DingTalk does
    not document whether 60106 does, so assume the stricter), the others exactly."""
    return value.casefold() if name == "email" else value


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One managed field going from ``old`` (live, None when absent) to ``new``."""

    name: str
    old: object
    new: object


DepartmentKind = Literal["create", "update", "adopt", "delete"]
UserKind = Literal["create", "update", "replace", "delete", "prune"]
"""``prune``: a live user absent from the YAML who also belongs to an unmanaged department
is removed from the managed departments only (deleting them would touch the unmanaged part)."""


@dataclass(frozen=True, slots=True)
class DepartmentDiff:
    key: DeptKey
    """The ident: desired key, or the live key of a department absent from the YAML."""
    kind: DepartmentKind
    desired: Department | None
    live: Department | None
    changes: tuple[FieldChange, ...]
    """name / parent / order / source_identifier. Managers are in `managers`: they are set in
    a later phase, once the people are members."""
    managers: FieldChange | None = None
    """Desired managers differ from live (None: unmanaged or equal)."""


@dataclass(frozen=True, slots=True)
class UserDiff:
    userid: UserId
    kind: UserKind
    desired: User | None
    live: User | None
    changes: tuple[FieldChange, ...]
    """Field detail, departments as idents. For a create: every written field (old None)."""
    kept_departments: tuple[DeptKey, ...] = ()
    """Live keys of unmanaged departments the user stays in (sent along with the rest)."""

    @property
    def final_departments(self) -> tuple[DeptKey, ...]:
        """Idents (and kept live keys) the user belongs to after the plan; () if deleted."""
        if self.kind == "delete":
            return ()
        if self.kind == "prune":
            return self.kept_departments
        assert self.desired is not None
        return tuple(sorted({*self.desired.departments, *self.kept_departments}))


@dataclass(frozen=True, slots=True)
class Diff:
    departments: Mapping[DeptKey, DepartmentDiff]
    """By ident; only departments that change (creates, updates, adoptions, deletes)."""
    users: Mapping[UserId, UserDiff]
    """Only users that change."""
    ident: Mapping[DeptKey, DeptKey]
    """Every live department key → its ident."""
    live_key: Mapping[DeptKey, DeptKey]
    """Ident → live key, for every live department (managed or not)."""
    unmanaged: frozenset[DeptKey]
    """Live keys inside unmanaged subtrees."""
    ignored_users: frozenset[UserId]
    """Live users absent from the YAML whose departments are all unmanaged."""
    kept_departments: Mapping[DeptKey, str]
    """Live departments prune would delete but cannot, with the reason (a warning)."""
    existing_users: int
    existing_departments: int
    problems: tuple[Problem, ...] = ()
    """The desired state cannot be reached from this live state (see `plan.build_plan`)."""
    warnings: tuple[str, ...] = ()
    live_managers_after: Mapping[DeptKey, tuple[UserId, ...]] = field(default_factory=dict)
    """Managers each existing department still has once users are deleted and memberships
    removed (DingTalk drops a deleted person from every manager list)."""

    def ref(self, ident: DeptKey) -> DeptKey:
        """The key apply resolves to a dept_id: live key of an existing department, desired key
        of one this plan creates, ``root`` for the root."""
        return self.live_key.get(ident, ident)


def same(desired: object, live: object) -> bool:
    """Equal for the diff: live None equals an empty desired value."""
    if live is None:
        return desired in ("", ()) or (isinstance(desired, Mapping) and not desired)
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        return dict(desired) == dict(live)
    return desired == live


def unmanaged_keys(live: Org, paths: Iterable[str]) -> frozenset[DeptKey]:
    """Live keys at or below any of the name paths (``外包/华东``)."""
    prefixes = _prefixes(paths)
    if not prefixes:
        return frozenset()
    memo: dict[DeptKey, str] = {}  # each department's path is built once

    def path_of(key: DeptKey) -> str:
        chain: list[DeptKey] = []
        cursor = key
        while cursor in live.departments and cursor not in memo and cursor not in chain:
            chain.append(cursor)
            cursor = live.departments[cursor].parent
        base = memo.get(cursor, "")
        for k in reversed(chain):
            name = live.departments[k].name
            base = f"{base}/{name}" if base else name
            memo[k] = base
        return memo.get(key, "")

    result = set()
    for key in live.departments:
        path = path_of(key)
        if _under(path, prefixes) is not None:
            result.add(key)
    return frozenset(result)


def _prefixes(paths: Iterable[str]) -> tuple[str, ...]:
    """unmanaged_departments name paths without surrounding slashes; empty ones dropped."""
    return tuple(p.strip("/") for p in paths if p.strip("/"))


def _under(path: str, prefixes: tuple[str, ...]) -> str | None:
    """The first prefix that ``path`` is, or lies below."""
    return next((p for p in prefixes if path == p or path.startswith(p + "/")), None)


def diff(
    desired: Org, live: Org, policy: Policy, leaving: Collection[UserId] = frozenset()
) -> Diff:
    """What must change in live to reach desired under policy (no ordering). ``leaving``:
    people whose ``leaves_on`` has come, deleted even when ``prune.users`` is off."""
    return _Differ(desired, live, policy, leaving).run()


class _Differ:
    """One diff run. Larger than most classes here on purpose: matching departments,
    following unmanaged paths, comparing users, pruning and the uniqueness checks all read
    and refine the same matching state (ident ↔ live key, the unmanaged set), in this order;
    split apart, each part would take and return all of it."""

    def __init__(
        self, desired: Org, live: Org, policy: Policy, leaving: Collection[UserId]
    ) -> None:
        self.leaving = leaving
        self.desired = desired
        self.live = live
        self.policy = policy
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.prefixes = _prefixes(policy.unmanaged_departments)
        self.unmanaged = unmanaged_keys(live, self.prefixes)
        self.ident: dict[DeptKey, DeptKey] = {}
        self.live_key: dict[DeptKey, DeptKey] = {}
        self.adopted: set[DeptKey] = set()  # live keys matched by (parent, name)

    def run(self) -> Diff:
        self._check_scope()
        self._match_departments()
        self._follow_unmanaged_paths()
        departments = self._diff_departments()
        users, ignored = self._diff_users()
        kept = self._prune_departments(departments, users, ignored)
        self._check_unique_values(users)
        after = self._managers_after(users)
        for key, reason in sorted(kept.items()):
            self.warnings.append(f"keeping department {key} ({self.live.path(key)}): {reason}")
        managed_departments = len(self.live.departments) - len(self.unmanaged)
        return Diff(
            departments=departments,
            users=users,
            ident=self.ident,
            live_key=self.live_key,
            unmanaged=self.unmanaged,
            ignored_users=ignored,
            kept_departments=kept,
            existing_users=len(self.live.users) - len(ignored),
            existing_departments=managed_departments,
            problems=tuple(sorted(self.problems)),
            warnings=tuple(self.warnings),
            live_managers_after=after,
        )

    # -- departments ------------------------------------------------------------------------

    def _check_scope(self) -> None:
        for key, dept in self.desired.departments.items():
            if key in self.unmanaged:
                self.problems.append(
                    Problem.at(
                        dept.location,
                        f"departments.{key}",
                        f"key {key!r} belongs to a live department in an unmanaged subtree",
                    )
                )
                continue
            path = self.desired.path(key)
            hit = _under(path, self.prefixes)
            if hit is not None:
                self.problems.append(
                    Problem.at(
                        dept.location,
                        f"departments.{key}",
                        f"{path} is inside the unmanaged subtree {hit!r} (orgctl.yaml); "
                        "orgctl never touches it",
                    )
                )

    def _match_departments(self) -> None:
        live, desired = self.live, self.desired
        for key in live.departments:
            if key in self.unmanaged or key not in desired.departments:
                continue
            self.ident[key] = key
        claimed = set(self.ident.values())
        by_slot = {(d.parent, d.name): k for k, d in desired.departments.items()}
        # Parents before children, so a child's parent already has its ident.
        pending = sorted(
            (k for k in live.departments if k not in self.ident and k not in self.unmanaged),
            key=lambda k: (live.depth(k), k),
        )
        for key in pending:
            dept = live.departments[key]
            parent = self._parent_ident(dept)
            candidate = by_slot.get((parent, dept.name))
            if candidate is not None and candidate not in claimed:
                self.ident[key] = candidate
                claimed.add(candidate)
                self.adopted.add(key)
            else:
                self.ident[key] = key
        for key in self.unmanaged:
            self.ident[key] = key
        self.live_key = {ident: key for key, ident in self.ident.items()}

    def _follow_unmanaged_paths(self) -> None:
        """Unmanaged subtrees are named by path, and renaming or moving a managed ancestor
        changes that path. A path in orgctl.yaml may name the subtree where it is now or
        where this plan puts it (so the YAML and orgctl.yaml can change in one commit); a
        subtree that this plan moves away from every listed path is a problem, or the next
        plan would manage it (and, with prune, delete it)."""
        if not self.prefixes:
            return
        live, desired = self.live, self.desired
        final: dict[DeptKey, str] = {}

        def final_path(key: DeptKey) -> str:
            chain: list[DeptKey] = []
            cursor = key
            while cursor in live.departments and cursor not in final and cursor not in chain:
                ident = self.ident.get(cursor, cursor)
                if ident in desired.departments:
                    final[cursor] = desired.path(ident)
                    break
                chain.append(cursor)
                cursor = live.departments[cursor].parent
            base = final.get(cursor, "")
            for k in reversed(chain):
                name = live.departments[k].name
                base = f"{base}/{name}" if base else name
                final[k] = base
            return final.get(key, "")

        def listed(path: str) -> bool:
            return _under(path, self.prefixes) is not None

        added = {
            key
            for key, ident in self.ident.items()
            if ident == key
            and key not in desired.departments
            and key not in self.unmanaged
            and listed(final_path(key))
        }
        for key in sorted(self.unmanaged):
            parent = live.departments[key].parent
            if parent in self.unmanaged or listed(final_path(key)):
                continue
            self.problems.append(
                Problem(
                    "orgctl.yaml",
                    0,
                    0,
                    "unmanaged_departments",
                    f"this plan moves the unmanaged subtree {live.path(key)!r} to "
                    f"{final_path(key)!r}, which unmanaged_departments does not list: list the "
                    "new path too, or the next plan would manage (and may prune) it",
                )
            )
        if added:
            self.unmanaged = self.unmanaged | added

    def _parent_ident(self, dept: Department) -> DeptKey:
        return ROOT if dept.parent == ROOT else self.ident.get(dept.parent, dept.parent)

    def _diff_departments(self) -> dict[DeptKey, DepartmentDiff]:
        result: dict[DeptKey, DepartmentDiff] = {}
        for key, want in self.desired.departments.items():
            live_key = self.live_key.get(key)
            if live_key is None or live_key in self.unmanaged:
                changes = tuple(
                    FieldChange(name, None, getattr(want, name))
                    for name in DEPARTMENT_FIELDS
                    if name != "managers" and getattr(want, name) is not None
                )
                managers = FieldChange("managers", None, want.managers) if want.managers else None
                result[key] = DepartmentDiff(key, "create", want, None, changes, managers)
                continue
            have = self.live.departments[live_key]
            fields: list[FieldChange] = []
            if want.name != have.name:
                fields.append(FieldChange("name", have.name, want.name))
            have_parent = self._parent_ident(have)
            if want.parent != have_parent:
                fields.append(FieldChange("parent", have_parent, want.parent))
            if want.order is not None and not same(want.order, have.order):
                fields.append(FieldChange("order", have.order, want.order))
            managers = None
            if want.managers is not None:
                have_managers = tuple(sorted(have.managers or ()))
                if tuple(sorted(want.managers)) != have_managers:
                    managers = FieldChange("managers", have_managers, tuple(sorted(want.managers)))
            adopt = live_key in self.adopted
            if adopt:
                fields.append(FieldChange("source_identifier", have.source_identifier, key))
            if fields or managers is not None:
                kind: DepartmentKind = "adopt" if adopt else "update"
                result[key] = DepartmentDiff(key, kind, want, have, tuple(fields), managers)
        return result

    # -- users ------------------------------------------------------------------------------

    def _live_departments(self, user: User) -> tuple[tuple[DeptKey, ...], tuple[DeptKey, ...]]:
        """(managed idents, kept unmanaged live keys) of a live user."""
        managed: list[DeptKey] = []
        kept: list[DeptKey] = []
        for key in user.departments:
            if key in self.unmanaged:
                kept.append(key)
            else:
                managed.append(self.ident.get(key, key))
        return tuple(sorted(set(managed))), tuple(sorted(kept))

    def _diff_users(self) -> tuple[dict[UserId, UserDiff], frozenset[UserId]]:
        desired, live = self.desired, self.live
        result: dict[UserId, UserDiff] = {}
        unmanaged = self.unmanaged
        unreadable: list[UserId] = []
        for userid, want in desired.users.items():
            have = live.users.get(userid)
            if have is None:
                changes = tuple(
                    FieldChange(name, None, _plain(getattr(want, name)))
                    for name in USER_FIELDS
                    if getattr(want, name) is not None
                )
                result[userid] = UserDiff(userid, "create", want, None, changes)
                continue
            if want == have:
                continue  # the common case: one C-level comparison, no field walk
            managed, kept = self._live_departments(have)
            changes_list: list[FieldChange] = []
            replace = False
            for name in USER_FIELDS:
                new = getattr(want, name)
                if new is None:
                    continue
                old: object = managed if name == "departments" else getattr(have, name)
                if name == "departments":
                    new = tuple(sorted(set(new)))
                if same(new, old):
                    continue
                if name == "mobile":
                    if old is None:
                        # Not readable (no sensitive-field permission, or an email-only
                        # account): never destroy a person on missing data.
                        unreadable.append(userid)
                        continue
                    replace = True
                changes_list.append(FieldChange(name, _plain(old), _plain(new)))
            if changes_list:
                kind: UserKind = "replace" if replace else "update"
                result[userid] = UserDiff(userid, kind, want, have, tuple(changes_list), kept)
        if unreadable:
            unreadable.sort()
            sample = ", ".join(unreadable[:5]) + (", …" if len(unreadable) > 5 else "")
            self.warnings.append(
                f"{len(unreadable)} live users have no readable mobile, so their mobiles were "
                f"not compared ({sample})"
            )
        ignored: set[UserId] = set()
        for userid, have in live.users.items():
            if userid in desired.users:
                continue
            if have.departments and all(k in unmanaged for k in have.departments):
                ignored.add(userid)
                continue
            if not self.policy.prune_users and userid not in self.leaving:
                continue
            managed, kept = self._live_departments(have)
            if kept:
                change = FieldChange("departments", managed, ())
                result[userid] = UserDiff(userid, "prune", None, have, (change,), kept)
            else:
                result[userid] = UserDiff(userid, "delete", None, have, ())
        return result, frozenset(ignored)

    def _check_unique_values(self, users: Mapping[UserId, UserDiff]) -> None:
        """Mobiles (60104), emails (60106) and telephones (40100) are unique in the org
        (emails compared ignoring case, as the loader does). A value a person takes must be
        free by then: held by nobody, or by someone this plan deletes, or who gives it up in
        their own update (the planner orders that handoff, swaps and rotations included)."""
        taking: dict[tuple[str, str], UserDiff] = {}
        for change in users.values():
            want = change.desired
            if want is None or change.kind not in ("create", "replace", "update"):
                continue
            creating = change.kind != "update"
            changed = {c.name for c in change.changes}
            for name in UNIQUE_USER_FIELDS:
                value = getattr(want, name)
                if value and (creating or name in changed):
                    taking[(name, unique_key(name, value))] = change
        if not taking:
            return
        for userid, have in self.live.users.items():
            for name in UNIQUE_USER_FIELDS:
                value = getattr(have, name)
                taker = taking.get((name, unique_key(name, value))) if value else None
                if taker is None or taker.userid == userid:
                    continue
                holder = users.get(userid)
                if holder is not None and holder.kind in ("delete", "replace"):
                    continue
                if holder is not None and gives_up(holder, name):
                    continue  # gives it up in the same plan
                assert taker.desired is not None
                self.problems.append(
                    Problem.at(
                        taker.desired.location,
                        f"users.{taker.userid}.{name}",
                        f"the {name} is already used by live user {userid}, whom this plan "
                        f"keeps (DingTalk {UNIQUE_ERRCODES[name]}: it must be unique)",
                    )
                )

    # -- prune ------------------------------------------------------------------------------

    def _prune_departments(
        self,
        departments: dict[DeptKey, DepartmentDiff],
        users: Mapping[UserId, UserDiff],
        ignored: frozenset[UserId],
    ) -> dict[DeptKey, str]:
        """Add delete diffs for live departments absent from the YAML (prune), keeping the ones
        DingTalk would refuse to delete: members who stay (60005), unmanaged children (60006)."""
        if not self.policy.prune_departments:
            return {}
        live = self.live
        doomed = {
            key
            for key, ident in self.ident.items()
            if ident == key and key not in self.desired.departments and key not in self.unmanaged
        }
        if not doomed:
            return {}
        kept: dict[DeptKey, str] = {}
        staying: dict[DeptKey, int] = {}
        for userid, have in live.users.items():
            touched = [k for k in have.departments if k in doomed]
            if not touched:
                continue
            if userid in self.desired.users or userid in users:
                continue  # desired users leave; pruned users are deleted or pruned
            for key in touched:
                staying[key] = staying.get(key, 0) + 1
        for key, count in staying.items():
            noun = "member not in the YAML stays" if count == 1 else "members not in the YAML stay"
            kept[key] = f"{count} {noun} (prune_users is off)"
        for key in self.unmanaged:
            parent = live.departments[key].parent
            if parent in doomed and parent not in kept:
                kept[parent] = "it contains an unmanaged subtree"
        # A kept department keeps the doomed departments above it (60006). Doomed departments
        # do not move, so their live parents are their final parents; the walk stops at the
        # first department that stays anyway.
        for key in list(kept):
            parent = live.departments[key].parent
            while parent in doomed and parent not in kept:
                kept[parent] = f"its sub-department {key} is kept"
                parent = live.departments[parent].parent
        for key in sorted(doomed - kept.keys()):
            departments[key] = DepartmentDiff(key, "delete", None, live.departments[key], ())
        return kept

    def _managers_after(
        self, users: Mapping[UserId, UserDiff]
    ) -> dict[DeptKey, tuple[UserId, ...]]:
        """Managers of each existing department once phases 3–5 have run."""
        after: dict[DeptKey, tuple[UserId, ...]] = {}
        for key, dept in self.live.departments.items():
            if not dept.managers or key in self.unmanaged:
                continue
            ident = self.ident[key]
            keep = []
            for userid in dept.managers:
                change = users.get(userid)
                if change is None:
                    keep.append(userid)
                elif change.kind in ("delete", "replace"):
                    continue
                elif ident in change.final_departments:
                    keep.append(userid)
            after[ident] = tuple(sorted(keep))
        return after


def gives_up(change: UserDiff, name: str) -> bool:
    """Does this kept person's update release their live ``name`` (change it to another
    value, or clear it)? A change of case only keeps an email."""
    have = change.live
    old = getattr(have, name) if have is not None else None
    if not old or change.kind not in ("update", "prune"):
        return False
    for c in change.changes:
        if c.name == name:
            return not c.new or unique_key(name, str(c.new)) != unique_key(name, old)
    return False


def _plain(value: object) -> object:
    """Mappings as sorted dicts, sequences as tuples: comparable and JSON-friendly."""
    if isinstance(value, Mapping):
        return {k: value[k] for k in sorted(value)}
    if isinstance(value, list | tuple):
        return tuple(value)
    return value


__all__ = [
    "UNIQUE_ERRCODES",
    "UNIQUE_USER_FIELDS",
    "DepartmentDiff",
    "Diff",
    "FieldChange",
    "UserDiff",
    "diff",
    "gives_up",
    "same",
    "unique_key",
    "unmanaged_keys",
]
