"""What the checks of one doctor run share: the options, the client, the report being filled
and the tenant's traits found so far, and the departments the scope walk saw."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.doctor.apis import SCRATCH_USER_PREFIX
from reconciler.doctor.endpoint import Endpoint, Timings
from reconciler.doctor.report import Report
from reconciler.model import Org
from reconciler.policy import TenantTraits


@dataclass(frozen=True, kw_only=True)
class Options:
    qps: float = 20.0
    write: bool = False
    user_mobile: str | None = None
    desired: Org | None = None
    """The YAML's org, to compare the contact scope with (None: no YAML)."""


Step = Callable[[str], None]
"""``step(name)`` is called before each write step: progress for the CLI, a kill switch for
tests."""


@dataclass(slots=True)
class Dept:
    dept_id: int
    parent_id: int
    name: str | None = None
    key: str | None = None
    members: int = 0
    out_of_scope: bool = False


class Run:
    """One doctor run: what every check reads, and what they fill in (report, traits, depts)."""

    def __init__(self, endpoint: Endpoint, options: Options, step: Step) -> None:
        self.endpoint = endpoint
        self.options = options
        self.step = step
        self.clock = endpoint.clock
        self.timings = Timings()
        self.client = endpoint.client(qps=options.qps, timings=self.timings)
        self.report = Report()
        self.traits = TenantTraits()
        self.stamp = datetime.fromtimestamp(self.clock.now(), tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        self.depts: dict[int, Dept] = {}
        self.nobody = f"{SCRATCH_USER_PREFIX}nobody-{self.stamp}"
        """A userid nobody has: reading it is harmless and tells how DingTalk says 'no one'."""
