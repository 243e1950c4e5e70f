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
class Resolved:
    desired: Org
    """What the diff compares with live: leavers out, held people in the holding department."""
    leaving: Mapping[UserId, datetime.date]
    """Deleted by this plan, whatever ``prune.users`` says (by their leaves_on)."""
    scheduled: tuple[Scheduled, ...]
    warnings: tuple[str, ...]


def resolve(
    desired: Org,
    policy: Policy,
    today: datetime.date | None,
    removed: Mapping[UserId, datetime.date] | None = None,
) -> Resolved:
    """``today`` None (no clock: a bare `build_plan`): nobody's date has come. ``removed``:
    entries gone from the YAML since a base commit whose ``leaves_on`` had come."""
    leaving: dict[UserId, datetime.date] = dict(removed or {})
    if not leaving and not any(u.leaves_on is not None for u in desired.users.values()):
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
    if not leaving and not held:
        return Resolved(desired, MappingProxyType({}), tuple(scheduled), ())
    warnings: list[str] = []
    users: list[User] = []
    for userid, user in desired.users.items():
        if userid in leaving:
            continue
        if user.manager in leaving:
            warnings.append(
                f"{userid}'s manager {user.manager} leaves on {leaving[user.manager]}: "
                "their manager is left as DingTalk leaves it; name a new one in the YAML"
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
                if m not in leaving and (m not in held or department.key == holding)
            )
            if kept != managers:
                gone = sorted(set(managers) - set(kept))
                warnings.append(
                    f"department {department.key} loses manager {', '.join(gone)} "
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


__all__ = ["Resolved", "Scheduled", "resolve", "split_removed", "undated_removal_message"]
