"""Leaving dates before the diff: who leaves today, who is held, who is only scheduled. Pure.

``leaves_on`` is orgctl's own field: DingTalk never sees it. `resolve` turns it into the desired
state the diff compares with live, for one calendar day (``today``, in the policy's time zone):

- on or after the date the person is *leaving*: they are taken out of the desired org and
  the diff deletes them, whether or not ``prune.users`` is on (the safety rules still apply:
  thresholds, protected users). Their entry stays in the YAML until the nightly job removes
  it, and an entry removed since a base commit (`plan --base`) while its date had come
  counts the same way;
- ``hold_days`` before the date, with a holding department, their membership becomes just
  that department: an ordinary move;
- before either, they are *scheduled*: listed with their date, no step.

A leaver may still be named as someone's ``manager`` or among a department's ``managers``:
DingTalk drops a deleted person from both, so those values stop being managed (a warning
says to name someone else) instead of planning a write that would fail (60128).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from reconciler.clock import local_date
from reconciler.model import Department, Org, User, UserId
from reconciler.policy import Policy


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A person with a ``leaves_on`` still to come."""

    userid: UserId
    name: str
    leaves_on: datetime.date
    held: bool = False
    """Already moved into the holding department."""

    def to_data(self) -> dict[str, Any]:
        return {  # keys sorted, as in the plan file
            "held": self.held,
            "leaves_on": self.leaves_on.isoformat(),
            "name": self.name,
            "userid": self.userid,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Scheduled:
        return cls(
            userid=str(data["userid"]),
            name=str(data["name"]),
            leaves_on=datetime.date.fromisoformat(str(data["leaves_on"])),
            held=bool(data.get("held", False)),
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """A live person who has not accepted their invitation (40103, ``active: false``).

    DingTalk keeps no creation or invitation time (user/get and user/list have none): the
    date shown is ``hired_date``, the hire date an admin may set, when there is one."""

    userid: UserId
    name: str
    hired_on: datetime.date | None
    stale: bool = False
    """Older than ``lifecycle.pending_invitations.max_age_days`` (counted from hired_on)."""

    def describe(self) -> str:
        since = f"hired {self.hired_on.isoformat()}" if self.hired_on else "no date in DingTalk"
        return f"{self.userid}  {self.name} ({since})" + (", stale" if self.stale else "")

    def to_data(self) -> dict[str, Any]:
        return {  # keys sorted, as in the plan file
            "hired_on": self.hired_on.isoformat() if self.hired_on else None,
            "name": self.name,
            "stale": self.stale,
            "userid": self.userid,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Pending:
        hired = data.get("hired_on")
        return cls(
            userid=str(data["userid"]),
            name=str(data["name"]),
            hired_on=datetime.date.fromisoformat(str(hired)) if hired else None,
            stale=bool(data.get("stale", False)),
        )


def pending_invitations(
    live: Org, policy: Policy, today: datetime.date | None
) -> tuple[Pending, ...]:
    """Live people whose invitation is pending, by userid; stale ones marked."""
    found: list[Pending] = []
    max_days = policy.lifecycle.invitation_max_days
    for userid in sorted(u for u, user in live.users.items() if user.active is False):
        user = live.users[userid]
        hired = (
            local_date(user.hired_date / 1000, policy.timezone)
            if user.hired_date is not None
            else None
        )
        stale = (
            max_days is not None
            and hired is not None
            and today is not None
            and (today - hired).days > max_days
        )
        found.append(Pending(userid, user.name, hired, stale))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Resolved:
    desired: Org
    """What the diff compares with live: leavers out, held people in the holding department."""
    leaving: Mapping[UserId, datetime.date]
    """Deleted by this plan, whatever ``prune.users`` says (by their leaves_on)."""
    scheduled: tuple[Scheduled, ...]
    warnings: tuple[str, ...]
    pending: tuple[Pending, ...] = ()
    withdrawn: frozenset[UserId] = frozenset()
    """Stale invitations this plan deletes (``pending_invitations.action: delete``)."""

    @property
    def deleting(self) -> frozenset[UserId]:
        """Whom the diff deletes whatever ``prune.users`` says."""
        return frozenset(self.leaving) | self.withdrawn


def resolve(
    desired: Org,
    policy: Policy,
    today: datetime.date | None,
    removed: Mapping[UserId, datetime.date] | None = None,
    live: Org | None = None,
) -> Resolved:
    """``today`` None (no clock: a bare `build_plan`): nobody's date has come. ``removed``:
    entries gone from the YAML since a base commit whose ``leaves_on`` had come. ``live``:
    for the pending invitations (listed; stale ones warned about or deleted)."""
    pending = pending_invitations(live, policy, today) if live is not None else ()
    stale = [p for p in pending if p.stale]
    notes = tuple(
        f"invitation to {p.userid} ({p.name}) pending since they were hired on "
        f"{p.hired_on}: older than {policy.lifecycle.invitation_max_days} days"
        for p in stale
        if policy.lifecycle.stale_invitations == "warn"
    )
    withdrawn = frozenset(p.userid for p in stale if policy.lifecycle.stale_invitations == "delete")
    resolved = _resolve_dates(desired, policy, today, removed, withdrawn)
    return replace(
        resolved,
        pending=pending,
        withdrawn=withdrawn,
        warnings=(*resolved.warnings, *notes),
    )


def _resolve_dates(
    desired: Org,
    policy: Policy,
    today: datetime.date | None,
    removed: Mapping[UserId, datetime.date] | None,
    withdrawn: frozenset[UserId],
) -> Resolved:
    leaving: dict[UserId, datetime.date] = dict(removed or {})
    if (
        not leaving
        and not withdrawn
        and not any(u.leaves_on is not None for u in desired.users.values())
    ):
        return Resolved(desired, MappingProxyType({}), (), ())  # the common case: no dates
    holding = policy.lifecycle.holding_department
    hold = datetime.timedelta(days=policy.lifecycle.hold_days)
    held: set[UserId] = set()
    scheduled: list[Scheduled] = []
    for userid, user in desired.users.items():
        when = user.leaves_on
        if when is None:
            continue
        if today is not None and when <= today:
            leaving[userid] = when
            continue
        # A holding department the org lacks was refused by the loader; this guards a
        # policy handed in by code.
        is_held = holding in desired.departments and today is not None and when - hold <= today
        if is_held:
            held.add(userid)
        scheduled.append(Scheduled(userid, user.name, when, is_held))
    if not leaving and not held and not withdrawn:
        return Resolved(desired, MappingProxyType({}), tuple(scheduled), ())
    gone = leaving.keys() | withdrawn
    warnings: list[str] = []
    users: list[User] = []
    for userid, user in desired.users.items():
        if userid in gone:
            continue
        if user.manager in gone:
            warnings.append(
                f"{userid}'s manager {user.manager} is deleted by this plan: their manager "
                "is left as DingTalk leaves it; name a new one in the YAML"
            )
            user = replace(user, manager=None)
        if userid in held and holding is not None:
            user = replace(user, departments=(holding,))
        users.append(user)
    departments: list[Department] = []
    for department in desired.departments.values():
        managers = department.managers
        if managers is not None:
            kept = tuple(
                m
                for m in managers
                if m not in gone and (m not in held or department.key == holding)
            )
            if kept != managers:
                lost = sorted(set(managers) - set(kept))
                warnings.append(
                    f"department {department.key} loses manager {', '.join(lost)} "
                    "(leaving); name another in the YAML"
                )
                department = replace(department, managers=kept)
        departments.append(department)
    return Resolved(
        Org.of(departments, users),
        MappingProxyType(leaving),
        tuple(scheduled),
        tuple(warnings),
    )


def held_view(desired: Org, policy: Policy, today: datetime.date | None) -> Org:
    """``desired`` with the people inside their holding window in the holding department
    only, as the plan sees them; everything else as it is. For `orgctl pull`, which must not
    write a holding move back into the YAML as if it were a console change."""
    holding = policy.lifecycle.holding_department
    if holding is None or today is None or holding not in desired.departments:
        return desired
    hold = datetime.timedelta(days=policy.lifecycle.hold_days)
    held = {
        userid
        for userid, user in desired.users.items()
        if user.leaves_on is not None and user.leaves_on - hold <= today < user.leaves_on
    }
    if not held:
        return desired
    users = [
        replace(u, departments=(holding,)) if u.userid in held else u
        for u in desired.users.values()
    ]
    departments = [
        replace(d, managers=tuple(m for m in d.managers if m not in held))
        if d.managers and d.key != holding and held.intersection(d.managers)
        else d
        for d in desired.departments.values()
    ]
    return Org.of(departments, users)


def split_removed(
    removed: Sequence[User], today: datetime.date
) -> tuple[dict[UserId, datetime.date], tuple[User, ...]]:
    """Entries removed since a base commit: (those whose ``leaves_on`` had come, by userid;
    the others, undated or dated later)."""
    dated: dict[UserId, datetime.date] = {}
    undated: list[User] = []
    for user in removed:
        if user.leaves_on is not None and user.leaves_on <= today:
            dated[user.userid] = user.leaves_on
        else:
            undated.append(user)
    return dated, tuple(undated)


def undated_removal_message(user: User) -> str:
    """Why removing this entry is refused (``lifecycle.dated_removals_only``)."""
    if user.leaves_on is not None:
        why = f"their leaves_on {user.leaves_on.isoformat()} has not come"
    else:
        why = "it had no leaves_on"
    return (
        f"{user.name} ({user.userid}) was removed from the YAML but {why}: set leaves_on "
        "instead, so every removal is dated and reviewed (lifecycle.dated_removals_only)"
    )


__all__ = [
    "Pending",
    "Resolved",
    "Scheduled",
    "held_view",
    "pending_invitations",
    "resolve",
    "split_removed",
    "undated_removal_message",
]
