"""Who an attendance command is about: ``--department KEY`` / ``--user USERID`` → userids.
Pure: works on a live `Org` read by the caller (contacts reads are outside the monthly quota,
DingTalk's limits page, so checking every selector costs nothing metered)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from reconciler.errors import InputError
from reconciler.model import ROOT, DeptKey, Org, UserId


def subtree(org: Org, key: DeptKey) -> frozenset[DeptKey]:
    """``key`` and every department below it (``root``: every department)."""
    if key == ROOT:
        return frozenset(org.departments) | {ROOT}
    return frozenset(
        other for other in org.departments if other == key or key in set(org.ancestors(other))
    )


def _hint(wanted: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(wanted, list(known), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def select_people(
    org: Org, departments: Sequence[DeptKey] = (), users: Sequence[UserId] = ()
) -> tuple[UserId, ...]:
    """The sorted userids the selectors name; everyone when there are none.

    Every unknown department key and userid is reported at once, before any attendance call.
    """
    problems: list[str] = []
    for key in departments:
        if key != ROOT and key not in org.departments:
            problems.append(f"--department {key}: no such department{_hint(key, org.departments)}")
    for userid in users:
        if userid not in org.users:
            problems.append(f"--user {userid}: no such user{_hint(userid, org.users)}")
    if problems:
        raise InputError("; ".join(problems))
    if not departments and not users:
        return tuple(sorted(org.users))
    selected: set[UserId] = set(users)
    for key in departments:
        keys = subtree(org, key)
        selected.update(u.userid for u in org.users.values() if keys.intersection(u.departments))
    return tuple(sorted(selected))


def department_path(org: Org, key: DeptKey) -> str:
    """A department's name path from the root; ``/`` for the root itself."""
    if key == ROOT:
        return "/"
    if key not in org.departments:
        return key
    return org.path(key)


def user_departments(org: Org, userid: UserId) -> str:
    """The name paths of the user's departments, sorted, joined with ``; ``."""
    user = org.users.get(userid)
    if user is None:
        return ""
    return "; ".join(sorted(department_path(org, key) for key in user.departments))
