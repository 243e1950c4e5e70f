"""Which steps must finish before which: the plan's ``requires`` plus the orderings DingTalk's
rules need, derived from what each step touches. Pure.

A plan lists its steps in an order that is correct when run one at a time. To run them
concurrently, `step_dependencies` adds an edge wherever two steps touch the same thing: a
department exists before anything goes into it and is emptied before it is deleted, a mobile
or email is freed before someone else takes it (60104, 60106, 40100), a sibling name is freed
before it is reused (60021), an ancestor is in place before a descendant moves under it (so no
transient cycle, 60010), managers are members before they are set. Every derived edge points
from an earlier step to a later one in plan order, so the graph is acyclic and any schedule it
allows does what the sequential plan would. Steps that touch nothing in common run together.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from reconciler.model import ROOT, DeptKey, Org, UserId
from reconciler.plan.steps import (
    Action,
    AdoptDepartment,
    CreateDepartment,
    CreateUser,
    DeleteDepartment,
    DeleteUser,
    DepartmentBody,
    SetManagers,
    Step,
    UpdateDepartment,
    UpdateUser,
)

API_OF_ACTION: Mapping[Action, str] = {
    Action.CREATE_DEPARTMENT: "department/create",
    Action.UPDATE_DEPARTMENT: "department/update",
    Action.ADOPT_DEPARTMENT: "department/update",
    Action.SET_MANAGERS: "department/update",
    Action.DELETE_DEPARTMENT: "department/delete",
    Action.DELETE_USER: "user/delete",
    Action.CREATE_USER: "user/create",
    Action.UPDATE_USER: "user/update",
}
"""The DingTalk API each action writes through: each has its own 20 QPS budget."""


def execution_order(steps: Sequence[Step]) -> list[Step]:
    """Plan order, moved only as far as ``requires`` forces (stable topological sort).

    Raises ValueError for a ``requires`` naming an unknown step, or a cycle.
    """
    index = {step.id: i for i, step in enumerate(steps)}
    if len(index) != len(steps):
        raise ValueError("plan has duplicate step ids")
    dependents: dict[str, list[str]] = {step.id: [] for step in steps}
    missing: dict[str, int] = {}
    for step in steps:
        required = set(step.requires)
        for req in required:
            if req not in index:
                raise ValueError(f"plan step {step.id} requires unknown step {req}")
            dependents[req].append(step.id)
        missing[step.id] = len(required)
    ready = [(index[s.id], s.id) for s in steps if missing[s.id] == 0]
    heapq.heapify(ready)
    order: list[Step] = []
    while ready:
        _, step_id = heapq.heappop(ready)
        order.append(steps[index[step_id]])
        for dependent in dependents[step_id]:
            missing[dependent] -= 1
            if missing[dependent] == 0:
                heapq.heappush(ready, (index[dependent], dependent))
    if len(order) != len(steps):
        stuck = sorted(step_id for step_id, n in missing.items() if n > 0)
        raise ValueError(f"plan steps require each other in a cycle: {', '.join(stuck[:5])}")
    return order


Claim = tuple[str, bool]  # (resource, exclusive)


def step_dependencies(steps: Sequence[Step], live: Org) -> dict[str, frozenset[str]]:
    """For each step, the steps that must finish before it starts.

    ``requires`` plus edges derived from shared resources (readers/writer ordering along the
    execution order, so the result is acyclic).
    """
    order = execution_order(steps)
    parents = _final_parents(order, live)
    last_writer: dict[str, str] = {}
    readers: dict[str, list[str]] = {}
    deps: dict[str, set[str]] = {}
    for step in order:
        mine = set(step.requires)
        for resource, exclusive in _claims(step, live, parents):
            writer = last_writer.get(resource)
            if writer is not None and writer != step.id:
                mine.add(writer)
            if exclusive:
                mine.update(r for r in readers.get(resource, ()) if r != step.id)
                last_writer[resource] = step.id
                readers[resource] = []
            else:
                readers.setdefault(resource, []).append(step.id)
        deps[step.id] = mine
    return {step_id: frozenset(d) for step_id, d in deps.items()}


def named_users(step: Step) -> list[UserId]:
    """People a step needs to exist: a manager it sets, managers it adds to a department."""
    body = step.body
    if isinstance(body, CreateUser | UpdateUser):
        return [body.manager] if body.manager else []
    if isinstance(body, SetManagers):
        return sorted(set(body.managers))
    return []


def _final_parents(steps: Sequence[Step], live: Org) -> dict[DeptKey, DeptKey]:
    """Each department's parent ref once the plan is applied (live, overlaid by the plan)."""
    parents = {key: dept.parent for key, dept in live.departments.items()}
    for step in steps:
        body = step.body
        if isinstance(body, CreateDepartment | UpdateDepartment | AdoptDepartment) and body.parent:
            parents[body.ref] = body.parent
    return parents


