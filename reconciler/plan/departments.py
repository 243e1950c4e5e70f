"""Department phases of the planner: 1 (create, parents first), 2 (rename, reorder, move,
adopt; shallowest desired depth first) and 7 (delete, deepest first). Pure.

Phase 2 is simulated slot by slot (parent, name), because sibling names are unique (60021).
When a department needs a name another department still holds, and that one will leave (it is
renamed, moved or deleted later), the holder is first renamed in place to a temporary name (a
"park" step: ``department.park:<key>``). A department created where the name is still held is
created under a temporary name and renamed in phase 2. A name held by a department the plan
must keep (unmanaged, or not pruned) cannot be freed: that is a problem (a `ConfigError`).

Moves never make a transient cycle (60010): a department moves only after every desired
ancestor that moves (it requires their steps); ancestors that do not move already sit under
their desired parent, so when it moves under P, P's chain of ancestors is P's desired chain,
which cannot contain the department itself.
"""

from __future__ import annotations

from reconciler.model import ROOT, DeptKey, UserId
from reconciler.plan.diff import FieldChange
from reconciler.plan.state import PlanState, Slot, unique
from reconciler.plan.steps import (
    AdoptDepartment,
    CreateDepartment,
    DeleteDepartment,
    Phase,
    Step,
    UpdateDepartment,
)


def init_slots(s: PlanState) -> None:
    for live_key, dept in s.live.departments.items():
        ident = s.d.ident[live_key]
        parent = ROOT if dept.parent == ROOT else s.d.ident.get(dept.parent, dept.parent)
        slot = (parent, dept.name)
        s.slots[slot] = ident
        s.at[ident] = slot


def leaves(s: PlanState, ident: DeptKey) -> bool:
    """Will this department give up its current slot later in phase 2 or 7?"""
    change = s.d.departments.get(ident)
    if change is None:
        return False
    if change.kind == "delete":
        return True
    want = change.desired
    return want is not None and (want.parent, want.name) != s.at[ident]


def blocked(s: PlanState, ident: DeptKey, holder: DeptKey, slot: Slot) -> None:
    where = s.dept_label(slot[0]) if slot[0] != ROOT else "the root"
    if holder in s.desired.departments:
        why = "both are meant to have that name there"
    elif holder in s.d.unmanaged:
        why = "it is in an unmanaged subtree"
    elif holder in s.d.kept_departments:
        why = f"it cannot be deleted ({s.d.kept_departments[holder]})"
    else:
        why = "it is not in the YAML and prune_departments is off"
    s.problem(
        ident,
        f"the name {slot[1]!r} under {where} is held by live department "
        f"{holder} ({s.dept_label(holder)}), which the plan keeps: {why} "
        "(DingTalk 60021)",
    )


def create_departments(s: PlanState) -> None:
    creates = sorted(
        (c for c in s.d.departments.values() if c.kind == "create"),
        key=lambda c: (s.desired.depth(c.key), c.key),
    )
    for change in creates:
        want = change.desired
        assert want is not None
        key = want.key
        slot = (want.parent, want.name)
        name = want.name
        note = ""
        holder = s.slots.get(slot)
        if holder is not None:
            if not leaves(s, holder):
                blocked(s, key, holder, slot)
            name = s.temp_name(want.name)
            s.renamed_later[key] = name
            note = (
                f"created as {name!r} until {holder} gives up the name "
                "(DingTalk 60021: sibling names are unique)"
            )
        s.slots[(want.parent, name)] = key
        s.at[key] = (want.parent, name)
        requires = (s.created[want.parent],) if want.parent in s.created else ()
        s.created[key] = s.add(
            Step(
                id=f"department.create:{key}",
                phase=Phase.CREATE_DEPARTMENTS,
                key=key,
                body=CreateDepartment(
                    key=key, name=name, parent=s.ref(want.parent), order=want.order
                ),
                label=s.dept_label(key),
                changes=change.changes,
                requires=requires,
                note=note,
            )
        )


def park(s: PlanState, holder: DeptKey, for_key: DeptKey) -> str:
    parent, name = slot = s.at[holder]
    temp = s.temp_name(name)
    step_id = f"department.park:{holder}"
    del s.slots[slot]
    s.slots[(parent, temp)] = holder
    s.at[holder] = (parent, temp)
    s.freed_by[slot] = step_id
    s.parked[holder] = step_id
    return s.add(
        Step(
            id=step_id,
            phase=Phase.UPDATE_DEPARTMENTS,
            key=holder,
            body=UpdateDepartment(dept=s.ref(holder), name=temp),
            label=s.dept_label(holder),
            changes=(FieldChange("name", name, temp),),
            note=(
                f"temporary name: frees {name!r} for {for_key} "
                "(DingTalk 60021: sibling names are unique)"
            ),
        )
    )


