"""Phases 5 and 6 of the planner: update users (fields, membership; before them, managers
who are about to lose their membership come off the department's manager list) and set
department managers (they are members by now). Pure.

The order of the updates, and the release steps that break swaps of emails and telephones,
come from `reconciler.plan.handoffs`.
"""

from __future__ import annotations

from typing import Any

from reconciler.model import DeptKey, UserId
from reconciler.plan.diff import UNIQUE_ERRCODES, FieldChange, unique_key
from reconciler.plan.handoffs import Update, order_handoffs
from reconciler.plan.people import dept_requires, user_refs
from reconciler.plan.state import PlanState, unique
from reconciler.plan.steps import Phase, SetManagers, Step


def update_users(s: PlanState) -> None:
    live_managers: dict[DeptKey, frozenset[UserId]] = {}
    for live_key, dept in s.live.departments.items():
        if dept.managers and live_key not in s.d.unmanaged:
            live_managers[s.d.ident[live_key]] = frozenset(dept.managers)
    # A manager who loses their membership is first taken off the manager list: DingTalk
    # keeps managers among the members.
    leaving: dict[UserId, list[DeptKey]] = {}
    for userid, change in s.d.users.items():
        if change.kind not in ("update", "prune") or change.live is None:
            continue
        if not any(c.name == "departments" for c in change.changes):
            continue
        final = set(change.final_departments)
        for live_key in change.live.departments:
            ident = s.d.ident.get(live_key, live_key)
            if ident not in final and userid in live_managers.get(ident, ()):
                leaving.setdefault(userid, []).append(ident)
    for ident in sorted({i for idents in leaving.values() for i in idents}):
        before = tuple(sorted(live_managers[ident]))
        after = s.d.live_managers_after.get(ident, ())
        s.clears[ident] = s.add(
            Step(
                id=f"department.clear-managers:{ident}",
                phase=Phase.UPDATE_USERS,
                key=ident,
                body=SetManagers(dept=s.ref(ident), managers=after),
                label=s.dept_label(ident),
                changes=(FieldChange("managers", before, after),),
                note="managers who leave the department go off its manager list first",
            )
        )

    relink: dict[UserId, UserId] = {}
    replaced = {u for u, c in s.d.users.items() if c.kind == "replace"}
    if replaced:
        # DingTalk drops a deleted person from their reports' manager field; re-creating
        # them does not restore it.
        for userid, want in s.desired.users.items():
            if userid in s.user_created:
                continue
            have = s.live.users.get(userid)
            manager = (
                want.manager
                if want.manager is not None
                else (have.manager if have is not None else None)
            )
            if manager in replaced:
                relink[userid] = manager

    updates: list[Update] = []
    for userid in sorted({*s.d.users, *relink, *s.deferred_managers, *s.deferred_values}):
        found = s.d.users.get(userid)
        payload: dict[str, Any] = {"userid": userid}
        changes: tuple[FieldChange, ...] = ()
        requires: list[str] = []
        notes: list[str] = []
        label = ""
        if found is not None and found.kind in ("update", "prune"):
            change = found
            changes = change.changes
            for c in change.changes:
                if c.name == "departments":
                    payload["departments"] = user_refs(s, change)
                    requires.extend(dept_requires(s, change.final_departments))
                else:
                    payload[c.name] = c.new
            requires.extend(s.clears[i] for i in sorted(leaving.get(userid, ())))
            if change.kind == "prune":
                notes.append(
                    "pruned from managed departments: not in the YAML; stays in its unmanaged ones"
                )
            have = change.live
            assert have is not None
            label = change.desired.name if change.desired else have.name
        elif userid in s.deferred_managers or userid in s.deferred_values:
            requires.append(s.user_created[userid])
            label = s.desired.users[userid].name
            if userid in s.deferred_managers:
                payload["manager"] = s.deferred_managers[userid]
                notes.append("manager set after creation: these new people manage each other")
            late = s.deferred_values.get(userid, {})
            if late:
                payload.update(late)
                changes = tuple(s.deferred_changes[userid])
                givers = s.givers()
                for name, value in late.items():
                    giver = givers[(name, unique_key(name, value))]
                    notes.append(
                        f"{name} set once {giver} gives it up "
                        f"(DingTalk {UNIQUE_ERRCODES[name]}: unique)"
                    )
        elif userid not in relink:
            continue
        if userid in relink and "manager" not in payload:
            payload["manager"] = relink[userid]
            notes.append(f"re-links the manager to the re-created {relink[userid]}")
            label = label or s.desired.users[userid].name
        manager = payload.get("manager")
        if manager and manager in s.user_created:
            requires.append(s.user_created[manager])
        updates.append(Update(userid, label, changes, payload, requires, notes))

    for update in order_handoffs(s, updates):
        s.user_updated[update.userid] = s.add(
            Step(
                id=f"user.update:{update.userid}",
                phase=Phase.UPDATE_USERS,
                key=update.userid,
                body=update.body(),
                label=update.label,
                changes=update.changes,
                requires=unique(update.requires),
                note="; ".join(update.notes),
            )
        )


def set_managers(s: PlanState) -> None:
    for key in sorted(s.desired.departments, key=lambda k: (s.desired.depth(k), k)):
        want = s.desired.departments[key]
        if want.managers is None:
            continue
        final = tuple(sorted(want.managers))
        created = key in s.created
        before: tuple[UserId, ...] = () if created else s.d.live_managers_after.get(key, ())
        if final == before:
            continue
        requires: list[str] = [s.created[key]] if created else []
        for userid in final:
            if userid in s.user_created:
                requires.append(s.user_created[userid])
            elif userid in s.user_updated:
                requires.append(s.user_updated[userid])
        old: object = None if created else before
        note = ""
        if not created:
            have = s.live.departments[s.d.live_key[key]]
            if before != tuple(sorted(have.managers or ())):
                note = "after managers who left, or were deleted to be re-created, came off"
        s.add(
            Step(
                id=f"department.managers:{key}",
                phase=Phase.SET_MANAGERS,
                key=key,
                body=SetManagers(dept=s.ref(key), managers=final),
                label=s.dept_label(key),
                changes=(FieldChange("managers", old, final),),
                requires=unique(requires),
                note=note,
            )
        )