def _ancestors(key: DeptKey, parents: Mapping[DeptKey, DeptKey]) -> list[DeptKey]:
    found: list[DeptKey] = []
    seen = {key}
    while key in parents:
        key = parents[key]
        if key == ROOT or key in seen:
            break
        seen.add(key)
        found.append(key)
    return found


def _slot(parent: DeptKey, name: str) -> str:
    return f"slot:{parent}\x00{name}"


def _claims(step: Step, live: Org, parents: Mapping[DeptKey, DeptKey]) -> list[Claim]:
    """The resources a step touches (by ref); exclusive claims are ordered against every
    other claim of the resource, shared ones only against exclusive ones."""
    body = step.body
    if isinstance(body, CreateUser | UpdateUser | DeleteUser):
        return _user_claims(body, live)
    return _department_claims(step, body, live, parents)


def _department_claims(
    step: Step, body: DepartmentBody, live: Org, parents: Mapping[DeptKey, DeptKey]
) -> list[Claim]:
    ref = body.ref
    claims: list[Claim] = []
    have = live.departments.get(ref)
    before = (have.parent, have.name) if have is not None else None
    if isinstance(body, CreateDepartment):
        under = body.parent or ROOT
        claims += [(f"id:{ref}", True), (f"attrs:{ref}", True), (f"id:{under}", False)]
        claims.append((_slot(under, body.name), True))
    elif isinstance(body, UpdateDepartment | AdoptDepartment):
        parent = body.parent
        claims += [(f"id:{ref}", False), (f"attrs:{ref}", True)]
        if parent is not None:
            claims.append((f"id:{parent}", False))
            # Moving under a parent whose own place is still changing could close a cycle for
            # a moment (60010): wait until every desired ancestor is where it belongs.
            claims += [(f"attrs:{a}", False) for a in _ancestors(ref, parents)]
            if before is not None:
                claims.append((f"children:{before[0]}", False))
        if (parent is not None or body.name is not None) and before is not None:
            # Sibling names are unique (60021): free the old slot, take the new one.
            after = (parent or before[0], body.name or before[1])
            claims += [(_slot(*before), True), (_slot(*after), True)]
    elif isinstance(body, SetManagers):
        claims += [(f"id:{ref}", False), (f"managers:{ref}", True)]
        # Managers must be members when they are set (DingTalk rejects others), and one who
        # leaves the department goes off the list first: order against both kinds of people.
        for userid in sorted({*_old_managers(step, ref, live), *body.managers}):
            claims.append((f"user:{userid}", False))
    elif isinstance(body, DeleteDepartment):
        # Only an empty department can go (60005 members, 60006 sub-departments).
        claims += [(f"id:{ref}", True), (f"attrs:{ref}", True)]
        claims += [(f"members:{ref}", True), (f"children:{ref}", True)]
        claims.append((f"managers:{ref}", True))
        if before is not None:
            claims += [(f"children:{before[0]}", False), (_slot(*before), True)]
    return claims


def _old_managers(step: Step, ref: DeptKey, live: Org) -> tuple[UserId, ...]:
    for change in step.changes:
        if change.name == "managers" and change.old is not None:
            old = change.old
            if isinstance(old, str):
                return (old,)
            if isinstance(old, Sequence):
                return tuple(str(v) for v in old)
            raise TypeError(f"step {step.id}: managers were {type(old).__name__}, not a list")
    dept = live.departments.get(ref)
    return dept.managers or () if dept is not None else ()


def _user_claims(body: CreateUser | UpdateUser | DeleteUser, live: Org) -> list[Claim]:
    userid = body.userid
    claims: list[Claim] = [(f"user:{userid}", True)]
    have = live.users.get(userid)
    # A create is a new account: the live one (if any) is the half a replace deletes first.
    before = have.departments if have is not None and not isinstance(body, CreateUser) else ()
    after: tuple[DeptKey, ...]
    if isinstance(body, DeleteUser):
        after = ()
    elif body.departments is not None:
        after = body.departments
    else:
        after = before
    claims += [(f"id:{d}", False) for d in after if d not in before]
    claims += [(f"members:{d}", False) for d in before if d not in after]
    if not isinstance(body, DeleteUser) and body.manager:
        claims.append((f"user:{body.manager}", False))
    # Mobile, email and extension number are unique in the org (60104, 60106, 40100): the
    # one who frees a value goes before the one who takes it.
    for name in ("mobile", "email", "telephone"):
        values: list[object] = []
        sent = getattr(body, name, None)
        if isinstance(body, DeleteUser) or (isinstance(body, UpdateUser) and sent is not None):
            values.append(getattr(have, name, None))  # frees the live value
        if not isinstance(body, DeleteUser):
            values.append(sent)  # takes the new one
        claims += [(f"{name}:{v}", True) for v in values if isinstance(v, str) and v]
    return claims


__all__ = ["API_OF_ACTION", "Claim", "execution_order", "named_users", "step_dependencies"]
