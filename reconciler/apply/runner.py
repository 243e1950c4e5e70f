"""Run one step: write, and when the outcome is unknown, read before writing again.
I/O: calls the client through `Writes`.

A write that timed out or lost its connection (`OutcomeUnknownError`) may have happened; so
may a -1 "busy" still there after the client's own retries. Before trying again the runner
reads: a create looks for the object (a department among the parent's children by
source_identifier or name; a user by userid) and adopts it, a delete that finds nothing is
done, an update re-reads and compares. A refusal DingTalk made before executing (throttled,
token, retryable) is sent again after a backoff. Attempts are bounded.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.apply.report import PENDING_ERRCODES, Outcome, StepEvent, StepResult, hint_for
from reconciler.apply.writes import ApplyClient, Call, Skip, Writes
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
from reconciler.plan.steps import Action, AdoptDepartment, CreateDepartment, CreateUser, Step

MAX_ATTEMPTS = 3
"""Write attempts per step. The client already retries throttles and busy answers itself
(up to its own limit); this bounds the rounds of *verify, then try again* on top of it."""
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0

_ALREADY_DONE_ERRCODES: Mapping[Action, frozenset[int]] = {
    Action.CREATE_DEPARTMENT: frozenset({60021}),  # sibling name taken: maybe by our own create
    Action.CREATE_USER: frozenset({60102, 60104}),  # userid/mobile taken: maybe our own create
    Action.DELETE_USER: frozenset({60121, 33012, 60111}),  # not found: maybe our delete worked
    Action.DELETE_DEPARTMENT: frozenset({60003, 40009}),
}
"""Rejections that, after an attempt whose outcome was unknown, may mean that attempt
worked. The runner then reads to be sure instead of reporting a failure."""


@dataclass(slots=True)
class _Attempt:
    number: int = 0
    unknown: bool = False  # an earlier attempt's outcome was unknown


class StepRunner:
    """Runs steps one at a time each (many concurrently), counting the writes sent."""

    def __init__(
        self,
        client: ApplyClient,
        writes: Writes,
        *,
        clock: Clock,
        rng: random.Random,
        max_attempts: int,
        emit: Callable[[StepEvent], None],
    ) -> None:
        self.client = client
        self.writes = writes
        self.clock = clock
        self.rng = rng
        self.max_attempts = max_attempts
        self.emit = emit
        self.sent = 0

    async def run(self, step: Step) -> StepResult:
        """The step's result; never raises for a DingTalk error or a bug in one step."""
        attempt = _Attempt()
        self.emit(StepEvent("start", step.id, step.action, step.key))
        try:
            return await self._attempts(step, attempt)
        except Skip as why:
            return _result(step, Outcome.SKIPPED, attempt, message=str(why))
        except DingTalkError as error:
            # A read made while checking an unknown outcome failed: we cannot tell.
            return _result(
                step,
                Outcome.FAILED,
                attempt,
                errcode=error.errcode,
                message=f"outcome unknown and could not be checked: {error}",
                hint="re-run apply: it re-reads DingTalk and plans what is still missing",
            )
        except OrgctlError as error:
            return _result(step, Outcome.FAILED, attempt, message=str(error))
        except Exception as error:  # a bug in one step must not stop the others
            message = f"internal error: {type(error).__name__}: {error}"
            return _result(step, Outcome.FAILED, attempt, message=message)

    async def _attempts(self, step: Step, attempt: _Attempt) -> StepResult:
        write, verify = self.writes.calls(step)
        while True:
            attempt.number += 1
            self.sent += 1
            try:
                dept_id = await write()
            except (OutcomeUnknownError, BusyError) as error:
                # A timeout may have written; so may a -1 (or a 5xx) still there after the
                # client's own retries: DingTalk says "busy", but a read is cheap and certain.
                # Check before sending it again.
                attempt.unknown = True
                outcome = await self._check(step, attempt, verify, error)
                if outcome is not None:
                    return outcome
                continue
            except (ThrottledError, TokenError, RetryableError) as error:
                # DingTalk refused before executing: safe to send again after a pause.
                if attempt.number >= self.max_attempts:
                    return self._failed(step, attempt, error)
                self._emit_retry(step, attempt, error)
                await self.clock.sleep(self._backoff(attempt.number))
                continue
            except TerminalError as error:
                if attempt.unknown and error.errcode in _ALREADY_DONE_ERRCODES.get(step.action, ()):
                    # Our earlier, unknown attempt may be why DingTalk says "exists"/"gone".
                    verified = await verify()
                    if verified is not None:
                        return self._done(step, attempt, verified, "confirmed by reading")
                return await self._terminal(step, attempt, error)
            return self._done(step, attempt, dept_id, "")

    async def _check(
        self, step: Step, attempt: _Attempt, verify: Call, error: DingTalkError
    ) -> StepResult | None:
        """After an unknown outcome: done if a read shows the write happened, failed if
        attempts are spent, else None (try the write again)."""
        self.emit(
            StepEvent(
                "verify", step.id, step.action, step.key, attempt.number, error.errcode, str(error)
            )
        )
        verified = await verify()
        if verified is not None:
            note = f"the write's outcome was unknown ({error.errmsg}); re-reading shows it applied"
            return self._done(step, attempt, verified, note)
        if attempt.number >= self.max_attempts:
            return self._failed(step, attempt, error)
        self._emit_retry(step, attempt, error)
        return None

    def _emit_retry(self, step: Step, attempt: _Attempt, error: DingTalkError) -> None:
        self.emit(
            StepEvent(
                "retry", step.id, step.action, step.key, attempt.number, error.errcode, str(error)
            )
        )

    def _backoff(self, attempt: int) -> float:
        base = min(BACKOFF_MAX, BACKOFF_INITIAL * 2.0 ** (attempt - 1))
        return base * (1.0 + 0.5 * self.rng.random())

    def _done(self, step: Step, attempt: _Attempt, dept_id: int | None, note: str) -> StepResult:
        shown_id: int | None = None
        if dept_id is not None and isinstance(step.body, CreateDepartment | AdoptDepartment):
            self.writes.ids[step.body.ref] = dept_id
            shown_id = dept_id
        return _result(step, Outcome.DONE, attempt, message=note, dept_id=shown_id)

    def _failed(
        self,
        step: Step,
        attempt: _Attempt,
        error: DingTalkError,
        outcome: Outcome = Outcome.FAILED,
        hint: str = "",
    ) -> StepResult:
        """The result of a step DingTalk's ``error`` ended. Apply's own hint (it knows what
        the step was doing) wins over the errcode's, which wins over the client's."""
        return _result(
            step,
            outcome,
            attempt,
            errcode=error.errcode,
            message=error.errmsg or str(error),
            hint=hint or hint_for(error.errcode) or error.hint,
        )

    async def _terminal(self, step: Step, attempt: _Attempt, error: DingTalkError) -> StepResult:
        if error.errcode in PENDING_ERRCODES:
            return self._failed(step, attempt, error, Outcome.PENDING)
        if error.errcode in (60104, 60107) and isinstance(step.body, CreateUser):
            hint = await self._mobile_holder_hint(step.body)
            return self._failed(step, attempt, error, hint=hint)
        return self._failed(step, attempt, error)

    async def _mobile_holder_hint(self, body: CreateUser) -> str:
        if not body.mobile:
            return hint_for(60104)
        try:
            holder = await self.client.get_userid_by_mobile(body.mobile)
        except DingTalkError:
            return hint_for(60104)
        if holder is None:
            return "mobile already used by a member DingTalk does not show (inactive?)"
        return f"mobile already used by userid {holder}"


def _result(
    step: Step,
    outcome: Outcome,
    attempt: _Attempt,
    *,
    errcode: int | None = None,
    message: str = "",
    hint: str = "",
    dept_id: int | None = None,
) -> StepResult:
    return StepResult(
        step.id, step.action, step.key, outcome, attempt.number, errcode, message, hint, dept_id
    )


__all__ = ["BACKOFF_INITIAL", "BACKOFF_MAX", "MAX_ATTEMPTS", "StepRunner"]
