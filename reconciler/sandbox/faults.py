"""Fault knobs and the per-API rate limit of the sandbox tenant.
In memory: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reconciler.clock import Clock


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
    """Extra errcode 90018 answers on top of the real token-bucket limit."""
    timeout_rate: float = 0.0
    """Requests that get no answer: in-process `httpx.ReadTimeout`; over HTTP the connection is
    closed without a response (`httpx.RemoteProtocolError`)."""
    timeout_after_write: bool = True
    """A timed-out request is executed first: the client cannot know whether a write happened."""
    ip_ban_rate: float = 0.0
    """Answers with the IP-ban body ``{"status":1111,"wait":5,…}`` (HTTP 200, no errcode)."""


class RateLimiter:
    """Token buckets keyed by (app, API path): capacity `qps` (at least 1), refilled at `qps`/s.

    DingTalk's 20 QPS per app per API (90018) [RL]. A bucket starts full, so a burst of `qps`
    calls passes at once; after that calls pass at `qps` per second of `clock.monotonic()`.
    `qps` of 0 or less, or infinity, disables the limit.
    """

    def __init__(self, qps: float, clock: Clock) -> None:
        self.qps = qps
        self.clock = clock
        self.capacity = max(1.0, qps)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return 0 < self.qps < math.inf

    def allow(self, app: str, api: str) -> bool:
        """Take one token if there is one. Not thread-safe: call under the tenant lock."""
        if not self.enabled:
            return True
        now = self.clock.monotonic()
        tokens, last = self._buckets.get((app, api), (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.qps)
        if tokens >= 1.0:
            self._buckets[(app, api)] = (tokens - 1.0, now)
            return True
        self._buckets[(app, api)] = (tokens, now)
        return False
