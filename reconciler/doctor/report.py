"""What `orgctl doctor` found, and what orgctl will do about it. Pure: no I/O.

The checks (run by `reconciler.doctor.probe`) observe; this module turns observations into
verdicts: the burst's answers into ``sliding`` / ``bucket`` / ``unknown``, call timings into
p50/p95, the tree's size into the time a full plan and apply take at the rate limit, and the
checks into a table, a JSON object and an exit code.
"""

from __future__ import annotations

import math
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.policy import RateLimitKind, TenantTraits


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but slower, or something worth knowing
    FAIL = "fail"  # blocks orgctl until fixed
    SKIP = "skip"  # not checked (needs --write or --user-mobile)


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the table: what was checked, what the tenant did, what orgctl does."""

    name: str
    status: Status
    observed: str
    action: str
    fix: str = ""
    """For FAIL (and some WARN): what a person has to do, spelled out."""

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "observed": self.observed,
            "action": self.action,
            "fix": self.fix or None,
        }


@dataclass(frozen=True, slots=True)
class Latency:
    calls: int
    p50: float
    p95: float


@dataclass(frozen=True, slots=True)
class Estimate:
    """Seconds a full plan and a full apply need at the rate limit (the floor)."""

    departments: int
    people: int
    """Direct members summed over departments: an upper bound (a person in two departments
    counts twice)."""
    plan_seconds: float
    apply_seconds: float
    plan_calls: Mapping[str, int]


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)
    traits: TenantTraits = field(default_factory=TenantTraits)
    missing_permissions: list[str] = field(default_factory=list)
    out_of_scope: list[int] = field(default_factory=list)
    latency: dict[str, Latency] = field(default_factory=dict)
    estimate: Estimate | None = None

    def add(self, name: str, status: Status, observed: str, action: str, fix: str = "") -> Check:
        check = Check(name, status, observed, action, fix)
        self.checks.append(check)
        return check

    @property
    def blocking(self) -> list[Check]:
        return [check for check in self.checks if check.status is Status.FAIL]

    @property
    def exit_code(self) -> int:
        """0 when nothing blocks orgctl, 1 otherwise."""
        return 1 if self.blocking else 0

    def as_json(self) -> dict[str, Any]:
        traits = self.traits
        estimate = self.estimate
        return {
            "ok": not self.blocking,
            "empty_string_clears": traits.empty_string_clears,
            "unknown_user_errcode": traits.unknown_user_errcode,
            "rate_limit": traits.rate_limit or "unknown",
            "missing_permissions": list(self.missing_permissions),
            "out_of_scope_departments": list(self.out_of_scope),
            "latency": {
                api: {"calls": value.calls, "p50_ms": _ms(value.p50), "p95_ms": _ms(value.p95)}
                for api, value in sorted(self.latency.items())
            },
            "estimate": None
            if estimate is None
            else {
                "departments": estimate.departments,
                "people_at_most": estimate.people,
                "plan_seconds": round(estimate.plan_seconds, 1),
                "apply_seconds": round(estimate.apply_seconds, 1),
                "plan_calls": dict(sorted(estimate.plan_calls.items())),
            },
            "checks": [check.as_json() for check in self.checks],
        }


# ------------------------------------------------------------------------------ verdicts


@dataclass(frozen=True, slots=True)
class Burst:
    """The answers of the rate-limit burst on one API (see `classify_burst`)."""

    qps: int
    sent: int
    """Calls sent at once on an idle API: a few more than `qps`."""
    passed: int
    later_sent: int
    later_passed: int
    """Calls sent half a second after the first ones."""
    spread: float = 0.0
    """Seconds between the first and the last answer of the first wave."""


def classify_burst(burst: Burst, gap: float = 0.5) -> tuple[RateLimitKind, str]:
    """``sliding``, ``bucket`` or ``unknown``, and why.

    A few more than `qps` calls at once: either limiter lets `qps` through (a bucket maybe one
    or two more, refilled while the burst went out) and refuses the rest. Half a second later
    a token bucket has refilled about `qps / 2` tokens, so the later calls pass; a sliding
    window still holds the first `qps` arrivals, so they are refused. A wave whose answers
    came back further apart than `gap` did not arrive at once, and tells nothing.
    """
    if burst.spread >= gap:
        return "unknown", (
            f"the answers to {burst.sent} calls sent at once came back over "
            f"{burst.spread:.2f} s: the calls did not arrive together"
        )
    if burst.passed < burst.qps:
        return "unknown", (
            f"only {burst.passed} of {burst.sent} calls at once passed: the limit is below "
            f"{burst.qps} QPS, or another client spends this app's budget"
        )
    if burst.passed == burst.sent:
        return "unknown", (
            f"all {burst.sent} calls at once passed: the limit is above {burst.qps} QPS"
        )
    head = f"{burst.passed} of {burst.sent} calls at once passed, and "
    if burst.later_passed == 0:
        return "sliding", head + f"0 of {burst.later_sent} passed 0.5 s later"
    if burst.later_passed == burst.later_sent:
        return "bucket", head + f"all {burst.later_sent} passed 0.5 s later"
    return "unknown", head + (
        f"{burst.later_passed} of {burst.later_sent} passed 0.5 s later: neither a sliding "
        "window nor a bucket"
    )


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in (0, 1]) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def latencies(durations: Mapping[str, Sequence[float]]) -> dict[str, Latency]:
    return {
        api: Latency(len(values), percentile(values, 0.5), percentile(values, 0.95))
        for api, values in durations.items()
        if values
    }


LIST_PAGE = 100
"""``user/list`` page size, as the snapshot reads it."""


def estimate(member_counts: Iterable[int], qps: float, latency: float = 0.0) -> Estimate:
    """The floor of a full plan (the snapshot's calls) and of a full apply (the same read, then
    every department and every person written once, departments first) at ``qps`` per API.

    ``member_counts`` holds one entry per department, root included: its direct members.
    """
    counts = list(member_counts)
    departments = max(0, len(counts) - 1)  # the root is not created or written
    people = sum(counts)
    calls = {
        "topapi/v2/department/listsubid": len(counts),
        "topapi/v2/department/get": departments,
        "topapi/v2/user/list": sum(max(1, math.ceil(n / LIST_PAGE)) for n in counts if n),
    }
    # The snapshot's streams run in parallel, one limiter each: the busiest API sets the pace.
    plan = max(calls.values()) / qps + latency
    apply = plan + departments / qps + people / qps + 2 * latency
    return Estimate(departments, people, plan, apply, calls)


# ------------------------------------------------------------------------------ table


OBSERVED_WIDTH = 58
ACTION_WIDTH = 52


def render_table(report: Report) -> str:
    """check │ status │ observed │ what orgctl does (long cells wrapped), then the fixes."""
    rows = [("check", "", ["observed"], ["what orgctl does"])]
    rows += [
        (
            c.name,
            str(c.status),
            textwrap.wrap(c.observed, OBSERVED_WIDTH) or [""],
            textwrap.wrap(c.action, ACTION_WIDTH) or [""],
        )
        for c in report.checks
    ]
    widths = [
        max(_width(row[0]) for row in rows),
        max(_width(row[1]) for row in rows),
        max(_width(line) for row in rows for line in row[2]),
    ]
    lines: list[str] = []
    for index, (name, status, observed, action) in enumerate(rows):
        for i in range(max(len(observed), len(action))):
            cells = [
                _pad(name if i == 0 else "", widths[0]),
                _pad(status if i == 0 else "", widths[1]),
                _pad(observed[i] if i < len(observed) else "", widths[2]),
                action[i] if i < len(action) else "",
            ]
            lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in [*widths, ACTION_WIDTH]))
    fixes = [c for c in report.checks if c.fix and c.status in (Status.FAIL, Status.WARN)]
    if fixes:
        lines.append("")
        for check in fixes:
            label = "fix" if check.status is Status.FAIL else "hint"
            lines.append(f"{label} ({check.name}): {check.fix}")
    lines.append("")
    if report.blocking:
        noun = "check blocks" if len(report.blocking) == 1 else "checks block"
        lines.append(f"{len(report.blocking)} {noun} orgctl: fix them and run doctor again.")
    else:
        lines.append("Nothing blocks orgctl on this tenant.")
    return "\n".join(lines) + "\n"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _width(text: str) -> int:
    # CJK characters (department names) take two columns on a terminal.
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
