"""Refuse plans that would remove too much, or anything that must never go. Pure.

Thresholds (octoDNS / peribolos style): a plan may delete or replace at most a share of the
*existing* live users (departments), and only once at least `Safety.min_existing` exist — on a
tiny org every change is a large share. `--force` overrides thresholds. Invariants are never
overridable: the root department, and protected users (deleted, or replaced — a replace is a
delete too: the person's DingTalk history goes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.model import ROOT, ROOT_DEPT_ID, User
from reconciler.plan.document import Plan
from reconciler.plan.lifecycle import undated_removal_message
from reconciler.plan.steps import Action, DepartmentBody, Step
from reconciler.policy import Policy


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    """``user-delete-fraction``, ``department-delete-fraction``, ``root-department``,
    ``protected-user``, ``undated-removal``."""
    message: str
    """Says whether --force lifts it ("re-run with --force" / "even with --force")."""
    overridable: bool
    """True: `--force` lifts it. False: an invariant."""

    def __str__(self) -> str:
        return self.message


def check_safety(
    plan: Plan, policy: Policy, *, force: bool, undated_removals: Sequence[User] = ()
) -> list[Violation]:
    """Every rule the plan breaks; with ``force``, only the invariants. ``undated_removals``:
    entries removed since a base commit without a ``leaves_on`` that had come (`plan --base`);
    with ``lifecycle.dated_removals_only`` deleting one of them is refused."""
    violations: list[Violation] = []
    deleted_users: set[str] = set()
    deleted_departments = 0
    for step in plan.steps:
        if step.action is Action.DELETE_USER:
            deleted_users.add(step.key)
        elif step.action is Action.DELETE_DEPARTMENT:
            deleted_departments += 1
        if _touches_root(step):
            violations.append(
                Violation(
                    "root-department",
                    f"step {step.id} ({step.action}) would change the root department "
                    "(DingTalk 60007/60018); orgctl never changes it, even with --force",
                    overridable=False,
                )
            )

    if policy.lifecycle.dated_removals_only:
        for user in undated_removals:
            if user.userid in deleted_users:
                violations.append(
                    Violation(
                        "undated-removal",
                        undated_removal_message(user) + ", even with --force",
                        overridable=False,
                    )
                )

    replaced = plan.replaced_users()
    for userid in sorted(deleted_users & set(policy.protected_users)):
        verb = "replace" if userid in replaced else "delete"
        why = " (its mobile changed: a replace deletes the person)" if verb == "replace" else ""
        violations.append(
            Violation(
                "protected-user",
                f"would {verb} protected user {userid}{why}; protected users are never deleted "
                "or replaced, even with --force",
                overridable=False,
            )
        )

    if not force:
        limit = policy.safety
        user_violation = _threshold(
            "user-delete-fraction",
            "users",
            len(deleted_users),
            len(replaced),
            plan.existing_users,
            limit.max_user_delete_fraction,
            limit.min_existing,
        )
        if user_violation is not None:
            violations.append(user_violation)
        dept_violation = _threshold(
            "department-delete-fraction",
            "departments",
            deleted_departments,
            0,
            plan.existing_departments,
            limit.max_department_delete_fraction,
            limit.min_existing,
        )
        if dept_violation is not None:
            violations.append(dept_violation)
    return violations


def _touches_root(step: Step) -> bool:
    if not isinstance(step.body, DepartmentBody):
        return False
    return step.key == ROOT or step.body.ref in (ROOT, f"#{ROOT_DEPT_ID}")


def _threshold(
    rule: str,
    noun: str,
    removed: int,
    replaced: int,
    existing: int,
    fraction: float,
    min_existing: int,
) -> Violation | None:
    if existing < max(min_existing, 1) or removed / existing <= fraction:
        return None
    what = "delete or replace" if replaced else "delete"
    detail = f", {replaced} of them replaced" if replaced else ""
    return Violation(
        rule,
        f"would {what} {removed} of {existing} {noun} ({_percent(removed / existing)}{detail}) "
        f"> {_percent(fraction)} limit; re-run with --force if intended",
        overridable=True,
    )


def _percent(share: float) -> str:
    text = f"{share * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


__all__ = ["Violation", "check_safety"]
