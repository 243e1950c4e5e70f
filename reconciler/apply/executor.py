"""Execute a Plan against DingTalk: ordered, concurrent where safe, never a blind write twice.
I/O: DingTalk writes through the client, step events to an `EventSink`; never prints.

Where the parts live: `ordering` (which step waits for which), `writes` (each step as a
DingTalk write and the read that checks it), `runner` (one step: retries, and reading before
retrying after an unknown outcome), `report` (results and events). This module schedules.

Scheduling
    Running phase after phase with a barrier between them would leave most APIs idle:
    DingTalk budgets 20 QPS *per API*, and a plan's user creates (user/create) and user
    updates (user/update) live in different phases, so a barrier adds their times instead of
    overlapping them. The executor therefore runs the dependency graph of `step_dependencies`.
    A bounded number of steps are in flight at once, shared fairly between APIs (the API with
    the fewest steps in flight goes next), so a long queue on one API never starves another;
    the client's per-API limiters then pace each stream at its QPS. The wall time approaches
    the floor: max over APIs of calls / QPS.

Failures
    A failed step's dependents through ``requires`` are skipped (transitively), with the
    reason, and so are steps naming a person whose create failed as their manager; everything
    else goes on. Derived edges only order: a later step still runs after an earlier one
    failed, and DingTalk's answer (with a hint) says what is wrong. 40103 (invitation sent) is
    *pending*, not failed.

Level-based
    There is no state file. Whatever a run leaves undone (a failure, a kill, a replace whose
    create failed after its delete), the next apply sees in a fresh read and plans again.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Callable, Sequence

from reconciler.apply.journal import EventSink, NullJournal
from reconciler.apply.ordering import (
    API_OF_ACTION,
    execution_order,
    named_users,
    step_dependencies,
)
from reconciler.apply.report import AbsentUser, ApplyReport, Outcome, StepEvent, StepResult
from reconciler.apply.runner import MAX_ATTEMPTS, StepRunner
from reconciler.apply.writes import ApplyClient, Writes
from reconciler.clock import Clock
from reconciler.model import Org
from reconciler.plan.document import Plan
from reconciler.plan.steps import Action, Step

DEFAULT_CONCURRENCY = 48
"""Steps in flight at once. Keeping every API at its 20 QPS needs 20 × latency calls in flight
per API: at the ~400 ms a runner far from DingTalk can see, with the user and department
write APIs busy together, that is a few dozen. The per-API limiters keep the rate."""


class _Executor:
    def __init__(
        self,
        steps: Sequence[Step],
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
        self.steps = list(steps)
        self.live = live
        self.journal = journal
        self.clock = clock
        self.concurrency = concurrency
        self.on_event = on_event
        self.runner = StepRunner(
            client,
            Writes(client, live),
            clock=clock,
            rng=rng,
            max_attempts=max_attempts,
            emit=self._emit,
        )
        self.results: dict[str, StepResult] = {}
        self.user_creates = {s.key: s.id for s in self.steps if s.action is Action.CREATE_USER}

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

    def _finish(self, step: Step, result: StepResult) -> StepResult:
        self.results[step.id] = result
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

    async def _run(self, step: Step) -> StepResult:
        return self._finish(step, await self.runner.run(step))

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
            api = API_OF_ACTION[by_id[step_id].action]
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
                    task = asyncio.create_task(self._run(step), name=step_id)
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
            results = [self.results[s.id] for s in self.steps if s.id in self.results]
            report = ApplyReport(
                tuple(results),
                self._absent(results),
                self.runner.sent,
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

    def _blocked_by(self, step: Step) -> StepResult | None:
        """A SKIPPED result when something this step requires did not get done: a step it
        ``requires``, or the create (in this plan) of a person it names as a manager —
        DingTalk would only reject it (60128, 40031)."""
        needed = [*step.requires]
        for userid in named_users(step):
            create = self.user_creates.get(userid)
            if create is not None and create != step.id:
                needed.append(create)
        for req in needed:
            result = self.results.get(req)
            if result is None or result.outcome is Outcome.DONE:
                continue  # not run yet: only a plan's own order can put it later
            if result.outcome is Outcome.SKIPPED:
                reason = f"{req} was skipped ({result.message})"
            elif result.outcome is Outcome.PENDING:
                reason = f"{req} is pending ({result.hint or result.message})"
            else:
                reason = f"{req} failed"
            return StepResult(
                step.id, step.action, step.key, Outcome.SKIPPED, message=f"skipped: {reason}"
            )
        return None

    def _absent(self, results: Sequence[StepResult]) -> tuple[AbsentUser, ...]:
        by_id = {r.step_id: r for r in results}
        outcome_of: dict[tuple[Action, str], StepResult] = {}
        for step in self.steps:
            result = by_id.get(step.id)
            if result is not None:
                outcome_of[(step.action, step.key)] = result
        recreated = {s.key for s in self.steps if s.action is Action.CREATE_USER}
        absent: list[AbsentUser] = []
        for step in self.steps:
            if step.action is not Action.DELETE_USER or step.key not in recreated:
                continue
            deleted = outcome_of.get((Action.DELETE_USER, step.key))
            if deleted is None or deleted.outcome is not Outcome.DONE:
                continue
            created = outcome_of.get((Action.CREATE_USER, step.key))
            if created is None:
                reason = "the apply stopped before re-creating them"
            elif created.outcome is Outcome.DONE:
                continue
            else:
                detail = created.hint or created.message
                reason = f"re-creating them {created.outcome.value}: {detail}"
            absent.append(AbsentUser(step.key, reason))
        return tuple(absent)


async def apply_plan(
    plan: Plan,
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
    A masked plan (`Plan.masked`) is refused: its mobiles and emails are not real.
    """
    if plan.pii_masked:
        raise ValueError("a masked plan cannot be applied: its personal data is not real")
    executor = _Executor(
        plan.steps,
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


__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_ATTEMPTS",
    "AbsentUser",
    "ApplyClient",
    "ApplyReport",
    "Outcome",
    "StepEvent",
    "StepResult",
    "apply_plan",
    "execution_order",
    "step_dependencies",
]
