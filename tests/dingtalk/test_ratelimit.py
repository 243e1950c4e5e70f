"""Per-API rate limiting on the fake clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from reconciler.clock import Clock, FakeClock
from reconciler.dingtalk.ratelimit import RateLimiter, RateLimiters


def sequential_grants(limiter: RateLimiter, clock: Clock, calls: int) -> list[float]:
    """When each of `calls` back-to-back acquires was granted, in seconds from the first."""
    start = clock.monotonic()
    grants: list[float] = []

    async def run() -> None:
        for _ in range(calls):
            await limiter.acquire()
            grants.append(clock.monotonic() - start)

    asyncio.run(run())
    return grants


def test_back_to_back_calls_are_spaced_exactly_one_interval_apart(clock: FakeClock):
    grants = sequential_grants(RateLimiter(20.0, clock), clock, 101)
    assert grants[0] == 0.0
    assert grants[-1] == pytest.approx(5.0, abs=1e-9)  # 100 intervals of 50 ms
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert all(gap == pytest.approx(0.05, abs=1e-9) for gap in gaps)


def test_concurrent_callers_queue_and_never_exceed_the_rate(clock: FakeClock):
    limiter = RateLimiter(10.0, clock)
    start = clock.monotonic()
    grants: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        grants.append(clock.monotonic() - start)

    async def run() -> None:
        await asyncio.gather(*(one() for _ in range(31)))

    asyncio.run(run())
    grants.sort()
    assert grants[-1] == pytest.approx(3.0, abs=1e-9)
    # in any one-second window at most qps calls are granted
    for i, t in enumerate(grants):
        in_window = [g for g in grants[i:] if g < t + 1.0 - 1e-9]
        assert len(in_window) <= 10


def test_a_limiter_does_not_wait_after_idle_time(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)

    async def run() -> None:
        await limiter.acquire()
        clock.advance(3.0)
        await limiter.acquire()
        await limiter.acquire()

    asyncio.run(run())
    # no wait after the idle time, and no burst credit from it either: the schedule restarts
    # at the wake-up, so the next call waits one interval
    assert clock.sleeps == [pytest.approx(0.05, abs=1e-9)]


def test_hold_pushes_the_next_grant_back(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)

    async def run() -> None:
        await limiter.acquire()
        limiter.hold(1.0)
        await limiter.acquire()

    asyncio.run(run())
    assert clock.sleeps == [pytest.approx(1.0)]


def test_each_api_has_its_own_limiter(clock: FakeClock):
    limiters = RateLimiters(20.0, clock)
    assert limiters["a"] is limiters["a"]
    assert limiters["a"] is not limiters["b"]

    async def run() -> None:
        await limiters["a"].acquire()
        await limiters["b"].acquire()  # a different API: no wait

    asyncio.run(run())
    assert clock.sleeps == []


@pytest.mark.parametrize("qps", [0.0, -1.0, float("inf"), float("nan")])
def test_nonsense_rates_are_refused(clock: FakeClock, qps: float):
    with pytest.raises(ValueError, match="qps"):
        RateLimiters(qps, clock)


class LateClock(FakeClock):
    """Every sleep overshoots by 10 ms, as a busy event loop's do."""

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + 0.01)


def test_late_wake_ups_do_not_slow_the_rate_down():
    clock = LateClock()
    limiter = RateLimiter(20.0, clock)
    grants = sequential_grants(limiter, clock, 101)
    # 100 intervals of 50 ms, plus one overshoot: the schedule did not drift to 60 ms a call
    assert grants[-1] == pytest.approx(5.01, abs=1e-9)
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= 0.05 - limiter.tolerance


def test_a_hold_reaches_a_caller_already_waiting(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)
    start = clock.monotonic()
    granted: list[float] = []

    async def waiter() -> None:
        await limiter.acquire()
        granted.append(clock.monotonic() - start)

    async def throttled() -> None:
        limiter.hold(1.0)  # runs while the waiter sleeps towards its slot (started first)

    async def run() -> None:
        await limiter.acquire()
        await asyncio.gather(waiter(), throttled())

    asyncio.run(run())
    assert granted == [pytest.approx(1.05)]
