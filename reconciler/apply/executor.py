"""Execute a Plan against DingTalk: ordered, concurrent where safe, never a blind write twice.
I/O: DingTalk writes through the client, step events to an `EventSink`; never prints.

Scheduling
    A plan lists its steps in an order that is correct when run one at a time, grouped in
    phases (create departments … delete departments). Running phase after phase with a
    barrier between them would leave most APIs idle: DingTalk budgets 20 QPS *per API*, and
    a plan's user creates (user/create) and user updates (user/update) live in different
    phases, so a barrier adds their times instead of overlapping them. The executor therefore
    runs a dependency graph: the plan's own ``requires`` plus the orderings DingTalk's rules
    need, derived from what each step touches (`step_dependencies`): a department exists
    before anything goes into it and is emptied before it is deleted, a mobile or email is
    freed before someone else takes it, a sibling name is freed before it is reused, an
    ancestor is in place before a descendant moves under it (so no transient cycle, 60010),
    managers are members before they are set. Every derived edge points from an earlier step
    to a later one in plan order, so the graph is acyclic and any schedule it allows does
    what the sequential plan would. Steps that touch nothing in common run together.

    A bounded number of steps are in flight at once, shared fairly between APIs (the API with
    the fewest steps in flight goes next), so a long queue on one API never starves another;
    the client's per-API limiters then pace each stream at its QPS. The wall time approaches
    the floor: max over APIs of calls / QPS.

Failures
    A failed step's dependents through ``requires`` are skipped (transitively), with the
    reason; everything else goes on. Derived edges only order: a later step still runs after
    an earlier one failed, and DingTalk's answer (with a hint) says what is wrong.
    40103 (invitation sent) is *pending*, not failed.

Unknown outcomes
    A write that timed out or lost its connection (`OutcomeUnknownError`) may have happened.
    Before trying again the executor reads: a create looks for the object (a department among
    the parent's children by source_identifier or name; a user by userid) and adopts it, a
    delete that finds nothing is done, an update re-reads and compares. Attempts are bounded.

Level-based
    There is no state file. Whatever a run leaves undone (a failure, a kill, a replace whose
    create failed after its delete), the next apply sees in a fresh read and plans again.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.apply.journal import EventSink, NullJournal
from reconciler.clock import Clock
from reconciler.errors import (
    BusyError,
    DingTalkError,
    OrgctlError,
    OutcomeUnknownError,
    RetryableError,
    TerminalError,
    ThrottledError,
    TokenError,
)
from reconciler.model import ROOT, ROOT_DEPT_ID, DeptKey, Org, UserId, is_unkeyed
from reconciler.plan.planner import Action

# ---------------------------------------------------------------------------- shapes

# The planner's action names, as plain strings: steps only have to look like plan steps.
CREATE_DEPARTMENT = Action.CREATE_DEPARTMENT.value
UPDATE_DEPARTMENT = Action.UPDATE_DEPARTMENT.value
ADOPT_DEPARTMENT = Action.ADOPT_DEPARTMENT.value
DELETE_USER = Action.DELETE_USER.value
CREATE_USER = Action.CREATE_USER.value
UPDATE_USER = Action.UPDATE_USER.value
SET_MANAGERS = Action.SET_MANAGERS.value
DELETE_DEPARTMENT = Action.DELETE_DEPARTMENT.value

API_OF_ACTION: Mapping[str, str] = {
    CREATE_DEPARTMENT: "department/create",
    UPDATE_DEPARTMENT: "department/update",
    ADOPT_DEPARTMENT: "department/update",
    SET_MANAGERS: "department/update",
    DELETE_DEPARTMENT: "department/delete",
    DELETE_USER: "user/delete",
    CREATE_USER: "user/create",
    UPDATE_USER: "user/update",
}
"""The DingTalk API each action writes through: each has its own 20 QPS budget."""

DEFAULT_CONCURRENCY = 48
"""Steps in flight at once. Keeping every API at its 20 QPS needs 20 × latency calls in flight
per API: at the ~400 ms a runner far from DingTalk can see, with the user and department
write APIs busy together, that is a few dozen. The per-API limiters keep the rate."""
MAX_ATTEMPTS = 3
"""Write attempts per step. The client already retries throttles and busy answers itself
(up to its own limit); this bounds the rounds of *verify, then try again* on top of it."""
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0


class FieldChangeLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def old(self) -> object: ...
    @property
    def new(self) -> object: ...


class StepLike(Protocol):
    """What the executor needs from a plan step (`reconciler.plan.planner.Step` has this shape)."""

    @property
    def id(self) -> str: ...
    @property
    def action(self) -> Any: ...  # a str or a str-valued enum
    @property
    def key(self) -> str: ...
    @property
    def changes(self) -> Sequence[FieldChangeLike]: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def requires(self) -> Sequence[str]: ...


class PlanLike(Protocol):
    @property
    def steps(self) -> Sequence[StepLike]: ...


class ApplyClient(Protocol):
    """The writes and reads apply makes (`reconciler.dingtalk.DingTalkClient` has them)."""

    async def create_department(
        self,
        *,
        name: str,
        parent_id: int,
        order: int | None = None,
        source_identifier: str | None = None,
    ) -> int: ...
    async def update_department(self, dept_id: int, **fields: Any) -> None: ...
    async def delete_department(self, dept_id: int) -> None: ...
    async def create_user(self, fields: Mapping[str, Any]) -> str: ...
    async def update_user(self, userid: str, fields: Mapping[str, Any]) -> None: ...
    async def delete_user(self, userid: str) -> None: ...
    async def get_user(self, userid: str) -> dict[str, Any] | None: ...
    async def get_department(self, dept_id: int) -> dict[str, Any]: ...
    async def list_sub_department_ids(self, dept_id: int) -> list[int]: ...
    async def get_userid_by_mobile(self, mobile: str) -> str | None: ...


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    PENDING = "pending"  # 40103: DingTalk sent an invitation; the person must accept it


@dataclass(frozen=True, slots=True)
class StepResult:
    step_id: str
    action: str
    key: str
    outcome: Outcome
    attempts: int = 0
    errcode: int | None = None
    message: str = ""
    hint: str = ""
    dept_id: int | None = None  # a department created or adopted by this step


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Progress, for the CLI's bar and for tests. ``kind`` is ``start``, ``retry``,
    ``verify`` (an outcome was unknown; reading before retrying) or an `Outcome` value."""

    kind: str
    step_id: str
    action: str
    key: str
    attempt: int = 0
    errcode: int | None = None
    message: str = ""
    hint: str = ""

    @property
    def finished(self) -> bool:
        return self.kind in Outcome.__members__.values()


