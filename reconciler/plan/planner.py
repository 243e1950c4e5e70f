"""Order a diff into phases of dependent steps: `build_plan(desired, live, policy)`. Pure.

Phases, each step in exactly one:

1. create departments, parents first;
2. update departments (rename, reorder, move, adopt), shallowest *desired* depth first;
3. delete users (pruned, and the delete half of a replace);
4. create users (and the create half of a replace), a user's manager first;
5. update users (fields, membership); before them, managers who are about to lose their
   membership are removed from the department's manager list;
6. set department managers (they are members by now);
7. delete departments, deepest first.

Before the diff, `lifecycle` applies the leaving dates of the day: people whose
``leaves_on`` has come are deleted (prune or not), held people move into the holding
department, the rest are listed as scheduled; pending invitations are listed too.

Where each phase lives: `departments` (1, 2, 7), `people` (3, 4), `updates` (5, 6) with
`handoffs` (the order of email and telephone handovers). Steps and the plan document are in
`steps` and `document`; what the phases share while building is `state.PlanState`.

`Step.requires` names the earlier steps a step depends on, so apply can run the steps of a
phase concurrently in any order the requirements allow, and skip the dependents of a failed
step. The property tests check that every such order is accepted by a model of DingTalk's
rules (sibling names 60021, no cycles 60010, unique mobiles 60104, emails 60106, telephones
40100, managers are members).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from reconciler.errors import ConfigError
from reconciler.gcpause import gc_paused
from reconciler.model import Org, UserId
from reconciler.plan.departments import (
    create_departments,
    delete_departments,
    init_slots,
    update_departments,
)
from reconciler.plan.diff import FieldChange, diff
from reconciler.plan.document import SCHEMA_VERSION, Counts, Plan, Summary, fingerprint
from reconciler.plan.lifecycle import resolve
from reconciler.plan.people import create_users, delete_users
from reconciler.plan.state import REPLACE_NOTE, PlanState
from reconciler.plan.steps import Action, Phase, Step, mask_value
from reconciler.plan.updates import set_managers, update_users
from reconciler.policy import DEFAULT_POLICY, Policy


def build_plan(
    desired: Org,
    live: Org,
    policy: Policy = DEFAULT_POLICY,
    *,
    today: datetime.date | None = None,
    removed: Mapping[UserId, datetime.date] | None = None,
) -> Plan:
    """The ordered plan that makes live match desired. Raises ConfigError when the desired
    state cannot be reached (a name or mobile held by something the plan must keep).

    ``today`` (in the policy's time zone) decides which ``leaves_on`` dates have come; None:
    none has. ``removed``: entries gone since a base commit whose date had come (see
    `reconciler.plan.lifecycle`)."""
    with gc_paused():
        dated = resolve(desired, policy, today, removed, live)
        desired = dated.desired
        changes = diff(desired, live, policy, dated.deleting)
        if changes.problems:
            raise ConfigError(list(changes.problems))
        state = PlanState(
            desired,
            live,
            changes,
            empty_string_clears=policy.tenant.empty_string_clears is True,
        )
        state.leaving = dated.leaving
        state.withdrawn = dated.withdrawn
        init_slots(state)
        create_departments(state)
        update_departments(state)
        delete_users(state)
        create_users(state)
        update_users(state)
        set_managers(state)
        delete_departments(state)
        if state.problems:
            raise ConfigError(state.problems)
        return Plan(
            steps=tuple(state.steps),
            existing_users=changes.existing_users,
            existing_departments=changes.existing_departments,
            live_fingerprint=fingerprint(live),
            desired_fingerprint=fingerprint(desired),
            warnings=(*dated.warnings, *changes.warnings, *state.warnings),
            scheduled=dated.scheduled,
            pending=dated.pending,
        )


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