def update_departments(s: PlanState) -> None:
    movers = [
        c.key for c in s.d.departments.values() if c.kind in ("update", "adopt") and c.changes
    ]
    movers.extend(s.renamed_later)
    movers.sort(key=lambda k: (s.desired.depth(k), k))
    for key in movers:
        want = s.desired.departments[key]
        change = s.d.departments[key]
        adopt = change.kind == "adopt"
        step_id = f"department.{'adopt' if adopt else 'update'}:{key}"
        current = s.at[key]
        target = (want.parent, want.name)
        requires: list[str] = []
        if key in s.parked:
            requires.append(s.parked[key])
        if target != current:
            holder = s.slots.get(target)
            if holder is not None and holder != key:
                if leaves(s, holder):
                    requires.append(park(s, holder, key))
                else:
                    blocked(s, key, holder, target)
            if target in s.freed_by:
                requires.append(s.freed_by[target])
            del s.slots[current]
            s.slots[target] = key
            s.at[key] = target
            s.freed_by[current] = step_id
        new_name = want.name if target[1] != current[1] else None
        new_parent: DeptKey | None = None
        order: int | None = None
        if target[0] != current[0]:
            new_parent = s.ref(want.parent)
            if want.parent in s.created:
                requires.append(s.created[want.parent])
            s.moved[key] = step_id
        if key in s.renamed_later:
            changes: tuple[FieldChange, ...] = (
                FieldChange("name", s.renamed_later[key], want.name),
            )
            requires.append(s.created[key])
            note = "the temporary name is no longer needed"
        else:
            changes = change.changes
            note = "adopt: writes the key into source_identifier" if adopt else ""
            for c in change.changes:
                if c.name == "order":
                    assert isinstance(c.new, int)
                    order = c.new
        # Every desired ancestor that moves must have moved first: then this move cannot
        # close a cycle (60010), whatever order the steps of this phase run in.
        requires.extend(s.moved[a] for a in s.desired.ancestors(key) if a in s.moved)
        body: AdoptDepartment | UpdateDepartment
        if adopt:
            body = AdoptDepartment(
                dept=s.ref(key),
                source_identifier=key,
                name=new_name,
                parent=new_parent,
                order=order,
            )
        else:
            body = UpdateDepartment(dept=s.ref(key), name=new_name, parent=new_parent, order=order)
        s.final_step[key] = s.add(
            Step(
                id=step_id,
                phase=Phase.UPDATE_DEPARTMENTS,
                key=key,
                body=body,
                label=s.dept_label(key),
                changes=changes,
                requires=unique(requires),
                note=note,
            )
        )


def delete_departments(s: PlanState) -> None:
    doomed = [c.key for c in s.d.departments.values() if c.kind == "delete"]
    if not doomed:
        return
    doomed_set = set(doomed)
    members: dict[DeptKey, list[UserId]] = {}
    for userid, have in s.live.users.items():
        for live_key in have.departments:
            if live_key in doomed_set:
                members.setdefault(live_key, []).append(userid)
    children: dict[DeptKey, list[DeptKey]] = {}
    for live_key, dept in s.live.departments.items():
        if dept.parent in doomed_set:
            children.setdefault(dept.parent, []).append(s.d.ident[live_key])
    deleted: dict[DeptKey, str] = {}
    doomed.sort(key=lambda k: (-s.live.depth(k), k))
    for key in doomed:
        requires: list[str] = []
        for child in sorted(children.get(key, ())):
            if child in deleted:
                requires.append(deleted[child])
            elif child in s.final_step:
                requires.append(s.final_step[child])
        for userid in sorted(members.get(key, ())):
            if userid in s.user_deleted:
                requires.append(s.user_deleted[userid])
            if userid in s.user_updated:
                requires.append(s.user_updated[userid])
        deleted[key] = s.add(
            Step(
                id=f"department.delete:{key}",
                phase=Phase.DELETE_DEPARTMENTS,
                key=key,
                body=DeleteDepartment(dept=s.ref(key)),
                label=s.dept_label(key),
                requires=unique(requires),
                destructive=True,
                note="pruned: not in the YAML",
            )
        )