@dataclass(frozen=True, slots=True)
class AbsentUser:
    """Someone deleted for a replace (mobile change) whose re-create did not happen."""

    userid: UserId
    reason: str


@dataclass(frozen=True, slots=True)
class ApplyReport:
    results: tuple[StepResult, ...]  # in plan order
    absent: tuple[AbsentUser, ...] = ()
    writes: int = 0  # write calls sent (attempts), including retries
    elapsed: float = 0.0  # seconds on the executor's clock

    def with_outcome(self, outcome: Outcome) -> tuple[StepResult, ...]:
        return tuple(r for r in self.results if r.outcome is outcome)

    @property
    def done(self) -> tuple[StepResult, ...]:
        return self.with_outcome(Outcome.DONE)

    @property
    def failed(self) -> tuple[StepResult, ...]:
        return self.with_outcome(Outcome.FAILED)

    @property
    def skipped(self) -> tuple[StepResult, ...]:
        return self.with_outcome(Outcome.SKIPPED)

    @property
    def pending(self) -> tuple[StepResult, ...]:
        return self.with_outcome(Outcome.PENDING)

    @property
    def ok(self) -> bool:
        """Nothing failed and nobody was left out of DingTalk."""
        return not self.failed and not self.absent

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


# ---------------------------------------------------------------------------- hints

HINTS: Mapping[int, str] = {
    60005: "department still has members: move or delete them first",
    60006: "department still has sub-departments: delete or move them first",
    60007: "the root department cannot be deleted",
    60018: "the root department cannot be updated",
    60021: "a sibling department already has this name",
    60003: "department not found: it changed in DingTalk since the plan was read; re-run",
    60004: "parent department not found: it changed in DingTalk since the plan was read",
    60010: "the move would make a department its own ancestor",
    60002: "the department tree is too deep for DingTalk",
    60102: "the userid already exists in DingTalk (created since the plan was read?)",
    60103: "invalid mobile: use +<country code>-<number>",
    40104: "invalid mobile: use +<country code>-<number>",
    60104: "mobile already used by another member",
    60107: "mobile already used by another member",
    60106: "email already used by another member",
    40101: "email already used by another member",
    40100: "extension (telephone) already used by another member",
    60121: "user not found: it changed in DingTalk since the plan was read; re-run",
    60128: "the manager userid does not exist",
    40103: "invitation pending: the person must accept it; the next apply tries again",
    40022: "DingTalk cannot change a mobile: the plan must delete and re-create the user",
    41054: "DingTalk cannot change a mobile: the plan must delete and re-create the user",
    50002: "the user is outside the app's contact scope (通讯录权限范围): widen it",
    50004: "the department is outside the app's contact scope (通讯录权限范围): widen it",
    12150: "智能人事 position management blocks title/department changes: use the HR transfer",
    43007: "the app lacks the permission qyapi_manage_addresslist (权限管理)",
    60011: "the app lacks the permission qyapi_manage_addresslist (权限管理)",
    60020: "the egress IP is not on the app's allow-list (开发配置 → 安全中心)",
    90020: "the org's monthly API quota is spent: wait for next month or upgrade",
}
PENDING_ERRCODES = frozenset({40103})


