"""Per-API rate limiting on an injected clock.
Pure apart from sleeping on the injected clock.

DingTalk budgets each app *per API*: 20 QPS on a standard-edition org, errcode 90018 above
(reference §5.1). So every API path gets its own limiter and a slow stream on one API never
starves another. Calls are spaced evenly (one every 1/qps seconds) rather than allowed in
bursts: a burst of 20 that leaves together can reach the server inside one second window
together with the previous second's tail and be throttled.
"""

from __future__ import annotations

import asyncio
import math

from reconciler.clock import Clock


class RateLimiter:
    """Grants one call every ``1/qps`` seconds, first come first served.

    The lock is held while waiting, so waiters queue in order (asyncio locks are fair) and a
    fake clock advances by exactly ``(n - 1) / qps`` for ``n`` back-to-back calls. Over any
    ``n`` consecutive calls at least ``(n - 1) / qps - tolerance`` seconds pass.
    """

    def __init__(self, qps: float, clock: Clock) -> None:
        if not qps > 0 or math.isinf(qps):
            raise ValueError(f"qps must be a positive number, not {qps!r}")
        self.qps = qps
        self.interval = 1.0 / qps
        self.tolerance = self.interval / 2
        self._clock = clock
        self._next = -math.inf  # monotonic time of the next free slot
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            # Loop: a `hold` (a throttle answer) may push the slot back while we sleep.
            while (wait := self._next - self._clock.monotonic()) > 0:
                await self._clock.sleep(wait)
            now = self._clock.monotonic()
            # A wake-up a little late (the event loop was busy parsing an answer) keeps its
            # slot in the schedule, so lateness does not add up and the rate stays at qps
            # (measured: without this, 20 QPS became ~18). Calls are still never closer than
            # interval - tolerance. After idle time the schedule restarts from now.
            slot = self._next if now - self._next <= self.tolerance else now
            self._next = slot + self.interval

    def hold(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` from now: DingTalk's QPS window is one second, so
        after a 90018 the whole API, not just the throttled call, should step back."""
        self._next = max(self._next, self._clock.monotonic() + seconds)


class RateLimiters:
    """One `RateLimiter` per API path, created on first use."""

    def __init__(self, qps: float, clock: Clock) -> None:
        RateLimiter(qps, clock)  # validate qps now, not on the first call
        self.qps = qps
        self._clock = clock
        self._limiters: dict[str, RateLimiter] = {}

    def __getitem__(self, api: str) -> RateLimiter:
        limiter = self._limiters.get(api)
        if limiter is None:
            limiter = self._limiters[api] = RateLimiter(self.qps, self._clock)
        return limiter
