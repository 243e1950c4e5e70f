"""A tiny in-memory DingTalk that enforces the rules a plan's order must respect.

Not the sandbox (that one speaks HTTP): this executes `Step`s directly, so property tests can
run thousands of plans. Rules, with DingTalk's errcodes:

* departments: parent exists (60004), sibling names unique (60021), valid names (60001/60009),
  no cycle on move (60010), root never changed (60007/60018), no delete with members (60005)
  or sub-departments (60006);
* users: userid unique (60102), mobile unique (60104), email unique ignoring case (60106),
  telephone (extension number) unique (40100), departments exist (60003), manager exists
  (60128), at least one department (40066); an empty email or telephone clears it;
* managers are always members of their department (DingTalk: "不存在的userId");
* deleting a person drops them from every manager list and from their reports' manager field
  (the pessimistic reading: re-creating them does not restore either).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import ROOT, ROOT_DEPT_ID, USER_FIELDS, Department, Org, User, unkeyed
from reconciler.plan.planner import Action, Plan, Step

UNIQUE_ERRCODES = {"email": 60106, "telephone": 40100}
"""Unique per org besides the mobile (checked on its own: it cannot be updated)."""


def unique_key(name: str, value: str) -> str:
    # The loader treats emails as equal ignoring case; so does this model, to be safe.
    return value.casefold() if name == "email" else value


class RuleBroken(AssertionError):
    def __init__(self, errcode: int, step: Step, message: str) -> None:
        super().__init__(f"{errcode} at {step.id}: {message}")
        self.errcode = errcode


@dataclass
class SimDept:
    dept_id: int
    name: str
    parent_id: int
    order: int | None = None
    source_identifier: str | None = None
    managers: list[str] = field(default_factory=list)


@dataclass
class SimUser:
    userid: str
    fields: dict[str, Any]
    dept_ids: set[int]


class SimDingTalk:
    def __init__(self) -> None:
        self.depts: dict[int, SimDept] = {}
        self.users: dict[str, SimUser] = {}
        self.next_id = 1000
        self.applied: list[str] = []

    # -- conversion ---------------------------------------------------------------------------

    @classmethod
    def from_org(cls, live: Org) -> SimDingTalk:
        sim = cls()
        ids = {ROOT: ROOT_DEPT_ID}
        for key, d in live.departments.items():
            assert d.dept_id is not None
            ids[key] = d.dept_id
        for d in live.departments.values():
            assert d.dept_id is not None
            sim.depts[d.dept_id] = SimDept(
                d.dept_id,
                d.name,
                ids[d.parent],
                d.order,
                d.source_identifier,
                list(d.managers or ()),
            )
        for userid, u in live.users.items():
            values = {name: getattr(u, name) for name in USER_FIELDS if name != "departments"}
            sim.users[userid] = SimUser(userid, values, {ids[k] for k in u.departments})
        return sim

    def key_of(self, dept_id: int) -> str:
        if dept_id == ROOT_DEPT_ID:
            return ROOT
        d = self.depts[dept_id]
        return d.source_identifier or unkeyed(dept_id)

    def to_org(self) -> Org:
        departments = [
            Department(
                key=self.key_of(d.dept_id),
                name=d.name,
                parent=self.key_of(d.parent_id),
                order=d.order,
                managers=tuple(sorted(d.managers)),
                dept_id=d.dept_id,
                source_identifier=d.source_identifier,
            )
            for d in self.depts.values()
        ]
        users = []
        for u in self.users.values():
            values = {k: v for k, v in u.fields.items() if v is not None}
            users.append(
                User(
                    userid=u.userid,
                    departments=tuple(sorted(self.key_of(i) for i in u.dept_ids)),
                    **values,
                )
            )
        return Org.of(departments, users)

    # -- execution ----------------------------------------------------------------------------

    def apply(
        self, plan: Plan, order: Iterable[Step] | None = None, live: Org | None = None
    ) -> None:
        """Run the steps (in plan order unless given); refs resolve like apply does."""
        refs: dict[str, int] = {ROOT: ROOT_DEPT_ID}
        for d in self.depts.values():
            refs[self.key_of(d.dept_id)] = d.dept_id
        for step in order if order is not None else plan.steps:
            self.run(step, refs)
            self.check_managers(step)
            self.applied.append(step.id)

    def resolve(self, refs: Mapping[str, int], ref: str, step: Step) -> int:
        if ref not in refs:
            raise RuleBroken(60003, step, f"department ref {ref!r} unknown")
        dept_id = refs[ref]
        if dept_id != ROOT_DEPT_ID and dept_id not in self.depts:
            raise RuleBroken(60003, step, f"department {ref!r} does not exist")
        return dept_id

    def run(self, step: Step, refs: dict[str, int]) -> None:
        p = step.payload
        if step.action is Action.CREATE_DEPARTMENT:
            parent = self.resolve(refs, p["parent"], step)
            self.check_name(step, p["name"], parent, None)
            dept_id = self.next_id
            self.next_id += 1
            self.depts[dept_id] = SimDept(dept_id, p["name"], parent, p.get("order"), p["key"])
            refs[p["key"]] = dept_id
        elif step.action in (Action.UPDATE_DEPARTMENT, Action.ADOPT_DEPARTMENT):
            dept_id = self.resolve(refs, p["dept"], step)
            if dept_id == ROOT_DEPT_ID:
                raise RuleBroken(60018, step, "root cannot be updated")
            d = self.depts[dept_id]
            parent = self.resolve(refs, p["parent"], step) if "parent" in p else d.parent_id
            name = p.get("name", d.name)
            if parent != d.parent_id:
                cursor = parent
                while cursor != ROOT_DEPT_ID:
                    if cursor == dept_id:
                        raise RuleBroken(60010, step, "move would make a cycle")
                    cursor = self.depts[cursor].parent_id
            self.check_name(step, name, parent, dept_id)
            d.parent_id, d.name = parent, name
            if "order" in p:
                d.order = p["order"]
            if "source_identifier" in p:
                d.source_identifier = p["source_identifier"]
        elif step.action is Action.SET_MANAGERS:
            dept_id = self.resolve(refs, p["dept"], step)
            self.depts[dept_id].managers = list(p["managers"])
        elif step.action is Action.DELETE_DEPARTMENT:
            dept_id = self.resolve(refs, p["dept"], step)
            if dept_id == ROOT_DEPT_ID:
                raise RuleBroken(60007, step, "root cannot be deleted")
            if any(dept_id in u.dept_ids for u in self.users.values()):
                raise RuleBroken(60005, step, "department has members")
            if any(d.parent_id == dept_id for d in self.depts.values()):
                raise RuleBroken(60006, step, "department has sub-departments")
            del self.depts[dept_id]
        elif step.action is Action.DELETE_USER:
            userid = p["userid"]
            if userid not in self.users:
                raise RuleBroken(60121, step, "no such user")
            del self.users[userid]
            for d in self.depts.values():
                if userid in d.managers:
                    d.managers.remove(userid)
            for u in self.users.values():
                if u.fields.get("manager") == userid:
                    u.fields["manager"] = None
        elif step.action is Action.CREATE_USER:
            userid = p["userid"]
            if userid in self.users:
                raise RuleBroken(60102, step, "userid exists")
            mobile = p.get("mobile")
            if mobile and any(u.fields.get("mobile") == mobile for u in self.users.values()):
                raise RuleBroken(60104, step, "mobile exists")
            self.check_unique(step, userid, p)
            dept_ids = self.dept_ids(refs, p["departments"], step)
            self.check_manager(step, p.get("manager"))
            values: dict[str, Any] = dict.fromkeys(USER_FIELDS)
            values.pop("departments")
            for k, v in p.items():
                if k not in ("userid", "departments"):
                    values[k] = dict(v) if isinstance(v, Mapping) else v
            self.users[userid] = SimUser(userid, values, dept_ids)
            self.drop_empty(self.users[userid])
        elif step.action is Action.UPDATE_USER:
            userid = p["userid"]
            if userid not in self.users:
                raise RuleBroken(60121, step, "no such user")
            u = self.users[userid]
            if "mobile" in p:
                raise RuleBroken(40022, step, "mobile cannot be updated")
            if "departments" in p:
                u.dept_ids = self.dept_ids(refs, p["departments"], step)
            if "manager" in p:
                self.check_manager(step, p["manager"])
            self.check_unique(step, userid, p)
            for k, v in p.items():
                if k not in ("userid", "departments"):
                    u.fields[k] = dict(v) if isinstance(v, Mapping) else v
            self.drop_empty(u)
        else:  # pragma: no cover - every action is handled above
            raise AssertionError(step.action)

    def dept_ids(self, refs: Mapping[str, int], keys: Iterable[str], step: Step) -> set[int]:
        result = {self.resolve(refs, k, step) for k in keys}
        if not result:
            raise RuleBroken(40066, step, "a person needs a department")
        return result

    def check_unique(self, step: Step, userid: str, payload: Mapping[str, Any]) -> None:
        """60106 / 40100 for the email and telephone a create or update writes."""
        for name, errcode in UNIQUE_ERRCODES.items():
            value = payload.get(name)
            if not value:
                continue  # absent: unchanged; empty: cleared
            key = unique_key(name, value)
            for other in self.users.values():
                held = other.fields.get(name)
                if other.userid != userid and held and unique_key(name, held) == key:
                    raise RuleBroken(errcode, step, f"{name} {value!r} held by {other.userid}")

    @staticmethod
    def drop_empty(user: SimUser) -> None:
        # DingTalk stores a cleared email or telephone as absent (reads omit empty values).
        for name in UNIQUE_ERRCODES:
            if user.fields.get(name) == "":
                user.fields[name] = None

    def check_manager(self, step: Step, manager: str | None) -> None:
        if manager and manager not in self.users:
            raise RuleBroken(60128, step, f"manager {manager} does not exist")

    def check_name(self, step: Step, name: str, parent: int, self_id: int | None) -> None:
        if not name or len(name) > 64 or any(c in name for c in "-,，"):
            raise RuleBroken(60009, step, f"invalid name {name!r}")
        if parent != ROOT_DEPT_ID and parent not in self.depts:
            raise RuleBroken(60004, step, "parent does not exist")
        for d in self.depts.values():
            if d.parent_id == parent and d.name == name and d.dept_id != self_id:
                raise RuleBroken(60021, step, f"sibling {name!r} exists")

    def check_managers(self, step: Step) -> None:
        for d in self.depts.values():
            for m in d.managers:
                if m not in self.users or d.dept_id not in self.users[m].dept_ids:
                    raise RuleBroken(40031, step, f"manager {m} of {d.name} is not a member")