def hint_for(errcode: int | None) -> str:
    return HINTS.get(errcode, "") if errcode is not None else ""


# ---------------------------------------------------------------------------- step access
#
# Payloads follow `reconciler.plan.planner.Step`: department references are *refs* — the live key of
# a department that existed when the plan was made (its source_identifier, or ``#<dept_id>``),
# the desired key of one this plan creates, or ``root``. Department steps name their
# department in ``dept`` (a create in ``key``); the payload holds only what is written.


def action_of(step: StepLike) -> str:
    action = step.action
    return str(getattr(action, "value", action))


def dept_ref(step: StepLike) -> DeptKey:
    """The ref of the department a department step writes."""
    for name in ("dept", "key"):
        value = step.payload.get(name)
        if isinstance(value, str) and value:
            return value
    return step.key


def _text(step: StepLike, name: str) -> str | None:
    value = step.payload.get(name)
    return str(value) if value is not None else None


def _keys(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value)
    raise TypeError(f"expected a list of keys, got {type(value).__name__}")


def _old_managers(step: StepLike, live: Org) -> tuple[UserId, ...]:
    for change in step.changes:
        if change.name == "managers" and change.old is not None:
            return _keys(change.old)
    dept = live.departments.get(dept_ref(step))
    return dept.managers or () if dept is not None else ()


# ---------------------------------------------------------------------------- ordering


def execution_order(steps: Sequence[StepLike]) -> list[StepLike]:
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
    order: list[StepLike] = []
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


def _final_parents(steps: Sequence[StepLike], live: Org) -> dict[DeptKey, DeptKey]:
    """Each department's parent ref once the plan is applied (live, overlaid by the plan)."""
    parents = {key: dept.parent for key, dept in live.departments.items()}
    for step in steps:
        action = action_of(step)
        parent = _text(step, "parent")
        if action in (CREATE_DEPARTMENT, UPDATE_DEPARTMENT, ADOPT_DEPARTMENT) and parent:
            parents[dept_ref(step)] = parent
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


def _claims(step: StepLike, live: Org, parents: Mapping[DeptKey, DeptKey]) -> list[Claim]:
    """The resources a step touches (by ref); exclusive claims are ordered against every
    other claim of the resource, shared ones only against exclusive ones."""
    action = action_of(step)
    if action in (CREATE_USER, UPDATE_USER, DELETE_USER):
        return _user_claims(step, action, live)
    if action in API_OF_ACTION:
        return _department_claims(step, action, live, parents)
    raise ValueError(f"step {step.id}: unknown action {action!r}")


def _department_claims(
    step: StepLike, action: str, live: Org, parents: Mapping[DeptKey, DeptKey]
) -> list[Claim]:
    ref = dept_ref(step)
    claims: list[Claim] = []
    have = live.departments.get(ref)
    before = (have.parent, have.name) if have is not None else None
    parent = _text(step, "parent")
    if action == CREATE_DEPARTMENT:
        under = parent or ROOT
        claims += [(f"id:{ref}", True), (f"attrs:{ref}", True), (f"id:{under}", False)]
        claims.append((_slot(under, _text(step, "name") or ""), True))
    elif action in (UPDATE_DEPARTMENT, ADOPT_DEPARTMENT):
        claims += [(f"id:{ref}", False), (f"attrs:{ref}", True)]
        if parent is not None:
            claims.append((f"id:{parent}", False))
            # Moving under a parent whose own place is still changing could close a cycle for
            # a moment (60010): wait until every desired ancestor is where it belongs.
            claims += [(f"attrs:{a}", False) for a in _ancestors(ref, parents)]
            if before is not None:
                claims.append((f"children:{before[0]}", False))
        name = _text(step, "name")
        if (parent is not None or name is not None) and before is not None:
            # Sibling names are unique (60021): free the old slot, take the new one.
            after = (parent or before[0], name or before[1])
            claims += [(_slot(*before), True), (_slot(*after), True)]
    elif action == SET_MANAGERS:
        claims += [(f"id:{ref}", False), (f"managers:{ref}", True)]
        # Managers must be members when they are set (DingTalk rejects others), and one who
        # leaves the department goes off the list first: order against both kinds of people.
        for userid in sorted({*_old_managers(step, live), *_keys(step.payload.get("managers"))}):
            claims.append((f"user:{userid}", False))
    elif action == DELETE_DEPARTMENT:
        # Only an empty department can go (60005 members, 60006 sub-departments).
        claims += [(f"id:{ref}", True), (f"attrs:{ref}", True)]
        claims += [(f"members:{ref}", True), (f"children:{ref}", True)]
        claims.append((f"managers:{ref}", True))
        if before is not None:
            claims += [(f"children:{before[0]}", False), (_slot(*before), True)]
    return claims


