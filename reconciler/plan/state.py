"""What the planner's phases share while a plan is built: the steps so far and the
bookkeeping one phase leaves for the next (which step created, moved or deleted what). Pure."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.errors import Problem
from reconciler.model import DeptKey, Org, UserId
from reconciler.plan.diff import Diff, FieldChange, gives_up, unique_key
from reconciler.plan.steps import Step

Slot = tuple[DeptKey, str]
"""(parent ident, name): DingTalk keeps these unique among siblings (60021)."""

HANDOFF_FIELDS = ("email", "telephone")
"""Unique values a kept person can give up in an update (a mobile cannot be updated)."""

REPLACE_NOTE = "replace: mobile changed; DingTalk history is lost"


class PlanState:
    """The plan being built. Phases append steps with `add` and record, by department ident
    or userid, the id of the step that did something, so later phases can require it."""

    def __init__(
        self, desired: Org, live: Org, changes: Diff, *, empty_string_clears: bool = False
    ) -> None:
        self.desired = desired
        self.live = live
        self.d = changes
        self.steps: list[Step] = []
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        # Whether "" in user/update is known to clear a field (`orgctl doctor --save`); if
        # not, a value is released through a temporary placeholder instead.
        self.empty_string_clears = empty_string_clears
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
        self.leaving: Mapping[UserId, datetime.date] = {}  # leaves_on has come: deleted
        self.withdrawn: frozenset[UserId] = frozenset()  # stale invitations deleted
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


def holders(org: Org, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], UserId]:
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


def unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


__all__ = ["HANDOFF_FIELDS", "REPLACE_NOTE", "PlanState", "Slot", "holders", "unique"]
