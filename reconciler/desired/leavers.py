"""The nightly removal of people whose ``leaves_on`` has come: which YAML edits make it. Pure.

`due(desired, policy, today)` returns `edit` operations (applied to ``files``, as `orgctl
pull` does) that remove each entry whose date is today or past, and the references that
would otherwise leave the YAML invalid: someone's ``manager:`` (removed: DingTalk empties it
when the manager is deleted) and a department's ``managers:`` list. A protected user is
left in place with a note: the policy names them, and the plan refuses deleting them anyway.

The removal is a pull request (`orgctl gh lifecycle-pr`): the entries go once a person has
been reviewed out, with the plan of that PR showing the deletion (`plan --base`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from reconciler.desired.edit import Edit, OrgFiles, RemoveEntry, SetField
from reconciler.model import Org, UserId
from reconciler.policy import Policy


@dataclass(frozen=True, slots=True)
class DueResult:
    edits: tuple[Edit, ...]
    changes: tuple[str, ...]
    """One line per removed entry: ``person lisi (李四) left on 2026-11-30: removed
    (people/eng.yaml)``. Names only: nothing to mask."""
    notes: tuple[str, ...] = ()


def due(desired: Org, policy: Policy, today: datetime.date, files: OrgFiles) -> DueResult:
    """Remove from ``files`` (in memory) the people whose ``leaves_on`` has come."""
    protected = set(policy.protected_users)
    leaving: dict[UserId, datetime.date] = {}
    notes: list[str] = []
    for userid in sorted(desired.users):
        when = desired.users[userid].leaves_on
        if when is None or when > today:
            continue
        if userid in protected:
            notes.append(
                f"person {userid} left on {when.isoformat()} but is in protected_users: "
                "remove them there first"
            )
            continue
        leaving[userid] = when
    edits: list[Edit] = []
    changes: list[str] = []
    for userid, when in leaving.items():
        user = desired.users[userid]
        where = files.file_of("users", userid) or "?"
        edits.append(RemoveEntry("users", userid))
        changes.append(
            f"person {userid} ({user.name}) left on {when.isoformat()}: removed ({where})"
        )
    for userid in sorted(desired.users):
        user = desired.users[userid]
        if userid not in leaving and user.manager in leaving:
            edits.append(SetField("users", userid, "manager", None))
            changes.append(f"person {userid}: manager {user.manager} removed (left)")
    for key in sorted(desired.departments):
        managers = desired.departments[key].managers
        if managers and any(m in leaving for m in managers):
            kept = [m for m in managers if m not in leaving]
            edits.append(SetField("departments", key, "managers", kept))
            gone = ", ".join(m for m in managers if m in leaving)
            changes.append(f"department {key}: manager {gone} removed (left)")
    files.apply(edits)
    return DueResult(tuple(edits), tuple(changes), tuple(notes))


__all__ = ["DueResult", "due"]