def _named_users(step: StepLike) -> list[UserId]:
    """People a step needs to exist: a manager it sets, managers it adds to a department."""
    action = action_of(step)
    if action in (CREATE_USER, UPDATE_USER):
        manager = step.payload.get("manager")
        return [str(manager)] if manager else []
    if action == SET_MANAGERS:
        return sorted(set(_keys(step.payload.get("managers"))))
    return []


def _user_claims(step: StepLike, action: str, live: Org) -> list[Claim]:
    userid = str(step.payload.get("userid") or step.key)
    claims: list[Claim] = [(f"user:{userid}", True)]
    have = live.users.get(userid)
    # A create is a new account: the live one (if any) is the half a replace deletes first.
    before = have.departments if have is not None and action != CREATE_USER else ()
    if action == DELETE_USER:
        after: tuple[str, ...] = ()
    elif "departments" in step.payload:
        after = _keys(step.payload["departments"])
    else:
        after = before
    claims += [(f"id:{d}", False) for d in after if d not in before]
    claims += [(f"members:{d}", False) for d in before if d not in after]
    manager = step.payload.get("manager")
    if action != DELETE_USER and isinstance(manager, str) and manager:
        claims.append((f"user:{manager}", False))
    # Mobile, email and extension number are unique in the org (60104, 60106, 40100): the
    # one who frees a value goes before the one who takes it.
    for name in ("mobile", "email", "telephone"):
        values: list[object] = []
        if action == DELETE_USER or (action == UPDATE_USER and name in step.payload):
            values.append(getattr(have, name, None))  # frees the live value
        if action != DELETE_USER:
            values.append(step.payload.get(name))  # takes the new one
        claims += [(f"{name}:{v}", True) for v in values if isinstance(v, str) and v]
    return claims


def step_dependencies(steps: Sequence[StepLike], live: Org) -> dict[str, frozenset[str]]:
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


# ---------------------------------------------------------------------------- the executor


class _Skip(Exception):
    """A step cannot run: something it refers to does not exist."""


@dataclass(slots=True)
class _Attempt:
    number: int = 0
    unknown: bool = False  # an earlier attempt's outcome was unknown


@dataclass(slots=True)
class _Run:
    ids: dict[DeptKey, int]
    results: dict[str, StepResult] = field(default_factory=dict)
    writes: int = 0


