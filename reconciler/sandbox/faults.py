"""Fault knobs and the per-API rate limit of the sandbox tenant.
In memory: no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from reconciler.clock import Clock
from reconciler.sandbox.profile import RateLimitKind


@dataclass
class Faults:
    """What can go wrong, as shares of requests (0.0–1.0). Mutable: tests flip knobs mid-run.

    One seeded draw per request picks at most one of ip_ban / error / throttle / timeout, so a
    run with the same seed, requests and clock fails the same way every time. The rates are
    bands of that one draw and should add up to at most 1.
    """

    latency: float = 0.0
    """Seconds added to every answer (slept on the sandbox's clock, outside the tenant lock)."""
    error_rate: float = 0.0
    """Answers that are HTTP 502 (HTML body) or errcode -1 "系统繁忙", half and half."""
    throttle_rate: float = 0.0
    """Extra errcode 90018 answers on top of the rate limit."""
    timeout_rate: float = 0.0
    """Requests that get no answer: in-process `httpx.ReadTimeout`; over HTTP the connection is
    closed without a response (`httpx.RemoteProtocolError`)."""
    timeout_after_write: bool = True
    """A timed-out request is executed first: the client cannot know whether a write happened."""
    ip_ban_rate: float = 0.0
    """Answers with the IP-ban body ``{"status":1111,"wait":5,…}`` (HTTP 200, no errcode)."""
    fail_api: dict[str, int] = field(default_factory=dict)
    """API path → an errcode every call of it answers, unexecuted (after auth and the rate
    limit): e.g. ``{"topapi/message/corpconversation/asyncsend_v2": 1430003}`` makes every work
    notice fail."""


class RateLimiter:
    """The per-(app, API) limit of 90018, in one of two readings of "20 次/秒" [RL]:

    - ``sliding``: a call is accepted only if fewer than `qps` calls of the same app and API
      were accepted in the second before it (any sliding one-second window of arrival times
      holds at most `qps` accepted calls); refused calls are not executed and do not count;
    - ``bucket``: a token bucket of capacity `qps` (at least 1), refilled at `qps` per second;
      it starts full, so a burst of `qps` calls passes at once.

    Time is `clock.monotonic()`. `qps` of 0 or less, or infinity, disables the limit. Every
    arrival is kept in `arrivals` (accepted or not), so tests and benchmarks can check what a
    client actually sent (`peak`).
    """

    def __init__(self, qps: float, clock: Clock, kind: RateLimitKind = "sliding") -> None:
        self.qps = qps
        self.kind = kind
        self.clock = clock
        self.capacity = max(1.0, qps)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._accepted: dict[tuple[str, str], deque[float]] = {}
        self.arrivals: dict[tuple[str, str], list[tuple[float, bool]]] = {}
        """(app, API) → every arrival as (monotonic time, accepted)."""

    @property
    def enabled(self) -> bool:
        return 0 < self.qps < math.inf

    def allow(self, app: str, api: str) -> bool:
        """Accept one call or refuse it (90018). Not thread-safe: call under the tenant lock."""
        now = self.clock.monotonic()
        if not self.enabled:
            accepted = True
        elif self.kind == "sliding":
            accepted = self._allow_sliding((app, api), now)
        else:
            accepted = self._allow_bucket((app, api), now)
        self.arrivals.setdefault((app, api), []).append((now, accepted))
        return accepted

    def _allow_sliding(self, key: tuple[str, str], now: float) -> bool:
        window = self._accepted.setdefault(key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        # qps may be fractional: 0.5 qps = one call in any sliding second, like 1 qps.
        if len(window) >= max(1, math.floor(self.qps)):
            return False
        window.append(now)
        return True

    def _allow_bucket(self, key: tuple[str, str], now: float) -> bool:
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.qps)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return True
        self._buckets[key] = (tokens, now)
        return False

    def peak(self, api: str, *, accepted_only: bool = False) -> int:
        """The most arrivals of `api` (all apps together) in any sliding one-second window."""
        times = sorted(
            at
            for (_, path), seen in self.arrivals.items()
            if path == api
            for at, ok in seen
            if ok or not accepted_only
        )
        return peak_per_second(times)


def peak_per_second(times: list[float]) -> int:
    """The most of the sorted `times` inside any half-open window [t, t + 1 s)."""
    best = 0
    first = 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best
