"""Per-API rate limiting on an injected clock, adaptive when another process shares the budget.
Pure apart from sleeping on the injected clock and logging rate changes.

DingTalk budgets each app *per API*: 20 QPS on a standard-edition org, errcode 90018 above.
Read strictly, "20 次/秒" means at most 20 calls in *any* sliding one-second window of arrival
times, so every API path gets its own limiter that guarantees:

* never more than ``qps`` grants in any window of ``1 + margin`` seconds. The margin absorbs
  latency jitter: two requests sent one window apart arrive at least ``1 + margin - jitter``
  apart, which is still a second when the jitter (spread of one-way latency plus the event
  loop's lateness) is at most the margin. The cost is ``margin`` of the floor (5 %).
* grants spaced evenly (one every ``window / rate`` seconds) rather than in bursts, so a
  token-bucket limiter is never emptied either.

A 90018 means DingTalk did not run the call. The client puts that one call back at the head of
the API's queue (`acquire(first=True)`) and tells the limiter (`throttled`), which cuts the
rate multiplicatively (at most once per window: one overload answers several calls) and then
raises it back additively over the following seconds (AIMD, as TCP does). Alone, the limiter
never draws a 90018 and stays at the ceiling; next to another process spending the same app's
budget it settles just under what that process leaves over, and climbs back when it stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque

from reconciler.clock import Clock

WINDOW_MARGIN = 0.05
"""Seconds added to DingTalk's one-second window: covers ±20 ms of one-way latency jitter."""
DECREASE = 0.9
"""After a 90018 the rate becomes this share of what it was."""
INCREASE = 0.05
"""Per second without a 90018 the rate grows by this share of the ceiling (1 QPS at 20)."""
MIN_SHARE = 0.05
"""The rate never drops below this share of the ceiling (and never below one call a window)."""

log = logging.getLogger("reconciler.dingtalk")


class _Turnstile:
    """A fair lock whose waiters can also queue at the front (a call DingTalk throttled has
    waited longest). Ownership passes straight to the next waiter, so nobody barges in."""

    def __init__(self) -> None:
        self._busy = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self, *, first: bool) -> None:
        if not self._busy and not self._waiters:
            self._busy = True
            return
        future = asyncio.get_running_loop().create_future()
        if first:
            self._waiters.appendleft(future)
        else:
            self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.leave()  # ownership arrived as we were cancelled: pass it on
            else:
                self._waiters.remove(future)
            raise

    def leave(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self._busy = False


class RateLimiter:
    """Grants calls of one API: at most ``qps`` in any ``window`` seconds, evenly spaced at
    the current (adaptive) rate, in order of arrival except for requeued throttled calls.

    Over any ``n`` consecutive grants at least ``(n - 1) × window / rate - tolerance`` seconds
    pass, and never more than ``floor(qps)`` grants fall in one window.
    """

    def __init__(
        self, qps: float, clock: Clock, *, margin: float = WINDOW_MARGIN, name: str = ""
    ) -> None:
        _check_qps(qps)
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), not {margin!r}")
        self.name = name
        self.window = 1.0 + margin
        self._clock = clock
        self._next = -math.inf  # monotonic time of the next free slot
        self._grants: deque[float] = deque()  # the last `burst` grant times
        self._recent: deque[float] = deque()  # grants in the last window
        self._recent_throttles: deque[float] = deque()  # 90018s in the last window
        self._turn = _Turnstile()
        self._decreased_at = -math.inf
        self._recovering = False
        self.throttles = 0
        self.set_qps(qps)

    def set_qps(self, qps: float) -> None:
        """A new ceiling (``rate_limit.qps`` from orgctl.yaml): the rate starts over at it."""
        _check_qps(qps)
        self.qps = qps
        self.burst = max(1, math.floor(qps))
        self.min_rate = min(qps, max(qps * MIN_SHARE, 1.0 / self.window))
        self._base_rate = qps  # the rate right after the last decrease
        self._decreased_at = -math.inf
        self._recovering = False

    @property
    def rate(self) -> float:
        """Grants per second now: the ceiling, or climbing back to it after a 90018."""
        since = self._clock.monotonic() - self._decreased_at
        return min(self.qps, self._base_rate + INCREASE * self.qps * since)

    @property
    def interval(self) -> float:
        return self.window / self.rate

    @property
    def tolerance(self) -> float:
        """How late a grant may be and still keep its place in the schedule: a window. The
        sliding-window check bounds the catch-up, so a busy event loop costs no rate."""
        return self.window

    async def acquire(self, *, first: bool = False) -> None:
        """Wait for this API's next free slot. ``first``: a call DingTalk throttled goes back
        to the head of the queue, not the tail."""
        await self._turn.enter(first=first)
        try:
            # Loop: a 90018 may slow the rate (and so push the slot back) while we sleep.
            while (wait := self._slot() - self._clock.monotonic()) > 0:
                await self._clock.sleep(wait)
            now = self._clock.monotonic()
            if self._recovering and self.rate >= self.qps:
                self._recovering = False
                log.info(
                    "%s: no 90018 for a while; back at %g calls/s", self.name or "API", self.qps
                )
            # A late wake-up (the event loop was busy parsing answers, or the machine is)
            # keeps its slot in the schedule, so lateness does not add up and the rate stays
            # at qps (measured: without this, 20 QPS became ~18). The calls it delays then go
            # closer together, but never more than `burst` in a window (`_slot`). After idle
            # time the schedule restarts from now.
            slot = self._next if now - self._next <= self.tolerance else now
            self._next = slot + self.interval
            self._grants.append(now)
            while len(self._grants) > self.burst:
                self._grants.popleft()
            self._recent.append(now)
            _forget_before(self._recent, now - self.window)
        finally:
            self._turn.leave()

    def _slot(self) -> float:
        """The earliest time the next grant may happen."""
        slot = self._next
        if len(self._grants) >= self.burst:
            slot = max(slot, self._grants[-self.burst] + self.window)
        return slot

    def throttled(self) -> None:
        """DingTalk answered 90018: something else spends this API's budget too. Slow down,
        at most once per window (one overload draws several 90018s at once)."""
        self.throttles += 1
        now = self._clock.monotonic()
        self._recent_throttles.append(now)
        _forget_before(self._recent_throttles, now - self.window)
        _forget_before(self._recent, now - self.window)
        if now - self._decreased_at < self.window:
            return
        before = self.rate
        # When this API was busy, what got through in the last window is about what the other
        # process leaves over: cut from there (at most by half) rather than from the rate, so
        # the first cut is already about right (20 → 18 → 16.2 … would draw a 90018 storm on
        # the way down). A lone 90018 on a quiet API says little: cut from the rate.
        start = before
        if len(self._recent) >= before * self.window / 2:
            through = (len(self._recent) - len(self._recent_throttles)) / self.window
            start = min(before, max(through, before / 2))
        self._base_rate = max(self.min_rate, start * DECREASE)
        self._decreased_at = now
        self._recovering = True
        # Spread the calls already scheduled at the old rate over the new one.
        if self._grants:
            self._next = max(self._next, self._grants[-1] + self.interval)
        log.info(
            "%s: throttled (90018) at %.1f calls/s; slowing to %.1f and recovering by %.1f a "
            "second (another process may be using the app's budget)",
            self.name or "API",
            before,
            self._base_rate,
            INCREASE * self.qps,
        )


