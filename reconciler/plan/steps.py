"""Plan steps: one small frozen dataclass per action (what the step writes), and `Step`, which
carries one together with its place in the plan. Pure: no I/O.

The planner builds them, the executor runs them, render shows them, the journal records them,
and the plan file stores them (`Step.to_data` / `Step.from_data`). A body's fields are the
payload written to DingTalk, in model terms; a field left at None is not sent.

Department references are *refs*: the live key (``source_identifier`` or ``#<dept_id>``) of a
department that existed when the plan was made, the desired key of one a `CreateDepartment`
step of the same plan creates (that step is in ``requires``), or ``root`` (dept_id 1). Apply
resolves a ref to a dept_id with what it created so far, or the live department's id.

Each step has a *digest*: sha256 over its canonical JSON with real (unmasked) values, minus
the display-only label and note. A masked copy keeps the digest of the real step, so a
reviewed, masked plan file still says exactly which writes were reviewed: `orgctl apply
--plan FILE` applies only if a fresh plan's digests are the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

from reconciler.model import SENSITIVE_FIELDS, DeptKey, UserId
from reconciler.phone import mask_email, mask_mobile
from reconciler.plan.diff import FieldChange


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

# -- bodies: what each action writes -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateDepartment:
    """department/create. ``key`` is written as source_identifier."""

    ACTION: ClassVar[Action] = Action.CREATE_DEPARTMENT
    key: DeptKey
    name: str
    parent: DeptKey
    order: int | None = None

    @property
    def ref(self) -> DeptKey:
        return self.key


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateDepartment:
    """department/update of what changes: a rename, a move, a new order (also a "park": a
    temporary name that frees a sibling name, DingTalk 60021)."""

    ACTION: ClassVar[Action] = Action.UPDATE_DEPARTMENT
    dept: DeptKey
    name: str | None = None
    parent: DeptKey | None = None
    order: int | None = None

    @property
    def ref(self) -> DeptKey:
        return self.dept


@dataclass(frozen=True, slots=True, kw_only=True)
class AdoptDepartment:
    """An update that also writes the desired key into source_identifier."""

    ACTION: ClassVar[Action] = Action.ADOPT_DEPARTMENT
    dept: DeptKey
    source_identifier: str
    name: str | None = None
    parent: DeptKey | None = None
    order: int | None = None

    @property
    def ref(self) -> DeptKey:
        return self.dept


@dataclass(frozen=True, slots=True, kw_only=True)
class SetManagers:
    """The whole manager list (sorted userids); empty clears it, which DingTalk accepts only
    through ``force_update_fields``."""

    ACTION: ClassVar[Action] = Action.SET_MANAGERS
    dept: DeptKey
    managers: tuple[UserId, ...]

    @property
    def ref(self) -> DeptKey:
        return self.dept


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteDepartment:
    ACTION: ClassVar[Action] = Action.DELETE_DEPARTMENT
    dept: DeptKey

    @property
    def ref(self) -> DeptKey:
        return self.dept


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteUser:
    ACTION: ClassVar[Action] = Action.DELETE_USER
    userid: UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateUser:
    """user/create. ``departments`` are refs; ``manager`` must exist by then (60128)."""

    ACTION: ClassVar[Action] = Action.CREATE_USER
    userid: UserId
    name: str
    departments: tuple[DeptKey, ...]
    mobile: str | None = None
    title: str | None = None
    email: str | None = None
    job_number: str | None = None
    telephone: str | None = None
    work_place: str | None = None
    remark: str | None = None
    manager: UserId | None = None
    extension: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateUser:
    """user/update of what changes (None: not sent). ``departments`` is the complete list
    (DingTalk overwrites ``dept_id_list``); ``extension`` the complete mapping (overwritten
    too); ``manager=""`` clears the manager (force_update_fields); ``""`` clears an email or
    telephone (a release step sends only those). No mobile: DingTalk cannot change one
    (40022/41054), the planner replaces the person instead."""

    ACTION: ClassVar[Action] = Action.UPDATE_USER
    userid: UserId
    name: str | None = None
    departments: tuple[DeptKey, ...] | None = None
    title: str | None = None
    email: str | None = None
    job_number: str | None = None
    telephone: str | None = None
    work_place: str | None = None
    remark: str | None = None
    manager: UserId | None = None
    extension: Mapping[str, str] | None = None


DepartmentBody = (
    CreateDepartment | UpdateDepartment | AdoptDepartment | SetManagers | DeleteDepartment
)
UserBody = CreateUser | UpdateUser | DeleteUser
StepBody = DepartmentBody | UserBody

BODY_OF_ACTION: Mapping[Action, type[StepBody]] = {
    cls.ACTION: cls
    for cls in (
        CreateDepartment,
        UpdateDepartment,
        AdoptDepartment,
        SetManagers,
        DeleteDepartment,
        DeleteUser,
        CreateUser,
        UpdateUser,
    )
}

_TUPLE_FIELDS = frozenset({"departments", "managers"})
_INT_FIELDS = frozenset({"order"})
_MAPPING_FIELDS = frozenset({"extension"})
_FIELD_NAMES: dict[type[StepBody], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in BODY_OF_ACTION.values()
}
_SORTED_FIELD_NAMES = {cls: tuple(sorted(names)) for cls, names in _FIELD_NAMES.items()}


def body_fields(body: StepBody) -> dict[str, Any]:
    """The fields a body sends (None ones left out), in declaration order."""
    names = _FIELD_NAMES[type(body)]
    return {n: v for n in names if (v := getattr(body, n)) is not None}


def body_from_payload(action: Action, payload: Mapping[str, Any]) -> StepBody:
    """The typed body of a stored payload. Raises ValueError for an unknown field (apply
    would silently drop it, and the next plan show the same change forever) or a value of
    the wrong type."""
    cls = BODY_OF_ACTION[action]
    names = _FIELD_NAMES[cls]
    unknown = sorted(set(payload) - set(names))
    if unknown:
        raise ValueError(f"{action} has fields apply does not know: {unknown}")
    values: dict[str, Any] = {}
    for name, value in payload.items():
        if value is None:
            continue
        if name in _TUPLE_FIELDS:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{action}.{name} must be a list of strings")
            value = tuple(value)
        elif name in _MAPPING_FIELDS:
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValueError(f"{action}.{name} must map strings to strings")
            value = dict(value)
        elif name in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{action}.{name} must be an integer")
        elif not isinstance(value, str):
            raise ValueError(f"{action}.{name} must be a string")
        values[name] = value
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        raise ValueError(f"{action}: {error}") from None


def mask_value(name: str, value: Any) -> Any:
    """A mobile, email or telephone masked for display; anything else unchanged."""
    if name not in SENSITIVE_FIELDS or not isinstance(value, str) or not value:
        return value
    return mask_email(value) if name == "email" else mask_mobile(value)


def _masked_body(body: StepBody) -> StepBody:
    masked = {
        name: mask_value(name, getattr(body, name))
        for name in SENSITIVE_FIELDS
        if isinstance(getattr(body, name, None), str)
    }
    return replace(body, **masked) if masked else body


# -- the step ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One API write, in its place in the plan."""

    id: str
    phase: Phase
    key: str
    """Department ident (desired key, or live key if absent from the YAML) or userid."""
    body: StepBody
    label: str = ""
    """For people: the name; for departments: the name path. Display only."""
    changes: tuple[FieldChange, ...] = ()
    requires: tuple[str, ...] = ()
    destructive: bool = False
    note: str = ""
    sealed_digest: str = field(default="", compare=False)
    """On a masked step read from a plan file: the digest of the real step, which masked
    values cannot give."""
    real: Step | None = field(default=None, repr=False, compare=False)
    """On a masked copy made here: the real step, kept in memory only so that its digest is
    computed if someone asks (rendering a masked plan as text never does); never written."""

    @property
    def action(self) -> Action:
        return self.body.ACTION

    @property
    def kind(self) -> str:
        return "department" if self.action in DEPARTMENT_ACTIONS else "user"

    @property
    def payload(self) -> dict[str, Any]:
        """The body as the plan file stores it (JSON-friendly values, keys sorted)."""
        body = self.body
        return {
            name: _jsonable(value)
            for name in _SORTED_FIELD_NAMES[type(body)]
            if (value := getattr(body, name)) is not None
        }

    @property
    def masked(self) -> bool:
        return bool(self.sealed_digest) or self.real is not None

    @property
    def digest(self) -> str:
        """sha256 of the step's canonical JSON with real values, label and note left out:
        the same writes in the same place of the plan give the same digest."""
        if self.sealed_digest:
            return self.sealed_digest
        if self.real is not None:
            return self.real.digest
        return _digest(self._content())

    def mask(self) -> Step:
        """This step with mobiles, emails and telephones masked (the digest kept)."""
        if self.masked:
            return self
        return replace(
            self,
            body=_masked_body(self.body),
            changes=tuple(
                FieldChange(c.name, mask_value(c.name, c.old), mask_value(c.name, c.new))
                if c.name in SENSITIVE_FIELDS
                else c
                for c in self.changes
            ),
            real=self,
        )

    def _content(self) -> dict[str, Any]:
        # Keys in sorted order at every level (see `_jsonable`): the canonical form is then
        # json.dumps without sort_keys, which is much cheaper, and byte-equal to it.
        return {
            "action": str(self.action),
            "changes": [
                {"field": c.name, "new": _jsonable(c.new), "old": _jsonable(c.old)}
                for c in self.changes
            ],
            "destructive": self.destructive,
            "id": self.id,
            "key": self.key,
            "payload": self.payload,
            "phase": int(self.phase),
            "requires": list(self.requires),
        }

    def to_data(self) -> dict[str, Any]:
        """The step as the plan file stores it, keys sorted."""
        content = self._content()
        return {
            "action": content["action"],
            "changes": content["changes"],
            "destructive": content["destructive"],
            "digest": self.digest if self.masked else _digest(content),
            "id": content["id"],
            "key": content["key"],
            "label": self.label,
            "note": self.note,
            "payload": content["payload"],
            "phase": content["phase"],
            "requires": content["requires"],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, masked: bool) -> Step:
        """Raises ValueError, KeyError or TypeError for a malformed step, and ValueError when
        an unmasked step's digest does not match its content (it was edited)."""
        action = Action(data["action"])
        step = cls(
            id=str(data["id"]),
            phase=Phase(data["phase"]),
            key=str(data["key"]),
            body=body_from_payload(action, data["payload"]),
            label=str(data["label"]),
            changes=tuple(
                FieldChange(str(c["field"]), _freeze(c["old"]), _freeze(c["new"]))
                for c in data["changes"]
            ),
            requires=tuple(str(r) for r in data["requires"]),
            destructive=bool(data["destructive"]),
            note=str(data["note"]),
        )
        stored = str(data["digest"])
        if masked:
            return replace(step, sealed_digest=stored)
        if stored != step.digest:
            raise ValueError(f"step {step.id}: its digest does not match its content")
        return step


def _digest(content: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON: compact, real UTF-8, keys sorted (``content`` is built
    with sorted keys, so no sort_keys pass is needed)."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    """JSON-ready: tuples as lists, mappings as dicts with sorted keys."""
    kind = type(value)
    if kind is str or kind is int or value is None:  # most values: no ABC check
        return value
    if kind is tuple:
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _freeze(value: Any) -> Any:
    """JSON values with lists as tuples: what the planner builds, so round trips are exact."""
    if isinstance(value, Mapping):
        return {str(k): _freeze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


__all__ = [
    "BODY_OF_ACTION",
    "DEPARTMENT_ACTIONS",
    "Action",
    "AdoptDepartment",
    "CreateDepartment",
    "CreateUser",
    "DeleteDepartment",
    "DeleteUser",
    "DepartmentBody",
    "FieldChange",
    "Phase",
    "SetManagers",
    "Step",
    "StepBody",
    "UpdateDepartment",
    "UpdateUser",
    "UserBody",
    "body_fields",
    "body_from_payload",
    "mask_value",
]
