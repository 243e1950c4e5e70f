"""People phases of the planner: 3 (delete users: pruned, and the delete half of a replace)
and 4 (create users, and the create half of a replace; a user's manager first). Pure.

Mobiles stay unique (60104): every delete (phase 3) precedes every create (phase 4), and a
create requires the delete of whoever held its mobile, so a swap of mobiles between two people
works. A new account that takes an email or telephone a kept person gives up only in phase 5
is created without it and gets it in a phase-5 update (`reconciler.plan.updates`). A
re-created person does not carry over an unmanaged value the YAML gives to someone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.model import USER_FIELDS, DeptKey, User, UserId
from reconciler.plan.diff import UNIQUE_USER_FIELDS, UserDiff, unique_key
from reconciler.plan.state import HANDOFF_FIELDS, REPLACE_NOTE, PlanState, holders, unique
from reconciler.plan.steps import CreateUser, DeleteUser, Phase, Step


def delete_users(s: PlanState) -> None:
    for userid in sorted(s.d.users):
        change = s.d.users[userid]
        if change.kind not in ("delete", "replace"):
            continue
        assert change.live is not None
        if change.kind == "replace":
            note = REPLACE_NOTE
        elif userid in s.withdrawn:
            note = "stale invitation (lifecycle.pending_invitations): never accepted"
        elif userid in s.leaving:
            note = f"leaves_on {s.leaving[userid].isoformat()}: their leaving date has come"
        else:
            note = "pruned: not in the YAML"
        s.user_deleted[userid] = s.add(
            Step(
                id=f"user.delete:{userid}",
                phase=Phase.DELETE_USERS,
                key=userid,
                body=DeleteUser(userid=userid),
                label=change.live.name,
                destructive=True,
                note=note,
            )
        )


def user_refs(s: PlanState, change: UserDiff) -> tuple[DeptKey, ...]:
    refs = {s.ref(k) for k in change.desired.departments} if change.desired else set()
    refs.update(change.kept_departments)
    return tuple(sorted(refs))


def dept_requires(s: PlanState, idents: Iterable[DeptKey]) -> list[str]:
    return [s.created[k] for k in sorted(set(idents)) if k in s.created]


def create_users(s: PlanState) -> None:
    creating = {u: c for u, c in s.d.users.items() if c.kind in ("create", "replace")}
    if not creating:
        return

    def manager_of(userid: UserId) -> UserId | None:
        change = creating[userid]
        assert change.desired is not None
        if change.desired.manager is not None:
            return change.desired.manager or None
        # Unmanaged: the create half of a replace keeps the live manager, unless this plan
        # deletes that person (60128: the manager must exist).
        manager = change.live.manager if change.live is not None else None
        if manager in s.user_deleted and manager not in creating:
            return None
        return manager or None

    # Manager first. Each person has at most one manager, so the dependency graph is a
    # set of chains and loops; a loop among new people is cut by creating one of them
    # without a manager and setting it in phase 5.
    order: list[UserId] = []
    done: set[UserId] = set()
    deferred: dict[UserId, UserId] = {}
    for start in sorted(creating):
        path: list[UserId] = []
        on_path: set[UserId] = set()
        cursor: UserId | None = start
        while cursor is not None and cursor in creating and cursor not in done:
            if cursor in on_path:
                last = path[-1]
                deferred[last] = cursor
                break
            path.append(cursor)
            on_path.add(cursor)
            cursor = manager_of(cursor)
        for userid in reversed(path):
            order.append(userid)
            done.add(userid)
    s.deferred_managers = deferred

    # Values a re-created person would carry over (unmanaged in the YAML) that the YAML
    # gives to someone else: re-creating this person must not take them back.
    carried = {
        (name, unique_key(name, value))
        for change in creating.values()
        if change.live is not None and change.desired is not None
        for name in HANDOFF_FIELDS
        if getattr(change.desired, name) is None and (value := getattr(change.live, name))
    }
    claimed = holders(s.desired, carried) if carried else {}
    givers = s.givers()
    payloads: dict[UserId, dict[str, Any]] = {}
    for userid in order:
        change = creating[userid]
        want = change.desired
        assert want is not None
        payload = _create_payload(want, change.live)
        payload["departments"] = user_refs(s, change)
        payload.pop("manager", None)
        manager = manager_of(userid)
        if manager and userid not in deferred:
            payload["manager"] = manager
        for name in HANDOFF_FIELDS:
            value = payload.get(name)
            if not value:
                continue
            key = (name, unique_key(name, value))
            if getattr(want, name) is None:
                if claimed.get(key, userid) != userid:
                    del payload[name]
            elif givers.get(key, userid) != userid:
                # A kept person gives it up only in phase 5: write it then (60106/40100).
                del payload[name]
                s.deferred_values.setdefault(userid, {})[name] = value
        if "extension" in payload:
            payload["extension"] = dict(payload["extension"])
        payloads[userid] = payload

    # Whoever held a mobile, email or telephone a new account takes is deleted first
    # (60104, 60106, 40100): require it, so a failed delete skips the create.
    held_by = holders(
        s.live,
        {
            (name, unique_key(name, value))
            for payload in payloads.values()
            for name in UNIQUE_USER_FIELDS
            if (value := payload.get(name))
        },
    )
    for userid in order:
        change = creating[userid]
        want = change.desired
        assert want is not None
        payload = payloads[userid]
        manager = payload.get("manager")
        requires: list[str] = []
        if userid in s.user_deleted:
            requires.append(s.user_deleted[userid])
        changes = change.changes
        if userid in s.deferred_values:
            late = s.deferred_values[userid]
            s.deferred_changes[userid] = [c for c in changes if c.name in late]
            changes = tuple(c for c in changes if c.name not in late)
        for name in UNIQUE_USER_FIELDS:
            value = payload.get(name)
            holder = held_by.get((name, unique_key(name, value))) if value else None
            if holder is not None and holder != userid and holder in s.user_deleted:
                requires.append(s.user_deleted[holder])
        if manager and manager in s.user_created:
            requires.append(s.user_created[manager])
        requires.extend(dept_requires(s, want.departments))
        replace_ = change.kind == "replace"
        s.user_created[userid] = s.add(
            Step(
                id=f"user.create:{userid}",
                phase=Phase.CREATE_USERS,
                key=userid,
                body=CreateUser(**payload),
                label=want.name,
                changes=changes,
                requires=unique(requires),
                destructive=replace_,
                note=REPLACE_NOTE if replace_ else "",
            )
        )


def _create_payload(want: User, have: User | None) -> dict[str, Any]:
    """Fields for user/create. For the create half of a replace, fields the YAML leaves
    unmanaged carry over from the live person, so the replace loses nothing we could keep."""
    payload: dict[str, Any] = {"userid": want.userid}
    for name in USER_FIELDS:
        value = getattr(want, name)
        if value is None and have is not None and name != "departments":
            value = getattr(have, name)
        if value is not None:
            payload[name] = value
    return payload
