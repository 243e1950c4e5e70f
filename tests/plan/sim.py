"""A tiny in-memory DingTalk that enforces the rules a plan's order must respect.

Not the sandbox (that one speaks HTTP): this executes `Step`s directly, so property tests can
run thousands of plans. Every check comes from the sandbox's rulebook
(`reconciler.sandbox.rules`: 60001/60003/60004/60005/60006/60007/60009/60010/60018/60021,
60102/60104/60105/60106/40100/60112/60121/60128/40066, 40031) through the `Directory`
facts this class answers, so the simulator and the sandbox cannot disagree on a rule. On top:

* managers are always members of their department, checked after *every* step (stricter than
  DingTalk, which drops a manager who leaves: a plan must not rely on that);
* ``""`` in an update clears a field only on a profile with `empty_string_clears` (the lenient
  reading); on the strict one it leaves the field as it was, except the manager (apply clears
  it through ``force_update_fields``);
* deleting a person drops them from every manager list and from their reports' manager field
  (the pessimistic reading: re-creating them does not restore either).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import ROOT, ROOT_DEPT_ID, USER_FIELDS, Department, Org, User, unkeyed
from reconciler.plan.planner import Action, Plan, Step
from reconciler.sandbox import STRICT, Profile, rules
from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.rules import UniqueField, unique_key

CLEARABLE = ("email", "telephone")
"""Unique values a plan may release (the mobile cannot be updated at all)."""


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
    def __init__(self, profile: Profile = STRICT) -> None:
        self.profile = profile
        self.depts: dict[int, SimDept] = {}
        self.users: dict[str, SimUser] = {}
        self.next_id = 1000
        self.applied: list[str] = []

    # -- the rulebook's Directory ----------------------------------------------------------

    def dept_exists(self, dept_id: int) -> bool:
        return dept_id == ROOT_DEPT_ID or dept_id in self.depts

    def dept_name(self, dept_id: int) -> str:
        return self.depts[dept_id].name

    def parent_of(self, dept_id: int) -> int | None:
        d = self.depts.get(dept_id)
        return None if d is None else d.parent_id

    def sibling_named(self, parent_id: int, name: str) -> int | None:
        for d in self.depts.values():
            if d.parent_id == parent_id and d.name == name:
                return d.dept_id
        return None

    def has_children(self, dept_id: int) -> bool:
        return any(d.parent_id == dept_id for d in self.depts.values())

    def has_members(self, dept_id: int) -> bool:
        subtree = {dept_id}
        grew = True
        while grew:
            below = {d.dept_id for d in self.depts.values() if d.parent_id in subtree}
            grew = not below <= subtree
            subtree |= below
        return any(u.dept_ids & subtree for u in self.users.values())

    def members(self, dept_id: int) -> set[str]:
        return {u.userid for u in self.users.values() if dept_id in u.dept_ids}

    def user_exists(self, userid: str) -> bool:
        return userid in self.users

    def holder(self, field: UniqueField, value: str) -> str | None:
        key = unique_key(field, value)
        for u in self.users.values():
            held = u.fields.get(field)
            if held and unique_key(field, held) == key:
                return u.userid
        return None

    # -- conversion ---------------------------------------------------------------------------

    @classmethod
    def from_org(cls, live: Org, profile: Profile = STRICT) -> SimDingTalk:
        sim = cls(profile)
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
        """The id a department ref stands for. Whether it still exists is the rulebook's
        question (60003 / 60004, depending on the call)."""
        if ref not in refs:
            raise RuleBroken(60003, step, f"department ref {ref!r} unknown")
        return refs[ref]

    def run(self, step: Step, refs: dict[str, int]) -> None:
        """Execute one step; a broken rule raises RuleBroken with DingTalk's errcode."""
        try:
            self._run(step, refs)
        except ApiError as error:
            raise RuleBroken(error.errcode, step, error.errmsg) from None

    def _run(self, step: Step, refs: dict[str, int]) -> None:
        p = step.payload
        if step.action is Action.CREATE_DEPARTMENT:
            parent = self.resolve(refs, p["parent"], step)
            rules.check_create_department(self, p["name"], parent)
            dept_id = self.next_id
            self.next_id += 1
            self.depts[dept_id] = SimDept(dept_id, p["name"], parent, p.get("order"), p["key"])
            refs[p["key"]] = dept_id
        elif step.action in (Action.UPDATE_DEPARTMENT, Action.ADOPT_DEPARTMENT):
            dept_id = self.resolve(refs, p["dept"], step)
            new_parent = self.resolve(refs, p["parent"], step) if "parent" in p else None
            rules.check_update_department(self, dept_id, p.get("name"), new_parent)
            d = self.depts[dept_id]
            d.parent_id = d.parent_id if new_parent is None else new_parent
            d.name = p.get("name", d.name)
            if "order" in p:
                d.order = p["order"]
            if "source_identifier" in p:
                d.source_identifier = p["source_identifier"]
        elif step.action is Action.SET_MANAGERS:
            dept_id = self.resolve(refs, p["dept"], step)
            rules.check_managers(self, dept_id, p["managers"])
            self.depts[dept_id].managers = list(p["managers"])
        elif step.action is Action.DELETE_DEPARTMENT:
            dept_id = self.resolve(refs, p["dept"], step)
            rules.check_delete_department(self, dept_id)
            del self.depts[dept_id]
        elif step.action is Action.DELETE_USER:
            userid = p["userid"]
            rules.check_delete_user(self, userid)
            del self.users[userid]
            for d in self.depts.values():
                if userid in d.managers:
                    d.managers.remove(userid)
            for u in self.users.values():
                if u.fields.get("manager") == userid:
                    u.fields["manager"] = None
        elif step.action is Action.CREATE_USER:
            userid = p["userid"]
            dept_ids = [self.resolve(refs, k, step) for k in p["departments"]]
            rules.check_create_user(
                self,
                userid,
                str(p.get("name") or userid),
                str(p.get("mobile") or ""),
                dept_ids,
                email=p.get("email"),
                telephone=p.get("telephone"),
                manager=p.get("manager"),
            )
            values: dict[str, Any] = dict.fromkeys(USER_FIELDS)
            values.pop("departments")
            for k, v in p.items():
                if k not in ("userid", "departments"):
                    values[k] = dict(v) if isinstance(v, Mapping) else v
            self.users[userid] = SimUser(userid, values, set(dept_ids))
            self.drop_empty(self.users[userid])
        elif step.action is Action.UPDATE_USER:
            userid = p["userid"]
            if not self.profile.empty_string_clears:
                # DingTalk's SDKs drop "" before sending: it reaches no field. A manager is
                # cleared through force_update_fields instead (the client sends that for "").
                p = {k: v for k, v in p.items() if v != "" or k == "manager"}
            if "mobile" in p and userid in self.users:
                raise RuleBroken(40022, step, "mobile cannot be updated")
            moved_to = (
                [self.resolve(refs, k, step) for k in p["departments"]]
                if "departments" in p
                else None
            )
            rules.check_update_user(
                self,
                userid,
                name=p.get("name"),
                dept_ids=moved_to,
                email=p.get("email"),
                telephone=p.get("telephone"),
                manager=p.get("manager"),
            )
            u = self.users[userid]
            if moved_to is not None:
                u.dept_ids = set(moved_to)
            for k, v in p.items():
                if k not in ("userid", "departments"):
                    u.fields[k] = dict(v) if isinstance(v, Mapping) else v
            self.drop_empty(u)
        else:  # pragma: no cover - every action is handled above
            raise AssertionError(step.action)

    @staticmethod
    def drop_empty(user: SimUser) -> None:
        # DingTalk stores a cleared email or telephone as absent (reads omit empty values).
        for name in CLEARABLE:
            if user.fields.get(name) == "":
                user.fields[name] = None

    def check_managers(self, step: Step) -> None:
        for d in self.depts.values():
            for m in d.managers:
                if m not in self.users or d.dept_id not in self.users[m].dept_ids:
                    raise RuleBroken(40031, step, f"manager {m} of {d.name} is not a member")