class _Executor:
    def __init__(
        self,
        plan: PlanLike,
        client: ApplyClient,
        live: Org,
        *,
        journal: EventSink,
        clock: Clock,
        concurrency: int,
        on_event: Callable[[StepEvent], None] | None,
        rng: random.Random,
        max_attempts: int,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.steps = list(plan.steps)
        self.client = client
        self.live = live
        self.journal = journal
        self.clock = clock
        self.concurrency = concurrency
        self.on_event = on_event
        self.rng = rng
        self.max_attempts = max_attempts
        ids: dict[DeptKey, int] = {ROOT: ROOT_DEPT_ID}
        for key, dept in live.departments.items():
            if dept.dept_id is not None:
                ids[key] = dept.dept_id
        self.run = _Run(ids=ids)
        self.user_creates = {
            str(s.payload.get("userid") or s.key): s.id
            for s in self.steps
            if action_of(s) == CREATE_USER
        }

    # -- events

    def _emit(self, event: StepEvent) -> None:
        if event.kind != "start":
            self.journal.write(
                "step",
                step=event.step_id,
                action=event.action,
                key=event.key,
                outcome=event.kind,
                attempt=event.attempt,
                errcode=event.errcode,
                message=event.message or None,
                hint=event.hint or None,
            )
        if self.on_event is not None:
            self.on_event(event)

    def _finish(self, step: StepLike, result: StepResult) -> StepResult:
        self.run.results[step.id] = result
        self._emit(
            StepEvent(
                kind=result.outcome.value,
                step_id=step.id,
                action=result.action,
                key=step.key,
                attempt=result.attempts,
                errcode=result.errcode,
                message=result.message,
                hint=result.hint,
            )
        )
        return result

    # -- scheduling

    async def execute(self) -> ApplyReport:
        started = self.clock.monotonic()
        order = execution_order(self.steps)
        rank = {step.id: i for i, step in enumerate(order)}
        by_id = {step.id: step for step in self.steps}
        deps = step_dependencies(self.steps, self.live)
        dependents: dict[str, list[str]] = {step.id: [] for step in self.steps}
        for step_id, required in deps.items():
            for req in required:
                dependents[req].append(step_id)
        waiting = {step_id: len(required) for step_id, required in deps.items()}
        ready: dict[str, list[tuple[int, str]]] = {}
        in_flight: dict[str, int] = {}
        running: dict[asyncio.Task[StepResult], str] = {}

        def make_ready(step_id: str) -> None:
            api = API_OF_ACTION.get(action_of(by_id[step_id]), "?")
            heapq.heappush(ready.setdefault(api, []), (rank[step_id], step_id))

        def complete(step_id: str) -> None:
            for dependent in dependents[step_id]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    make_ready(dependent)

        for step in order:
            if waiting[step.id] == 0:
                make_ready(step.id)
        self.journal.write("start", steps=len(self.steps), concurrency=self.concurrency)
        try:
            while any(ready.values()) or running:
                while len(running) < self.concurrency and any(ready.values()):
                    api = min(
                        (a for a, queue in ready.items() if queue),
                        key=lambda a: (in_flight.get(a, 0), ready[a][0][0]),
                    )
                    _, step_id = heapq.heappop(ready[api])
                    step = by_id[step_id]
                    blocked = self._blocked_by(step)
                    if blocked is not None:
                        self._finish(step, blocked)
                        complete(step_id)
                        continue
                    in_flight[api] = in_flight.get(api, 0) + 1
                    task = asyncio.create_task(self._run_step(step), name=step_id)
                    running[task] = api
                if not running:
                    continue
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    api = running.pop(task)
                    in_flight[api] -= 1
                    result = task.result()
                    complete(result.step_id)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            results = self._results_in_plan_order()
            report = ApplyReport(
                tuple(results),
                self._absent(results),
                self.run.writes,
                self.clock.monotonic() - started,
            )
            self.journal.write(
                "end",
                done=len(report.done),
                failed=len(report.failed),
                skipped=len(report.skipped),
                pending=len(report.pending),
                not_run=len(self.steps) - len(results),
                absent=[a.userid for a in report.absent] or None,
                writes=report.writes,
            )
        return report

    def _results_in_plan_order(self) -> list[StepResult]:
        return [self.run.results[s.id] for s in self.steps if s.id in self.run.results]

    def _blocked_by(self, step: StepLike) -> StepResult | None:
        """A SKIPPED result when something this step requires did not get done: a step it
        ``requires``, or the create (in this plan) of a person it names as a manager —
        DingTalk would only reject it (60128, 40031)."""
        needed = [*step.requires]
        for userid in _named_users(step):
            create = self.user_creates.get(userid)
            if create is not None and create != step.id:
                needed.append(create)
        for req in needed:
            result = self.run.results.get(req)
            if result is None or result.outcome is Outcome.DONE:
                continue  # not run yet: only a plan's own order can put it later
            if result.outcome is Outcome.SKIPPED:
                reason = f"{req} was skipped ({result.message})"
            elif result.outcome is Outcome.PENDING:
                reason = f"{req} is pending ({result.hint or result.message})"
            else:
                reason = f"{req} failed"
            return StepResult(
                step.id, action_of(step), step.key, Outcome.SKIPPED, message=f"skipped: {reason}"
            )
        return None

    def _absent(self, results: Sequence[StepResult]) -> tuple[AbsentUser, ...]:
        by_id = {r.step_id: r for r in results}
        outcome_of: dict[tuple[str, str], StepResult] = {}
        for step in self.steps:
            result = by_id.get(step.id)
            if result is not None:
                outcome_of[(action_of(step), step.key)] = result
        recreated = {s.key for s in self.steps if action_of(s) == CREATE_USER}
        absent: list[AbsentUser] = []
        for step in self.steps:
            if action_of(step) != DELETE_USER or step.key not in recreated:
                continue
            deleted = outcome_of.get((DELETE_USER, step.key))
            if deleted is None or deleted.outcome is not Outcome.DONE:
                continue
            created = outcome_of.get((CREATE_USER, step.key))
            if created is None:
                reason = "the apply stopped before re-creating them"
            elif created.outcome is Outcome.DONE:
                continue
            else:
                detail = created.hint or created.message
                reason = f"re-creating them {created.outcome.value}: {detail}"
            absent.append(AbsentUser(step.key, reason))
        return tuple(absent)

    # -- one step

    async def _run_step(self, step: StepLike) -> StepResult:
        action = action_of(step)
        attempt = _Attempt()
        self._emit(StepEvent("start", step.id, action, step.key))
        try:
            result = await self._attempts(step, action, attempt)
        except _Skip as why:
            result = StepResult(
                step.id, action, step.key, Outcome.SKIPPED, attempt.number, message=str(why)
            )
        except DingTalkError as error:
            # A read made while checking an unknown outcome failed: we cannot tell.
            result = StepResult(
                step.id,
                action,
                step.key,
                Outcome.FAILED,
                attempt.number,
                errcode=error.errcode,
                message=f"outcome unknown and could not be checked: {error}",
                hint="re-run apply: it re-reads DingTalk and plans what is still missing",
            )
        except OrgctlError as error:
            result = StepResult(
                step.id, action, step.key, Outcome.FAILED, attempt.number, message=str(error)
            )
        except Exception as error:  # a bug in one step must not stop the others
            result = StepResult(
                step.id,
                action,
                step.key,
                Outcome.FAILED,
                attempt.number,
                message=f"internal error: {type(error).__name__}: {error}",
            )
        return self._finish(step, result)

    async def _attempts(self, step: StepLike, action: str, attempt: _Attempt) -> StepResult:
        write, verify = self._handlers(step, action)
        while True:
            attempt.number += 1
            self.run.writes += 1
            try:
                dept_id = await write()
            except (OutcomeUnknownError, BusyError) as error:
                # A timeout may have written; so may a -1 (or a 5xx) still there after the
                # client's own retries: DingTalk says "busy", but a read is cheap and certain.
                # Check before sending it again.
                attempt.unknown = True
                outcome = await self._check(step, action, attempt, verify, error)
                if outcome is not None:
                    return outcome
                continue
            except (ThrottledError, TokenError, RetryableError) as error:
                # DingTalk refused before executing: safe to send again after a pause.
                if attempt.number >= self.max_attempts:
                    return self._failed(step, action, attempt, error)
                self._emit_retry(step, action, attempt, error)
                await self.clock.sleep(self._backoff(attempt.number))
                continue
            except TerminalError as error:
                if attempt.unknown and error.errcode in _ALREADY_DONE_ERRCODES.get(action, ()):
                    # Our earlier, unknown attempt may be why DingTalk says "exists"/"gone".
                    verified = await verify()
                    if verified is not None:
                        return self._done(step, action, attempt, verified, "confirmed by reading")
                return await self._terminal(step, action, attempt, error)
            return self._done(step, action, attempt, dept_id, "")

    async def _check(
        self,
        step: StepLike,
        action: str,
        attempt: _Attempt,
        verify: Callable[[], Awaitable[int | None]],
        error: DingTalkError,
    ) -> StepResult | None:
        """After an unknown outcome: done if a read shows the write happened, failed if
        attempts are spent, else None (try the write again)."""
        self._emit(
            StepEvent(
                "verify", step.id, action, step.key, attempt.number, error.errcode, str(error)
            )
        )
        verified = await verify()
        if verified is not None:
            note = f"the write's outcome was unknown ({error.errmsg}); re-reading shows it applied"
            return self._done(step, action, attempt, verified, note)
        if attempt.number >= self.max_attempts:
            return self._failed(step, action, attempt, error)
        self._emit_retry(step, action, attempt, error)
        return None

    def _emit_retry(
        self, step: StepLike, action: str, attempt: _Attempt, error: DingTalkError
    ) -> None:
        self._emit(
            StepEvent("retry", step.id, action, step.key, attempt.number, error.errcode, str(error))
        )

    def _backoff(self, attempt: int) -> float:
        base = min(BACKOFF_MAX, BACKOFF_INITIAL * 2.0 ** (attempt - 1))
        return base * (1.0 + 0.5 * self.rng.random())

    def _done(
        self, step: StepLike, action: str, attempt: _Attempt, dept_id: int | None, note: str
    ) -> StepResult:
        if dept_id is not None and action in (CREATE_DEPARTMENT, ADOPT_DEPARTMENT):
            self.run.ids[dept_ref(step)] = dept_id
        shown_id = dept_id if action in (CREATE_DEPARTMENT, ADOPT_DEPARTMENT) else None
        return StepResult(
            step.id, action, step.key, Outcome.DONE, attempt.number, message=note, dept_id=shown_id
        )

    def _failed(
        self,
        step: StepLike,
        action: str,
        attempt: _Attempt,
        error: DingTalkError,
        outcome: Outcome = Outcome.FAILED,
        hint: str = "",
    ) -> StepResult:
        """The result of a step DingTalk's ``error`` ended. Apply's own hint (it knows what
        the step was doing) wins over the client's generic one."""
        return StepResult(
            step.id,
            action,
            step.key,
            outcome,
            attempt.number,
            errcode=error.errcode,
            message=error.errmsg or str(error),
            hint=hint or hint_for(error.errcode) or error.hint,
        )

    async def _terminal(
        self, step: StepLike, action: str, attempt: _Attempt, error: DingTalkError
    ) -> StepResult:
        if error.errcode in PENDING_ERRCODES:
            return self._failed(step, action, attempt, error, Outcome.PENDING)
        if error.errcode in (60104, 60107) and action == CREATE_USER:
            hint = await self._mobile_holder_hint(step)
            return self._failed(step, action, attempt, error, hint=hint)
        return self._failed(step, action, attempt, error)

    async def _mobile_holder_hint(self, step: StepLike) -> str:
        mobile = step.payload.get("mobile")
        if not isinstance(mobile, str) or not mobile:
            return hint_for(60104)
        try:
            holder = await self.client.get_userid_by_mobile(mobile)
        except DingTalkError:
            return hint_for(60104)
        if holder is None:
            return "mobile already used by a member DingTalk does not show (inactive?)"
        return f"mobile already used by userid {holder}"

    # -- writes and the reads that check them

    def _dept_id(self, key: DeptKey) -> int:
        dept_id = self.run.ids.get(key)
        if dept_id is None and is_unkeyed(key):
            dept_id = int(key[1:])
        if dept_id is None:
            raise _Skip(f"skipped: department {key} does not exist (was its create skipped?)")
        return dept_id

    def _handlers(
        self, step: StepLike, action: str
    ) -> tuple[Callable[[], Awaitable[int | None]], Callable[[], Awaitable[int | None]]]:
        """(write, verify) for a step. Both return a department id where there is one;
        verify returns None when the write is *not* visible."""
        if action == CREATE_DEPARTMENT:
            return self._create_department(step)
        if action in (UPDATE_DEPARTMENT, ADOPT_DEPARTMENT, SET_MANAGERS):
            return self._update_department(step, action)
        if action == DELETE_DEPARTMENT:
            return self._delete_department(step)
        if action == CREATE_USER:
            return self._create_user(step)
        if action == UPDATE_USER:
            return self._update_user(step)
        if action == DELETE_USER:
            return self._delete_user(step)
        raise ValueError(f"step {step.id}: unknown action {action!r}")

    def _create_department(
        self, step: StepLike
    ) -> tuple[Callable[[], Awaitable[int | None]], Callable[[], Awaitable[int | None]]]:
        name = _text(step, "name") or ""
        parent = _text(step, "parent") or ROOT
        order = step.payload.get("order")
        source_identifier = dept_ref(step)

        async def write() -> int | None:
            return await self.client.create_department(
                name=name,
                parent_id=self._dept_id(parent),
                order=order if isinstance(order, int) else None,
                source_identifier=source_identifier,
            )

        async def verify() -> int | None:
            # Create-or-adopt: the department is ours if it carries our source_identifier,
            # or (if the app cannot read source_identifier) has our name under our parent.
            by_name: int | None = None
            for child_id in await self.client.list_sub_department_ids(self._dept_id(parent)):
                child = await self.client.get_department(child_id)
                if child.get("source_identifier") == source_identifier:
                    return child_id
                if child.get("name") == name and not child.get("source_identifier"):
                    by_name = child_id
            return by_name

        return write, verify

    def _department_fields(self, step: StepLike, action: str) -> dict[str, Any]:
        payload = step.payload
        _check_payload(step, _DEPARTMENT_PAYLOAD)
        fields: dict[str, Any] = {}
        if action == SET_MANAGERS:
            fields["managers"] = sorted(_keys(payload.get("managers")))
            return fields
        if "name" in payload:
            fields["name"] = str(payload["name"])
        if "parent" in payload:
            fields["parent_id"] = self._dept_id(str(payload["parent"]))
        if isinstance(payload.get("order"), int):
            fields["order"] = payload["order"]
        if payload.get("source_identifier"):
            fields["source_identifier"] = str(payload["source_identifier"])
        return fields

    def _update_department(
        self, step: StepLike, action: str
    ) -> tuple[Callable[[], Awaitable[int | None]], Callable[[], Awaitable[int | None]]]:
        ref = dept_ref(step)

        async def write() -> int | None:
            dept_id = self._dept_id(ref)
            await self.client.update_department(dept_id, **self._department_fields(step, action))
            return dept_id

        async def verify() -> int | None:
            dept_id = self._dept_id(ref)
            current = await self.client.get_department(dept_id)
            for name, value in self._department_fields(step, action).items():
                read_as = "dept_manager_userid_list" if name == "managers" else name
                if not _same(value, current.get(read_as)):
                    return None
            return dept_id

        return write, verify

    def _delete_department(
        self, step: StepLike
    ) -> tuple[Callable[[], Awaitable[int | None]], Callable[[], Awaitable[int | None]]]:
        ref = dept_ref(step)

        async def write() -> int | None:
            await self.client.delete_department(self._dept_id(ref))
            return None

        async def verify() -> int | None:
            try:
                await self.client.get_department(self._dept_id(ref))
            except TerminalError as error:
                if error.errcode in (60003, 40009):
                    return 0  # gone: the delete happened
                raise
            return None

        return write, verify

    def _user_fields(self, step: StepLike, *, create: bool) -> dict[str, Any]:
        """DingTalk's field names for the payload's model fields (refs resolved to ids)."""
        _check_payload(step, _USER_PAYLOAD)
        fields: dict[str, Any] = {}
        for name, value in step.payload.items():
            if name == "departments":
                fields["dept_id_list"] = [self._dept_id(ref) for ref in _keys(value)]
            elif name == "manager":
                # "" clears the manager: the client sends force_update_fields for None.
                if value:
                    fields["manager_userid"] = str(value)
                elif not create:
                    fields["manager_userid"] = None
            elif name == "extension":
                if value is not None:
                    fields["extension"] = dict(value) if isinstance(value, Mapping) else value
            elif name in _USER_API_FIELDS and value is not None:
                fields[name] = value
        if create:
            fields["userid"] = str(step.payload.get("userid") or step.key)
        return fields

    def _create_user(
        self, step: StepLike
    ) -> tuple[Callable[[], Awaitable[int | None]], Callable[[], Awaitable[int | None]]]:
        async def write() -> int | None:
            await self.client.create_user(self._user_fields(step, create=True))
            return None

        async def verify() -> int | None:
            return 0 if await self.client.get_user(step.key) is not None else None

        return write, verify

    def _update_user(
        self, step: StepLike
    ) -> tuple[Callable[[], Awaitable[int | None]], Callable[[], Awaitable[int | None]]]:
        async def write() -> int | None:
            await self.client.update_user(step.key, self._user_fields(step, create=False))
            return None

        async def verify() -> int | None:
            current = await self.client.get_user(step.key)
            if current is None:
                return None
            for name, value in self._user_fields(step, create=False).items():
                if not _same(value, current.get(name)):
                    return None
            return 0

        return write, verify

    def _delete_user(
        self, step: StepLike
    ) -> tuple[Callable[[], Awaitable[int | None]], Callable[[], Awaitable[int | None]]]:
        async def write() -> int | None:
            await self.client.delete_user(step.key)
            return None

        async def verify() -> int | None:
            return 0 if await self.client.get_user(step.key) is None else None

        return write, verify


_USER_API_FIELDS = frozenset(
    {"name", "mobile", "title", "email", "job_number", "telephone", "work_place", "remark"}
)
_USER_PAYLOAD = _USER_API_FIELDS | {"userid", "departments", "manager", "extension"}
_DEPARTMENT_PAYLOAD = frozenset(
    {"dept", "key", "name", "parent", "order", "source_identifier", "managers"}
)


def _check_payload(step: StepLike, known: frozenset[str]) -> None:
    """A field the executor does not know would be silently dropped, and the next plan would
    show the same change forever: fail the step instead."""
    unknown = sorted(set(step.payload) - known)
    if unknown:
        raise ValueError(f"step {step.id}: payload fields apply does not know: {unknown}")


_ALREADY_DONE_ERRCODES: Mapping[str, frozenset[int]] = {
    CREATE_DEPARTMENT: frozenset({60021}),  # sibling name taken: maybe by our own create
    CREATE_USER: frozenset({60102, 60104}),  # userid/mobile taken: maybe by our own create
    DELETE_USER: frozenset({60121, 33012, 60111}),  # not found: maybe our delete went through
    DELETE_DEPARTMENT: frozenset({60003, 40009}),
}
"""Rejections that, after an attempt whose outcome was unknown, may mean that attempt
worked. The executor then reads to be sure instead of reporting a failure."""


def _same(sent: object, got: object) -> bool:
    """Whether a value read back equals the value written, across DingTalk's encodings:
    comma-separated strings vs lists, JSON-string extensions, numbers as strings."""
    if isinstance(sent, Mapping):
        if isinstance(got, str):
            try:
                got = json.loads(got) if got.strip() else {}
            except ValueError:
                return False
        return isinstance(got, Mapping) and dict(sent) == {k: str(v) for k, v in got.items()}
    if isinstance(sent, list | tuple):
        if isinstance(got, str):
            got = [g for g in got.split(",") if g]
        if got is None:
            got = []
        if not isinstance(got, list | tuple):
            return False
        return sorted(str(s) for s in sent) == sorted(str(g) for g in got)
    if sent is None or sent == "":
        return got is None or got == ""
    return str(sent) == str(got)


async def apply_plan(
    plan: PlanLike,
    client: ApplyClient,
    live: Org,
    *,
    journal: EventSink | None = None,
    clock: Clock,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: Callable[[StepEvent], None] | None = None,
    rng: random.Random | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> ApplyReport:
    """Run ``plan`` against DingTalk through ``client``; ``live`` is the Org it was planned
    from (for department ids and the values a step replaces).

    Returns a report of every step (done, failed, skipped, pending) in plan order. Raises
    only for a malformed plan (ValueError) or cancellation; DingTalk errors end up in the
    report. Cancelling the task stops in-flight steps; the journal says what was written.
    """
    executor = _Executor(
        plan,
        client,
        live,
        journal=journal if journal is not None else NullJournal(),
        clock=clock,
        concurrency=concurrency,
        on_event=on_event,
        rng=rng if rng is not None else random.Random(),
        max_attempts=max_attempts,
    )
    return await executor.execute()