class CountWindow:
    """At most ``limit`` units (recipients of work notices) in any sliding ``window`` seconds:
    `acquire(n)` waits until ``n`` more fit. DingTalk's 5,000 notice recipients a minute per
    app is such a budget; above it the send still answers errcode 0 but the people over it
    never get the notice (``forbidden_list`` code 143103), so a client must pace itself."""

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        if limit < 1 or not window > 0:
            raise ValueError("limit must be at least 1 and window positive")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._spent: deque[tuple[float, int]] = deque()  # (monotonic time, units)
        self._lock = asyncio.Lock()

    def used(self) -> int:
        """Units spent in the window ending now."""
        _forget_spent_before(self._spent, self._clock.monotonic() - self.window)
        return sum(n for _, n in self._spent)

    async def acquire(self, units: int) -> None:
        if not 0 < units <= self.limit:
            raise ValueError(f"units must be in 1..{self.limit}, not {units}")
        async with self._lock:
            while self.used() + units > self.limit:
                # Wait for the oldest spend to leave the window (a little after: the server's
                # window may have started a moment after ours).
                oldest = self._spent[0][0]
                await self._clock.sleep(
                    oldest + self.window * (1 + WINDOW_MARGIN) - self._clock.monotonic()
                )
            self._spent.append((self._clock.monotonic(), units))


def _forget_spent_before(spent: deque[tuple[float, int]], cutoff: float) -> None:
    while spent and spent[0][0] <= cutoff:
        spent.popleft()


class RateLimiters:
    """One `RateLimiter` per API path, created on first use."""

    def __init__(self, qps: float, clock: Clock, *, margin: float = WINDOW_MARGIN) -> None:
        _check_qps(qps)
        self.qps = qps
        self.margin = margin
        self._clock = clock
        self._limiters: dict[str, RateLimiter] = {}

    def __getitem__(self, api: str) -> RateLimiter:
        limiter = self._limiters.get(api)
        if limiter is None:
            limiter = RateLimiter(self.qps, self._clock, margin=self.margin, name=api)
            self._limiters[api] = limiter
        return limiter

    def set_qps(self, qps: float) -> None:
        """A new ceiling for every API, those already used and those to come."""
        _check_qps(qps)
        self.qps = qps
        for limiter in self._limiters.values():
            limiter.set_qps(qps)

    @property
    def throttles(self) -> int:
        """90018 answers seen so far, over all APIs."""
        return sum(limiter.throttles for limiter in self._limiters.values())


def _check_qps(qps: float) -> None:
    if not qps > 0 or math.isinf(qps):
        raise ValueError(f"qps must be a positive number, not {qps!r}")


def _forget_before(times: deque[float], cutoff: float) -> None:
    while times and times[0] <= cutoff:
        times.popleft()
