"""Order a diff into phases and dependent steps; fingerprint and (de)serialise the plan.

Pure: no I/O. `build_plan(desired, live, policy)` is the whole planner; `Plan.to_json()` /
`Plan.from_json()` are the artefact `orgctl plan --out` writes and `orgctl apply --plan` reads.

Phases (design §7), each step in exactly one:

1. create departments, parents first;
2. update departments (rename, reorder, move, adopt), shallowest *desired* depth first;
3. delete users (pruned, and the delete half of a replace);
4. create users (and the create half of a replace), a user's manager first;
5. update users (fields, membership); before them, managers who are about to lose their
   membership are removed from the department's manager list;
6. set department managers (they are members by now);
7. delete departments, deepest first.

`Step.requires` names the earlier steps a step depends on, so apply can run the steps of a
phase concurrently in any order the requirements allow, and skip the dependents of a failed
step. The property tests check that every such order is accepted by a model of DingTalk's
rules.

Department references in payloads are *refs*: the live key (``source_identifier`` or
``#<dept_id>``) of a department that existed when the plan was made, the desired key of one a
``create_department`` step of this plan creates (the step is in ``requires``), or ``root``
(dept_id 1). Apply resolves a ref with ``created.get(ref) or live.departments[ref].dept_id``.

Why the orders are safe:

* Moves never make a transient cycle (60010). A department moves only after every desired
  ancestor that moves (it `requires` their steps); ancestors that do not move already sit
  under their desired parent. So when it moves under P, P's chain of ancestors is P's desired
  chain, which cannot contain the department itself.
* Sibling names stay unique (60021). Phase 2 is simulated slot by slot (parent, name). When a
  department needs a name another department still holds, and that one will leave (it is
  renamed, moved or deleted later), the holder is first renamed in place to a temporary name
  (a "park" step: `department.park:<key>`). A department created where the name is still
  held is created under a temporary name and renamed in phase 2. A name held by a department
  the plan must keep (unmanaged, or not pruned) cannot be freed: that is a `ConfigError`.
* Mobiles stay unique (60104): every delete (phase 3) precedes every create (phase 4), and a
  create `requires` the delete of whoever held its mobile, so a swap of mobiles between two
  people works.
* Emails (60106, compared ignoring case) and telephones (40100) stay unique. A kept person
  gives one up only in their phase-5 update, so: an update that takes a value `requires` the
  update (or delete) of whoever gives it up; a new account that takes it is created without
  it and gets it in a phase-5 update that `requires` the giver's; and a cycle of such
  handoffs (a swap, a rotation) is broken by first clearing the value on one person of the
  cycle (a "release" step, `user.release:<userid>`, sending ``""``), which the takers wait
  for instead. A re-created person does not carry over an unmanaged value the YAML gives to
  someone else.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from typing import Any

from reconciler.errors import ConfigError, InputError, Problem
from reconciler.gcpause import gc_paused
from reconciler.model import (
    ROOT,
    SENSITIVE_FIELDS,
    USER_FIELDS,
    DeptKey,
    Org,
    User,
    UserId,
)
from reconciler.phone import mask_email, mask_mobile
from reconciler.plan.diff import (
    UNIQUE_ERRCODES,
    UNIQUE_USER_FIELDS,
    Diff,
    FieldChange,
    UserDiff,
    diff,
    gives_up,
    unique_key,
)
from reconciler.policy import DEFAULT_POLICY, Policy

SCHEMA_VERSION = 1


class Phase(IntEnum):
    CREATE_DEPARTMENTS = 1
    UPDATE_DEPARTMENTS = 2
    DELETE_USERS = 3
    CREATE_USERS = 4
    UPDATE_USERS = 5
    SET_MANAGERS = 6
    DELETE_DEPARTMENTS = 7

    @property
    def title(self) -> str:
        return _PHASE_TITLES[self]


_PHASE_TITLES = {
    Phase.CREATE_DEPARTMENTS: "Create departments",
    Phase.UPDATE_DEPARTMENTS: "Update departments",
    Phase.DELETE_USERS: "Delete users",
    Phase.CREATE_USERS: "Create users",
    Phase.UPDATE_USERS: "Update users",
    Phase.SET_MANAGERS: "Set department managers",
    Phase.DELETE_DEPARTMENTS: "Delete departments",
}


class Action(StrEnum):
    CREATE_DEPARTMENT = "create_department"
    UPDATE_DEPARTMENT = "update_department"
    ADOPT_DEPARTMENT = "adopt_department"
    DELETE_USER = "delete_user"
    CREATE_USER = "create_user"
    UPDATE_USER = "update_user"
    SET_MANAGERS = "set_managers"
    DELETE_DEPARTMENT = "delete_department"


DEPARTMENT_ACTIONS = frozenset(
    {
        Action.CREATE_DEPARTMENT,
        Action.UPDATE_DEPARTMENT,
        Action.ADOPT_DEPARTMENT,
        Action.SET_MANAGERS,
        Action.DELETE_DEPARTMENT,
    }
)

REPLACE_NOTE = "replace: mobile changed; DingTalk history is lost"


@dataclass(frozen=True, slots=True)
class Step:
    """One API write, in model terms.

    Payload per action (every department reference is a ref, see the module docstring):

    * create_department — ``key`` (write as source_identifier), ``name``, ``parent``,
      ``order`` (only if managed).
    * update_department / adopt_department — ``dept``; then only what changes: ``name``,
      ``parent``, ``order``, ``source_identifier`` (always, for an adoption).
    * set_managers — ``dept``, ``managers`` (userids; empty means clear them, which DingTalk
      accepts only through ``force_update_fields``).
    * delete_department — ``dept``.
    * create_user — ``userid``, ``name``, ``mobile``, ``departments`` (refs), and any of
      ``title email job_number telephone work_place remark manager extension``.
    * update_user — ``userid``; then only what changes. ``departments`` is the complete list
      (DingTalk overwrites ``dept_id_list``); ``manager: ""`` clears it (force_update_fields);
      ``extension`` is the complete mapping (DingTalk overwrites it); ``email: ""`` /
      ``telephone: ""`` clear them (a release step sends only those).
    * delete_user — ``userid``.
    """

    id: str
    phase: Phase
    action: Action
    key: str
    """Department ident (desired key, or live key if absent from the YAML) or userid."""
    label: str
    """For people: the name; for departments: the name path. Display only."""
    changes: tuple[FieldChange, ...]
    payload: Mapping[str, Any]
    requires: tuple[str, ...] = ()
    destructive: bool = False
    note: str = ""

    @property
    def kind(self) -> str:
        return "department" if self.action in DEPARTMENT_ACTIONS else "user"

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phase": int(self.phase),
            "action": str(self.action),
            "key": self.key,
            "label": self.label,
            "changes": [
                {"field": c.name, "old": _jsonable(c.old), "new": _jsonable(c.new)}
                for c in self.changes
            ],
            "payload": _jsonable(self.payload),
            "requires": list(self.requires),
            "destructive": self.destructive,
            "note": self.note,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            id=str(data["id"]),
            phase=Phase(data["phase"]),
            action=Action(data["action"]),
            key=str(data["key"]),
            label=str(data["label"]),
            changes=tuple(
                FieldChange(str(c["field"]), _freeze(c["old"]), _freeze(c["new"]))
                for c in data["changes"]
            ),
            payload=_freeze_mapping(data["payload"]),
            requires=tuple(str(r) for r in data["requires"]),
            destructive=bool(data["destructive"]),
            note=str(data["note"]),
        )


@dataclass(frozen=True, slots=True)
class Counts:
    create: int = 0
    update: int = 0
    replace: int = 0
    delete: int = 0

    def to_data(self) -> dict[str, int]:
        return {
            "create": self.create,
            "update": self.update,
            "replace": self.replace,
            "delete": self.delete,
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """Objects (not steps) by what happens to them: a replace is one replace, not a delete
    and a create; a department created and given managers is one create."""

    users: Counts
    departments: Counts

    @property
    def total(self) -> Counts:
        u, d = self.users, self.departments
        return Counts(
            u.create + d.create, u.update + d.update, u.replace + d.replace, u.delete + d.delete
        )

    def line(self) -> str:
        t = self.total
        return (
            f"Plan: {t.create} to create, {t.update} to update, {t.replace} to replace, "
            f"{t.delete} to delete."
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "users": self.users.to_data(),
            "departments": self.departments.to_data(),
            "total": self.total.to_data(),
        }


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]
    """Execution order: by phase; within a phase, any order that respects `requires`."""
    existing_users: int
    """Live users in the managed scope (the denominator of the safety thresholds)."""
    existing_departments: int
    live_fingerprint: str
    desired_fingerprint: str
    warnings: tuple[str, ...] = ()
    pii_masked: bool = False
    """Mobiles, emails and telephones were masked: fine to show, not applicable."""

    def __post_init__(self) -> None:
        seen: set[str] = set()
        phase = 0
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"duplicate step id {step.id}")
            if step.phase < phase:
                raise ValueError(f"step {step.id} is out of phase order")
            for need in step.requires:
                if need not in seen:
                    raise ValueError(f"step {step.id} requires {need}, which does not precede it")
            seen.add(step.id)
            phase = step.phase

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def summary(self) -> Summary:
        user_actions: dict[str, set[Action]] = {}
        dept_actions: dict[str, set[Action]] = {}
        for step in self.steps:
            target = dept_actions if step.kind == "department" else user_actions
            target.setdefault(step.key, set()).add(step.action)
        users = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for actions in user_actions.values():
            if Action.CREATE_USER in actions and Action.DELETE_USER in actions:
                users["replace"] += 1
            elif Action.CREATE_USER in actions:
                users["create"] += 1
            elif Action.DELETE_USER in actions:
                users["delete"] += 1
            else:
                users["update"] += 1
        depts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for actions in dept_actions.values():
            if Action.CREATE_DEPARTMENT in actions:
                depts["create"] += 1
            elif Action.DELETE_DEPARTMENT in actions:
                depts["delete"] += 1
            else:
                depts["update"] += 1
        return Summary(Counts(**users), Counts(**depts))

    def replaced_users(self) -> frozenset[UserId]:
        deleted = {s.key for s in self.steps if s.action is Action.DELETE_USER}
        return frozenset(
            s.key for s in self.steps if s.action is Action.CREATE_USER and s.key in deleted
        )

    def masked(self) -> Plan:
        """The same plan with mobiles, emails and telephones masked everywhere."""
        steps = tuple(
            replace(
                s,
                changes=tuple(
                    FieldChange(c.name, mask_value(c.name, c.old), mask_value(c.name, c.new))
                    for c in s.changes
                ),
                payload={k: mask_value(k, v) for k, v in s.payload.items()},
            )
            for s in self.steps
        )
        return replace(self, steps=steps, pii_masked=True)

    def to_data(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "live_fingerprint": self.live_fingerprint,
            "desired_fingerprint": self.desired_fingerprint,
            "existing": {"users": self.existing_users, "departments": self.existing_departments},
            "pii_masked": self.pii_masked,
            "summary": self.summary.to_data(),
            "warnings": list(self.warnings),
            "steps": [s.to_data() for s in self.steps],
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, real UTF-8), newline-terminated."""
        return json.dumps(self.to_data(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not a plan file: {exc}") from None
        if not isinstance(data, dict):
            raise InputError("not a plan file: expected a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InputError(
                f"plan schema_version {version!r} is not supported (expected {SCHEMA_VERSION})"
            )
        try:
            plan = cls(
                steps=tuple(Step.from_data(s) for s in data["steps"]),
                existing_users=int(data["existing"]["users"]),
                existing_departments=int(data["existing"]["departments"]),
                live_fingerprint=str(data["live_fingerprint"]),
                desired_fingerprint=str(data["desired_fingerprint"]),
                warnings=tuple(str(w) for w in data["warnings"]),
                pii_masked=bool(data["pii_masked"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a valid plan file: {exc}") from None
        if "summary" in data and data["summary"] != plan.summary.to_data():
            raise InputError("plan file is inconsistent: its summary does not match its steps")
        return plan


def mask_value(name: str, value: Any) -> Any:
    if name not in SENSITIVE_FIELDS or not isinstance(value, str) or not value:
        return value
    return mask_email(value) if name == "email" else mask_mobile(value)


# -- fingerprints -------------------------------------------------------------------------


def fingerprint(org: Org) -> str:
    """sha256 of a canonical JSON of the Org: independent of dict and list order, blind to
    source locations, sensitive to dept_ids (apply resolves refs with them)."""
    departments = []
    for key in sorted(org.departments):
        d = org.departments[key]
        managers = sorted(d.managers) if d.managers is not None else None
        departments.append(
            (key, d.name, d.parent, d.order, managers, d.dept_id, d.source_identifier)
        )
    # One C-level attrgetter per person instead of a getattr per field, and a new row only
    # when something needs canonicalising: this loop is most of the planner's time at 100k.
    users = []
    for userid, user in org.users.items():
        row = _USER_VALUES(user)
        if len(row[_DEPARTMENTS]) > 1 or row[_EXTENSION] is not None:
            fixed = list(row)
            fixed[_DEPARTMENTS] = sorted(row[_DEPARTMENTS])
            if row[_EXTENSION] is not None:
                fixed[_EXTENSION] = dict(row[_EXTENSION])
            row = tuple(fixed)
        users.append((userid, row))
    users.sort(key=_FIRST)
    text = json.dumps(
        {"departments": departments, "users": users}, sort_keys=True, separators=(",", ":")
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


_USER_VALUES = operator.attrgetter(*USER_FIELDS)
_FIRST = operator.itemgetter(0)
_DEPARTMENTS = USER_FIELDS.index("departments")
_EXTENSION = USER_FIELDS.index("extension")


# -- the planner --------------------------------------------------------------------------


def build_plan(desired: Org, live: Org, policy: Policy = DEFAULT_POLICY) -> Plan:
    """The ordered plan that makes live match desired. Raises ConfigError when the desired
    state cannot be reached (a name or mobile held by something the plan must keep)."""
    with gc_paused():
        changes = diff(desired, live, policy)
        if changes.problems:
            raise ConfigError(list(changes.problems))
        planner = _Planner(desired, live, changes)
        steps = planner.run()
        if planner.problems:
            raise ConfigError(planner.problems)
        return Plan(
            steps=tuple(steps),
            existing_users=changes.existing_users,
            existing_departments=changes.existing_departments,
            live_fingerprint=fingerprint(live),
            desired_fingerprint=fingerprint(desired),
            warnings=changes.warnings,
        )


Slot = tuple[DeptKey, str]  # (parent ident, name): DingTalk keeps these unique (60021)


class _Planner:
    def __init__(self, desired: Org, live: Org, changes: Diff) -> None:
        self.desired = desired
        self.live = live
        self.d = changes
        self.steps: list[Step] = []
        self.problems: list[Problem] = []
        # Department bookkeeping, by ident.
        self.created: dict[DeptKey, str] = {}  # ident → create step id
        self.moved: dict[DeptKey, str] = {}  # ident → phase-2 step that changed its parent
        self.final_step: dict[DeptKey, str] = {}  # ident → its phase-2 update/adopt step id
        self.parked: dict[DeptKey, str] = {}  # ident → park step id
        self.slots: dict[Slot, DeptKey] = {}
        self.at: dict[DeptKey, Slot] = {}
        self.freed_by: dict[Slot, str] = {}
        self.renamed_later: dict[DeptKey, str] = {}  # created under a temporary name
        self._names = {d.name for d in live.departments.values()} | {
            d.name for d in desired.departments.values()
        }
        self._temp_counter = 0
        # User bookkeeping.
        self.user_deleted: dict[UserId, str] = {}
        self.user_created: dict[UserId, str] = {}
        self.user_updated: dict[UserId, str] = {}
        self.clears: dict[DeptKey, str] = {}
        self.deferred_managers: dict[UserId, UserId] = {}  # new people who manage each other
        # New accounts that take an email/telephone a kept person gives up in phase 5: the
        # value is written by a phase-5 update once it is free (field → value, and change).
        self.deferred_values: dict[UserId, dict[str, Any]] = {}
        self.deferred_changes: dict[UserId, list[FieldChange]] = {}
        self._givers: dict[tuple[str, str], UserId] | None = None

    # -- helpers ----------------------------------------------------------------------------

    def add(self, step: Step) -> str:
        self.steps.append(step)
        return step.id

    def dept_label(self, ident: DeptKey) -> str:
        if ident in self.desired.departments:
            return self.desired.path(ident)
        live_key = self.d.live_key.get(ident, ident)
        return self.live.path(live_key) if live_key in self.live.departments else ident

    def ref(self, ident: DeptKey) -> DeptKey:
        return self.d.ref(ident)

    def givers(self) -> dict[tuple[str, str], UserId]:
        """(field, unique key) → kept person whose update gives up that live email/telephone."""
        if self._givers is None:
            self._givers = {}
            for userid, change in self.d.users.items():
                for name in HANDOFF_FIELDS:
                    if gives_up(change, name):  # a kept person (update or prune) only
                        old = getattr(change.live, name)
                        self._givers[(name, unique_key(name, old))] = userid
        return self._givers

    def temp_name(self, name: str) -> str:
        while True:
            self._temp_counter += 1
            # DingTalk names: ≤ 64 characters, no "-" "," "，" (60001/60009).
            candidate = f"{name[:40]}_orgctl_tmp{self._temp_counter}"
            if candidate not in self._names:
                self._names.add(candidate)
                return candidate

    def problem(self, ident: DeptKey, message: str) -> None:
        want = self.desired.departments.get(ident)
        self.problems.append(
            Problem.at(want.location if want else None, f"departments.{ident}", message)
        )

    def run(self) -> list[Step]:
        self._init_slots()
        self._create_departments()
        self._update_departments()
        self._delete_users()
        self._create_users()
        self._update_users()
        self._set_managers()
        self._delete_departments()
        return self.steps

    # -- phases 1 and 2: departments, with a slot simulation ---------------------------------

    def _init_slots(self) -> None:
        for live_key, dept in self.live.departments.items():
            ident = self.d.ident[live_key]
            parent = ROOT if dept.parent == ROOT else self.d.ident.get(dept.parent, dept.parent)
            slot = (parent, dept.name)
            self.slots[slot] = ident
            self.at[ident] = slot

    def _leaves(self, ident: DeptKey) -> bool:
        """Will this department give up its current slot later in phase 2 or 7?"""
        change = self.d.departments.get(ident)
        if change is None:
            return False
        if change.kind == "delete":
            return True
        want = change.desired
        return want is not None and (want.parent, want.name) != self.at[ident]

    def _blocked(self, ident: DeptKey, holder: DeptKey, slot: Slot) -> None:
        where = self.dept_label(slot[0]) if slot[0] != ROOT else "the root"
        if holder in self.desired.departments:
            why = "both are meant to have that name there"
        elif holder in self.d.unmanaged:
            why = "it is in an unmanaged subtree"
        elif holder in self.d.kept_departments:
            why = f"it cannot be deleted ({self.d.kept_departments[holder]})"
        else:
            why = "it is not in the YAML and prune_departments is off"
        self.problem(
            ident,
            f"the name {slot[1]!r} under {where} is held by live department "
            f"{holder} ({self.dept_label(holder)}), which the plan keeps: {why} "
            "(DingTalk 60021)",
        )

    def _create_departments(self) -> None:
        creates = sorted(
            (c for c in self.d.departments.values() if c.kind == "create"),
            key=lambda c: (self.desired.depth(c.key), c.key),
        )
        for change in creates:
            want = change.desired
            assert want is not None
            key = want.key
            slot = (want.parent, want.name)
            name = want.name
            note = ""
            holder = self.slots.get(slot)
            if holder is not None:
                if not self._leaves(holder):
                    self._blocked(key, holder, slot)
                name = self.temp_name(want.name)
                self.renamed_later[key] = name
                note = (
                    f"created as {name!r} until {holder} gives up the name "
                    "(DingTalk 60021: sibling names are unique)"
                )
            self.slots[(want.parent, name)] = key
            self.at[key] = (want.parent, name)
            payload: dict[str, Any] = {"key": key, "name": name, "parent": self.ref(want.parent)}
            if want.order is not None:
                payload["order"] = want.order
            requires = (self.created[want.parent],) if want.parent in self.created else ()
            self.created[key] = self.add(
                Step(
                    id=f"department.create:{key}",
                    phase=Phase.CREATE_DEPARTMENTS,
                    action=Action.CREATE_DEPARTMENT,
                    key=key,
                    label=self.dept_label(key),
                    changes=change.changes,
                    payload=payload,
                    requires=requires,
                    note=note,
                )
            )

    def _park(self, holder: DeptKey, for_key: DeptKey) -> str:
        parent, name = slot = self.at[holder]
        temp = self.temp_name(name)
        step_id = f"department.park:{holder}"
        del self.slots[slot]
        self.slots[(parent, temp)] = holder
        self.at[holder] = (parent, temp)
        self.freed_by[slot] = step_id
        self.parked[holder] = step_id
        return self.add(
            Step(
                id=step_id,
                phase=Phase.UPDATE_DEPARTMENTS,
                action=Action.UPDATE_DEPARTMENT,
                key=holder,
                label=self.dept_label(holder),
                changes=(FieldChange("name", name, temp),),
                payload={"dept": self.ref(holder), "name": temp},
                note=(
                    f"temporary name: frees {name!r} for {for_key} "
                    "(DingTalk 60021: sibling names are unique)"
                ),
            )
        )

    def _update_departments(self) -> None:
        movers = [
            c.key
            for c in self.d.departments.values()
            if c.kind in ("update", "adopt") and c.changes
        ]
        movers.extend(self.renamed_later)
        movers.sort(key=lambda k: (self.desired.depth(k), k))
        for key in movers:
            want = self.desired.departments[key]
            change = self.d.departments[key]
            adopt = change.kind == "adopt"
            step_id = f"department.{'adopt' if adopt else 'update'}:{key}"
            current = self.at[key]
            target = (want.parent, want.name)
            requires: list[str] = []
            if key in self.parked:
                requires.append(self.parked[key])
            if target != current:
                holder = self.slots.get(target)
                if holder is not None and holder != key:
                    if self._leaves(holder):
                        requires.append(self._park(holder, key))
                    else:
                        self._blocked(key, holder, target)
                if target in self.freed_by:
                    requires.append(self.freed_by[target])
                del self.slots[current]
                self.slots[target] = key
                self.at[key] = target
                self.freed_by[current] = step_id
            payload: dict[str, Any] = {"dept": self.ref(key)}
            if target[1] != current[1]:
                payload["name"] = want.name
            if target[0] != current[0]:
                payload["parent"] = self.ref(want.parent)
                if want.parent in self.created:
                    requires.append(self.created[want.parent])
                self.moved[key] = step_id
            if key in self.renamed_later:
                changes: tuple[FieldChange, ...] = (
                    FieldChange("name", self.renamed_later[key], want.name),
                )
                requires.append(self.created[key])
                note = "the temporary name is no longer needed"
            else:
                changes = change.changes
                note = "adopt: writes the key into source_identifier" if adopt else ""
                for c in change.changes:
                    if c.name == "order":
                        payload["order"] = c.new
                if adopt:
                    payload["source_identifier"] = key
            # Every desired ancestor that moves must have moved first: then this move cannot
            # close a cycle (60010), whatever order the steps of this phase run in.
            requires.extend(self.moved[a] for a in self.desired.ancestors(key) if a in self.moved)
            self.final_step[key] = self.add(
                Step(
                    id=step_id,
                    phase=Phase.UPDATE_DEPARTMENTS,
                    action=Action.ADOPT_DEPARTMENT if adopt else Action.UPDATE_DEPARTMENT,
                    key=key,
                    label=self.dept_label(key),
                    changes=changes,
                    payload=payload,
                    requires=_unique(requires),
                    note=note,
                )
            )

    # -- phases 3 to 6: people ------------------------------------------------------------

    def _delete_users(self) -> None:
        for userid in sorted(self.d.users):
            change = self.d.users[userid]
            if change.kind not in ("delete", "replace"):
                continue
            assert change.live is not None
            note = REPLACE_NOTE if change.kind == "replace" else "pruned: not in the YAML"
            self.user_deleted[userid] = self.add(
                Step(
                    id=f"user.delete:{userid}",
                    phase=Phase.DELETE_USERS,
                    action=Action.DELETE_USER,
                    key=userid,
                    label=change.live.name,
                    changes=(),
                    payload={"userid": userid},
                    destructive=True,
                    note=note,
                )
            )

    def _user_refs(self, change: UserDiff) -> tuple[DeptKey, ...]:
        refs = {self.ref(k) for k in change.desired.departments} if change.desired else set()
        refs.update(change.kept_departments)
        return tuple(sorted(refs))

    def _dept_requires(self, idents: Iterable[DeptKey]) -> list[str]:
        return [self.created[k] for k in sorted(set(idents)) if k in self.created]

    def _create_users(self) -> None:
        creating = {u: c for u, c in self.d.users.items() if c.kind in ("create", "replace")}
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
            if manager in self.user_deleted and manager not in creating:
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
        self.deferred_managers = deferred

        # Values a re-created person would carry over (unmanaged in the YAML) that the YAML
        # gives to someone else: re-creating this person must not take them back.
        carried = {
            (name, unique_key(name, value))
            for change in creating.values()
            if change.live is not None and change.desired is not None
            for name in HANDOFF_FIELDS
            if getattr(change.desired, name) is None and (value := getattr(change.live, name))
        }
        claimed = _holders(self.desired, carried) if carried else {}
        givers = self.givers()
        payloads: dict[UserId, dict[str, Any]] = {}
        for userid in order:
            change = creating[userid]
            want = change.desired
            assert want is not None
            payload = _create_payload(want, change.live)
            payload["departments"] = self._user_refs(change)
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
                    self.deferred_values.setdefault(userid, {})[name] = value
            payloads[userid] = payload

        # Whoever held a mobile, email or telephone a new account takes is deleted first
        # (60104, 60106, 40100): require it, so a failed delete skips the create.
        holders = _holders(
            self.live,
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
            if userid in self.user_deleted:
                requires.append(self.user_deleted[userid])
            changes = change.changes
            if userid in self.deferred_values:
                late = self.deferred_values[userid]
                self.deferred_changes[userid] = [c for c in changes if c.name in late]
                changes = tuple(c for c in changes if c.name not in late)
            for name in UNIQUE_USER_FIELDS:
                value = payload.get(name)
                holder = holders.get((name, unique_key(name, value))) if value else None
                if holder is not None and holder != userid and holder in self.user_deleted:
                    requires.append(self.user_deleted[holder])
            if manager and manager in self.user_created:
                requires.append(self.user_created[manager])
            requires.extend(self._dept_requires(want.departments))
            replace_ = change.kind == "replace"
            self.user_created[userid] = self.add(
                Step(
                    id=f"user.create:{userid}",
                    phase=Phase.CREATE_USERS,
                    action=Action.CREATE_USER,
                    key=userid,
                    label=want.name,
                    changes=changes,
                    payload=_freeze_mapping(payload),
                    requires=_unique(requires),
                    destructive=replace_,
                    note=REPLACE_NOTE if replace_ else "",
                )
            )

    def _update_users(self) -> None:
        live_managers: dict[DeptKey, frozenset[UserId]] = {}
        for live_key, dept in self.live.departments.items():
            if dept.managers and live_key not in self.d.unmanaged:
                live_managers[self.d.ident[live_key]] = frozenset(dept.managers)
        # A manager who loses their membership is first taken off the manager list: DingTalk
        # keeps managers among the members.
        leaving: dict[UserId, list[DeptKey]] = {}
        for userid, change in self.d.users.items():
            if change.kind not in ("update", "prune") or change.live is None:
                continue
            if not any(c.name == "departments" for c in change.changes):
                continue
            final = set(change.final_departments)
            for live_key in change.live.departments:
                ident = self.d.ident.get(live_key, live_key)
                if ident not in final and userid in live_managers.get(ident, ()):
                    leaving.setdefault(userid, []).append(ident)
        for ident in sorted({i for idents in leaving.values() for i in idents}):
            before = tuple(sorted(live_managers[ident]))
            after = self.d.live_managers_after.get(ident, ())
            self.clears[ident] = self.add(
                Step(
                    id=f"department.clear-managers:{ident}",
                    phase=Phase.UPDATE_USERS,
                    action=Action.SET_MANAGERS,
                    key=ident,
                    label=self.dept_label(ident),
                    changes=(FieldChange("managers", before, after),),
                    payload={"dept": self.ref(ident), "managers": after},
                    note="managers who leave the department go off its manager list first",
                )
            )

        relink: dict[UserId, UserId] = {}
        replaced = {u for u, c in self.d.users.items() if c.kind == "replace"}
        if replaced:
            # DingTalk drops a deleted person from their reports' manager field; re-creating
            # them does not restore it.
            for userid, want in self.desired.users.items():
                if userid in self.user_created:
                    continue
                have = self.live.users.get(userid)
                manager = (
                    want.manager
                    if want.manager is not None
                    else (have.manager if have is not None else None)
                )
                if manager in replaced:
                    relink[userid] = manager

        updates: list[_Update] = []
        for userid in sorted(
            {*self.d.users, *relink, *self.deferred_managers, *self.deferred_values}
        ):
            found = self.d.users.get(userid)
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
                        payload["departments"] = self._user_refs(change)
                        requires.extend(self._dept_requires(change.final_departments))
                    else:
                        payload[c.name] = c.new
                requires.extend(self.clears[i] for i in sorted(leaving.get(userid, ())))
                if change.kind == "prune":
                    notes.append(
                        "pruned from managed departments: not in the YAML; "
                        "stays in its unmanaged ones"
                    )
                have = change.live
                assert have is not None
                label = change.desired.name if change.desired else have.name
            elif userid in self.deferred_managers or userid in self.deferred_values:
                requires.append(self.user_created[userid])
                label = self.desired.users[userid].name
                if userid in self.deferred_managers:
                    payload["manager"] = self.deferred_managers[userid]
                    notes.append("manager set after creation: these new people manage each other")
                late = self.deferred_values.get(userid, {})
                if late:
                    payload.update(late)
                    changes = tuple(self.deferred_changes[userid])
                    givers = self.givers()
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
                label = label or self.desired.users[userid].name
            manager = payload.get("manager")
            if manager and manager in self.user_created:
                requires.append(self.user_created[manager])
            updates.append(_Update(userid, label, changes, payload, requires, notes))

        for update in self._order_handoffs(updates):
            self.user_updated[update.userid] = self.add(
                Step(
                    id=f"user.update:{update.userid}",
                    phase=Phase.UPDATE_USERS,
                    action=Action.UPDATE_USER,
                    key=update.userid,
                    label=update.label,
                    changes=update.changes,
                    payload=_freeze_mapping(update.payload),
                    requires=_unique(update.requires),
                    note="; ".join(update.notes),
                )
            )

    def _order_handoffs(self, updates: list[_Update]) -> list[_Update]:
        """Order the user updates so that an email or telephone is given up before it is
        taken (60106, 40100), adding `requires` for each handoff; break every cycle of
        handoffs (a swap, a rotation) by first clearing the value on one of its people (a
        ``user.release`` step, added here, before the updates).

        Handoffs form a graph: X → H when X's update takes a value H's update gives up. A
        depth-first search in userid order finds cycles as back edges; the target of every
        back edge is released, which removes every edge into it (takers wait for the release
        instead), and a graph without back edges has no cycle. One release per simple cycle:
        for a swap or a rotation, the smallest userid in it."""
        # Only kept people give a value up (a new account's old self was deleted), and every
        # kept person with changes has an update here.
        holder_of = self.givers()
        edges: dict[UserId, list[tuple[UserId, str]]] = {}
        elsewhere: dict[UserId, list[tuple[str, str]]] = {}  # taken from someone not updated
        for update in updates:
            for name in HANDOFF_FIELDS:
                value = update.payload.get(name)
                if not value:
                    continue
                key = (name, unique_key(name, value))
                holder = holder_of.get(key)
                if holder is not None and holder != update.userid:
                    edges.setdefault(update.userid, []).append((holder, name))
                elif holder is None:
                    elsewhere.setdefault(update.userid, []).append(key)
        if elsewhere:
            # Held by someone this plan deletes: the delete goes first (phase 3); require it,
            # so a failed delete skips the update.
            holders = _holders(self.live, {k for keys in elsewhere.values() for k in keys})
            for update in updates:
                for key in elsewhere.get(update.userid, ()):
                    holder = holders.get(key)
                    if holder not in (None, update.userid) and holder in self.user_deleted:
                        update.requires.append(self.user_deleted[holder])
        if not edges:
            return updates

        released = _back_edge_targets({u: sorted({h for h, _ in out}) for u, out in edges.items()})
        by_id = {update.userid: update for update in updates}
        release_step: dict[UserId, str] = {}
        for holder in sorted(released):
            taken = sorted(
                (name, taker) for taker, out in edges.items() for h, name in out if h == holder
            )
            names = sorted({name for name, _ in taken})
            takers = sorted({taker for _, taker in taken})
            have = self.live.users[holder]
            codes = ", ".join(str(UNIQUE_ERRCODES[n]) for n in names)
            release_step[holder] = self.add(
                Step(
                    id=f"user.release:{holder}",
                    phase=Phase.UPDATE_USERS,
                    action=Action.UPDATE_USER,
                    key=holder,
                    label=by_id[holder].label,
                    changes=tuple(FieldChange(n, getattr(have, n), "") for n in names),
                    payload={"userid": holder, **dict.fromkeys(names, "")},
                    note=(
                        f"temporary: clears the {' and '.join(names)} first, so "
                        f"{', '.join(takers)} can take {'it' if len(names) == 1 else 'them'}; "
                        f"set again below (a swap or rotation; DingTalk {codes}: unique)"
                    ),
                )
            )
            by_id[holder].requires.append(release_step[holder])

        # Kahn's algorithm, smallest userid first: plan order stays sorted by userid when
        # nothing is handed over, so plans (and goldens) without handoffs do not change.
        waiting: dict[UserId, int] = {}
        unblocks: dict[UserId, list[UserId]] = {}
        for taker, out in edges.items():
            for holder, _ in out:
                if holder in release_step:
                    by_id[taker].requires.append(release_step[holder])
                else:
                    by_id[taker].requires.append(f"user.update:{holder}")
                    waiting[taker] = waiting.get(taker, 0) + 1
                    unblocks.setdefault(holder, []).append(taker)
        position = {update.userid: n for n, update in enumerate(updates)}
        ready = [position[u.userid] for u in updates if not waiting.get(u.userid)]
        heapq.heapify(ready)
        ordered: list[_Update] = []
        while ready:
            update = updates[heapq.heappop(ready)]
            ordered.append(update)
            for taker in unblocks.get(update.userid, ()):
                waiting[taker] -= 1
                if waiting[taker] == 0:
                    heapq.heappush(ready, position[taker])
        assert len(ordered) == len(updates), "handoff cycle left unbroken"
        return ordered

    def _set_managers(self) -> None:
        for key in sorted(self.desired.departments, key=lambda k: (self.desired.depth(k), k)):
            want = self.desired.departments[key]
            if want.managers is None:
                continue
            final = tuple(sorted(want.managers))
            created = key in self.created
            before: tuple[UserId, ...] = () if created else self.d.live_managers_after.get(key, ())
            if final == before:
                continue
            requires: list[str] = [self.created[key]] if created else []
            for userid in final:
                if userid in self.user_created:
                    requires.append(self.user_created[userid])
                elif userid in self.user_updated:
                    requires.append(self.user_updated[userid])
            old: object = None if created else before
            note = ""
            if not created:
                have = self.live.departments[self.d.live_key[key]]
                if before != tuple(sorted(have.managers or ())):
                    note = "after managers who left, or were deleted to be re-created, came off"
            self.add(
                Step(
                    id=f"department.managers:{key}",
                    phase=Phase.SET_MANAGERS,
                    action=Action.SET_MANAGERS,
                    key=key,
                    label=self.dept_label(key),
                    changes=(FieldChange("managers", old, final),),
                    payload={"dept": self.ref(key), "managers": final},
                    requires=_unique(requires),
                    note=note,
                )
            )

    # -- phase 7 ----------------------------------------------------------------------------

    def _delete_departments(self) -> None:
        doomed = [c.key for c in self.d.departments.values() if c.kind == "delete"]
        if not doomed:
            return
        doomed_set = set(doomed)
        members: dict[DeptKey, list[UserId]] = {}
        for userid, have in self.live.users.items():
            for live_key in have.departments:
                if live_key in doomed_set:
                    members.setdefault(live_key, []).append(userid)
        children: dict[DeptKey, list[DeptKey]] = {}
        for live_key, dept in self.live.departments.items():
            if dept.parent in doomed_set:
                children.setdefault(dept.parent, []).append(self.d.ident[live_key])
        deleted: dict[DeptKey, str] = {}
        doomed.sort(key=lambda k: (-self.live.depth(k), k))
        for key in doomed:
            requires: list[str] = []
            for child in sorted(children.get(key, ())):
                if child in deleted:
                    requires.append(deleted[child])
                elif child in self.final_step:
                    requires.append(self.final_step[child])
            for userid in sorted(members.get(key, ())):
                if userid in self.user_deleted:
                    requires.append(self.user_deleted[userid])
                if userid in self.user_updated:
                    requires.append(self.user_updated[userid])
            deleted[key] = self.add(
                Step(
                    id=f"department.delete:{key}",
                    phase=Phase.DELETE_DEPARTMENTS,
                    action=Action.DELETE_DEPARTMENT,
                    key=key,
                    label=self.dept_label(key),
                    changes=(),
                    payload={"dept": self.ref(key)},
                    requires=_unique(requires),
                    destructive=True,
                    note="pruned: not in the YAML",
                )
            )


HANDOFF_FIELDS = ("email", "telephone")
"""Unique values a kept person can give up in an update (a mobile cannot be updated)."""


@dataclass(slots=True)
class _Update:
    """A phase-5 user update being assembled (requires grow as handoffs are ordered)."""

    userid: UserId
    label: str
    changes: tuple[FieldChange, ...]
    payload: dict[str, Any]
    requires: list[str]
    notes: list[str]


def _holders(org: Org, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], UserId]:
    """(field, unique key) → the person who has that mobile, email or telephone, for the
    wanted keys only (one pass over the people, no index of everyone's values)."""
    found: dict[tuple[str, str], UserId] = {}
    names = sorted({name for name, _ in wanted})
    for userid, u in org.users.items():
        for name in names:
            value = getattr(u, name)
            if value and (key := (name, unique_key(name, value))) in wanted:
                found[key] = userid
    return found


def _back_edge_targets(graph: Mapping[UserId, list[UserId]]) -> set[UserId]:
    """Nodes a depth-first search (in sorted order) reaches by a back edge. Iterative: a
    rotation through thousands of people must not hit the recursion limit."""
    state: dict[UserId, bool] = {}  # True while on the stack, False when finished
    targets: set[UserId] = set()
    for root in sorted(graph):
        if root in state:
            continue
        state[root] = True
        stack = [(root, iter(graph[root]))]
        while stack:
            node, rest = stack[-1]
            nxt = next(rest, None)
            if nxt is None:
                state[node] = False
                stack.pop()
            elif nxt not in state:
                state[nxt] = True
                stack.append((nxt, iter(graph.get(nxt, ()))))
            elif state[nxt]:
                targets.add(nxt)
    return targets


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


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _freeze(value: Any) -> Any:
    """JSON values with lists as tuples: what the planner builds, so round trips are exact."""
    if isinstance(value, Mapping):
        return _freeze_mapping(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _freeze_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _freeze(v) for k, v in value.items()}


__all__ = [
    "REPLACE_NOTE",
    "SCHEMA_VERSION",
    "Action",
    "Counts",
    "FieldChange",
    "Phase",
    "Plan",
    "Step",
    "Summary",
    "build_plan",
    "fingerprint",
    "mask_value",
]
