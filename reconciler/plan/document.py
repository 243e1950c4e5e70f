"""The Plan: ordered steps, what they add up to, and the versioned JSON document that
`orgctl plan --out` writes and `orgctl apply --plan` reads. Pure: no I/O.

The document carries a digest per step (see `reconciler.plan.steps`) and a plan digest over
them in order. A masked document (``pii_masked``: mobiles, emails and telephones masked, fine
to upload as an artifact) cannot be executed, but it still identifies the reviewed writes:
apply re-plans and compares digests.
"""

from __future__ import annotations

import hashlib
import json
import operator
from dataclasses import dataclass, replace
from typing import Any

from reconciler.errors import InputError
from reconciler.model import USER_FIELDS, Org, UserId
from reconciler.plan.lifecycle import Pending, Scheduled
from reconciler.plan.steps import Action, Step

SCHEMA_VERSION = 2
"""2: a digest per step and for the plan; masked documents keep the real steps' digests.
Fields added since, read as empty when absent: ``scheduled``, ``pending_invitations``."""


@dataclass(frozen=True, slots=True)
class Counts:
    create: int = 0
    update: int = 0
    replace: int = 0
    delete: int = 0

    def to_data(self) -> dict[str, int]:
        return {  # keys sorted, as in the plan file
            "create": self.create,
            "delete": self.delete,
            "replace": self.replace,
            "update": self.update,
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
        return {  # keys sorted, as in the plan file
            "departments": self.departments.to_data(),
            "total": self.total.to_data(),
            "users": self.users.to_data(),
        }


@dataclass(frozen=True, slots=True)
class StepDifference:
    """How a fresh plan differs from a saved one, step by step (ids)."""

    added: tuple[str, ...]
    """Planned now, not in the saved plan."""
    removed: tuple[str, ...]
    """In the saved plan, not planned now."""
    changed: tuple[str, ...]
    """In both, with different content (values, requirements, phase)."""
    reordered: bool = False
    """Same steps, in another order."""

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.reordered)

    def lines(self) -> list[str]:
        return (
            [f"+ {s}  (new)" for s in self.added]
            + [f"- {s}  (no longer planned)" for s in self.removed]
            + [f"~ {s}  (changed)" for s in self.changed]
            + (["the steps are the same, in another order"] if self.reordered else [])
        )


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
    scheduled: tuple[Scheduled, ...] = ()
    """People whose ``leaves_on`` is still to come: listed, no step (not in the digest)."""
    pending: tuple[Pending, ...] = ()
    """Live people whose invitation is not accepted yet (40103): listed (not in the digest)."""

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
        """The same plan with mobiles, emails and telephones masked everywhere; every step
        keeps the digest of its real self."""
        return replace(self, steps=tuple(s.mask() for s in self.steps), pii_masked=True)

    @property
    def digest(self) -> str:
        """sha256 over the step digests in plan order: which writes, in which order."""
        return _plan_digest(s.digest for s in self.steps)

    def difference(self, fresh: Plan) -> StepDifference:
        """How ``fresh`` (planned now) differs from this (saved) plan, by step digests."""
        mine = {s.id: s.digest for s in self.steps}
        theirs = {s.id: s.digest for s in fresh.steps}
        added = tuple(s.id for s in fresh.steps if s.id not in mine)
        removed = tuple(s.id for s in self.steps if s.id not in theirs)
        changed = tuple(s.id for s in fresh.steps if s.id in mine and mine[s.id] != theirs[s.id])
        reordered = not (added or removed or changed) and [s.id for s in self.steps] != [
            s.id for s in fresh.steps
        ]
        return StepDifference(added, removed, changed, reordered)

    def to_data(self) -> dict[str, Any]:
        """The plan document. Keys are sorted at every level by construction, so `to_json`
        needs no sort_keys pass (the slow part of dumping a large plan)."""
        steps = [s.to_data() for s in self.steps]
        return {
            "desired_fingerprint": self.desired_fingerprint,
            "digest": _plan_digest(s["digest"] for s in steps),
            "existing": {"departments": self.existing_departments, "users": self.existing_users},
            "live_fingerprint": self.live_fingerprint,
            "pending_invitations": [p.to_data() for p in self.pending],
            "pii_masked": self.pii_masked,
            "scheduled": [s.to_data() for s in self.scheduled],
            "schema_version": SCHEMA_VERSION,
            "steps": steps,
            "summary": self.summary.to_data(),
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        """Canonical JSON (keys sorted, real UTF-8, indented), newline-terminated."""
        return json.dumps(self.to_data(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Raises InputError for anything but a well-formed plan document of this version
        whose digests match its steps."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not a plan file: {exc}") from None
        if not isinstance(data, dict):
            raise InputError("not a plan file: expected a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InputError(
                f"plan schema_version {version!r} is not supported (expected {SCHEMA_VERSION}); "
                "re-plan with this orgctl"
            )
        try:
            masked = bool(data["pii_masked"])
            plan = cls(
                steps=tuple(Step.from_data(s, masked=masked) for s in data["steps"]),
                existing_users=int(data["existing"]["users"]),
                existing_departments=int(data["existing"]["departments"]),
                live_fingerprint=str(data["live_fingerprint"]),
                desired_fingerprint=str(data["desired_fingerprint"]),
                warnings=tuple(str(w) for w in data["warnings"]),
                pii_masked=masked,
                # Added within version 2: older documents have no such list.
                scheduled=tuple(Scheduled.from_data(s) for s in data.get("scheduled", ())),
                pending=tuple(Pending.from_data(p) for p in data.get("pending_invitations", ())),
            )
            stored_digest = str(data["digest"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a valid plan file: {exc}") from None
        if stored_digest != plan.digest:
            raise InputError("plan file is inconsistent: its digest does not match its steps")
        if "summary" in data and data["summary"] != plan.summary.to_data():
            raise InputError("plan file is inconsistent: its summary does not match its steps")
        return plan


def _plan_digest(step_digests: Any) -> str:
    text = "\n".join(step_digests)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


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


__all__ = [
    "SCHEMA_VERSION",
    "Counts",
    "Plan",
    "StepDifference",
    "Summary",
    "fingerprint",
]
