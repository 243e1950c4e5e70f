"""What an apply reports: a result per step, progress events, who was left out. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reconciler.dingtalk.errcodes import HINTS
from reconciler.model import UserId

PENDING_ERRCODES = frozenset({40103})
"""40103: DingTalk sent an invitation; the person must accept it. Pending, not failed."""


def hint_for(errcode: int | None) -> str:
    return HINTS.get(errcode, "") if errcode is not None else ""


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


__all__ = [
    "PENDING_ERRCODES",
    "AbsentUser",
    "ApplyReport",
    "Outcome",
    "StepEvent",
    "StepResult",
    "hint_for",
]
