"""Value types shared by every stage: the loader, the snapshot, the diff and the plan.

Pure: no I/O. Desired and live state use the same types, so `orgctl dump` output is valid
desired input. A field that is `None` is *not managed*: the YAML left it out, and the diff
never touches it (peribolos semantics). Collections are tuples, sorted where order carries no
meaning, so two equal states compare equal and render the same way.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DeptKey = str
"""Stable slug chosen in YAML (e.g. ``eng-platform``); stored in DingTalk's
``source_identifier``. Live departments without one get the key ``#<dept_id>``, which the
schema's key pattern can never produce, so it cannot collide with a desired key."""

UserId = str
"""DingTalk ``userid``: unique in the organisation and immutable after creation."""

ROOT: DeptKey = "root"
"""The DingTalk root department (``dept_id`` 1). It is never created, renamed or deleted."""

ROOT_DEPT_ID = 1


def unkeyed(dept_id: int) -> DeptKey:
    """The key a live department gets while it has no ``source_identifier``."""
    return f"#{dept_id}"


def is_unkeyed(key: DeptKey) -> bool:
    return key.startswith("#")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value came from in the desired YAML, for error messages (1-based)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Department:
    key: DeptKey
    name: str
    parent: DeptKey  # ROOT for a top-level department
    order: int | None = None  # ascending: smaller sorts first in DingTalk
    managers: tuple[UserId, ...] | None = None  # sorted; must be members of this department
    # Live-only facts, never compared:
    dept_id: int | None = field(default=None, compare=False)
    source_identifier: str | None = field(default=None, compare=False)
    # Desired-only: where this department was written, for error messages.
    location: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    userid: UserId
    name: str
    departments: tuple[DeptKey, ...]  # sorted; DingTalk's dept_id_list has no meaningful order
    mobile: str | None = None  # canonical "+<cc>-<national>", see reconciler.phone
    title: str | None = None
    email: str | None = None
    job_number: str | None = None
    telephone: str | None = None
    work_place: str | None = None
    remark: str | None = None
    manager: UserId | None = None  # DingTalk manager_userid
    extension: Mapping[str, str] | None = None  # custom profile fields, compared as a whole
    # orgctl-only: the day this person leaves (in the policy's time zone). DingTalk has no
    # such field, so live users never carry it and the diff never compares it.
    leaves_on: datetime.date | None = field(default=None, compare=False)
    # Live-only facts, never compared. ``active`` False: created, but the invitation is not
    # accepted yet (user/create answered 40103). ``hired_date``: DingTalk's hire date (epoch
    # ms, set by an admin; DingTalk keeps no creation or invitation time).
    active: bool | None = field(default=None, compare=False)
    hired_date: int | None = field(default=None, compare=False)
    location: Location | None = field(default=None, compare=False, repr=False)


USER_FIELDS: tuple[str, ...] = (
    "name",
    "mobile",
    "departments",
    "title",
    "email",
    "job_number",
    "telephone",
    "work_place",
    "remark",
    "manager",
    "extension",
)
"""The user fields the diff manages, in display order. ``mobile`` differs from the rest:
DingTalk cannot update it (errcode 40022/41054), so a change is a delete + create."""

DEPARTMENT_FIELDS: tuple[str, ...] = ("name", "parent", "order", "managers")
"""The department fields the diff manages, in display order."""

SENSITIVE_FIELDS: frozenset[str] = frozenset({"mobile", "email", "telephone"})
"""Personal data masked in anything meant for a PR comment or a journal."""


@dataclass(frozen=True, slots=True)
class Org:
    """A whole directory: the departments below the root and every user.

    ``departments`` never contains the root itself; a top-level department has
    ``parent == ROOT``.
    """

    departments: Mapping[DeptKey, Department]
    users: Mapping[UserId, User]

    @classmethod
    def of(
        cls,
        departments: list[Department] | tuple[Department, ...] = (),
        users: list[User] | tuple[User, ...] = (),
    ) -> Org:
        """Build an Org from sequences; later duplicates are the caller's bug, not merged."""
        return cls(
            departments=MappingProxyType({d.key: d for d in departments}),
            users=MappingProxyType({u.userid: u for u in users}),
        )

    def depth(self, key: DeptKey) -> int:
        """1 for a top-level department, 2 for its children, … (0 for the root)."""
        depth = 0
        seen: set[DeptKey] = set()
        while key != ROOT:
            if key in seen or key not in self.departments:
                break  # cycles and dangling parents are the loader's to report
            seen.add(key)
            depth += 1
            key = self.departments[key].parent
        return depth

    def ancestors(self, key: DeptKey) -> Iterator[DeptKey]:
        """The parents of ``key`` from nearest to the root (ROOT excluded)."""
        seen: set[DeptKey] = {key}
        while key in self.departments:
            key = self.departments[key].parent
            if key == ROOT or key in seen:
                return
            seen.add(key)
            yield key

    def path(self, key: DeptKey) -> str:
        """The department's name path from the root, e.g. ``研发中心/平台组``."""
        names = [self.departments[key].name]
        names.extend(self.departments[a].name for a in self.ancestors(key))
        return "/".join(reversed(names))

    def members(self, key: DeptKey) -> tuple[UserId, ...]:
        return tuple(sorted(u.userid for u in self.users.values() if key in u.departments))


EMPTY_ORG = Org.of()
