"""Per-API rate limiting on the fake clock: the sliding window, its margin, and AIMD."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random

import pytest

from reconciler.clock import Clock, FakeClock
from reconciler.dingtalk.ratelimit import (
    DECREASE,
    INCREASE,
    WINDOW_MARGIN,
    RateLimiter,
    RateLimiters,
)

INTERVAL_20 = (1.0 + WINDOW_MARGIN) / 20


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


def most_in_one_window(times: list[float], window: float = 1.0) -> int:
    """The most of ``times`` inside any half-open window [t, t + window)."""
    times = sorted(times)
    return max(
        (sum(1 for u in times[i:] if u < t + window - 1e-9) for i, t in enumerate(times)),
        default=0,
    )


def test_back_to_back_calls_are_spaced_one_window_over_qps_apart(clock: FakeClock):
    grants = sequential_grants(RateLimiter(20.0, clock), clock, 101)
    assert grants[0] == 0.0
    assert grants[-1] == pytest.approx(100 * INTERVAL_20, abs=1e-9)  # 1.05 × the floor
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert all(gap == pytest.approx(INTERVAL_20, abs=1e-9) for gap in gaps)


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
    assert max(grants) == pytest.approx(30 * 1.05 / 10, abs=1e-9)
    assert most_in_one_window(grants, limiter.window) == 10


@pytest.mark.parametrize("seed", range(5))
def test_arrivals_with_latency_jitter_stay_within_qps_per_sliding_second(seed: int):
    """Sent on the limiter's grants, delivered 30 ms ± 20 ms later: still ≤ qps a second."""
    clock = FakeClock()
    rng = random.Random(seed)
    limiter = RateLimiter(20.0, clock)
    grants = sequential_grants(limiter, clock, 400)
    arrivals = [t + 0.03 + rng.uniform(-0.02, 0.02) for t in grants]
    assert most_in_one_window(arrivals) <= 20
    # ...which a limiter without the margin would not guarantee
    bare = sequential_grants(RateLimiter(20.0, FakeClock(), margin=0.0), clock, 400)
    assert most_in_one_window([t + 0.03 + rng.uniform(-0.02, 0.02) for t in bare]) > 20


def test_a_fractional_rate_never_lets_more_than_its_floor_into_a_window(clock: FakeClock):
    grants = sequential_grants(RateLimiter(2.5, clock), clock, 30)
    assert most_in_one_window(grants) == 2


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
    assert clock.sleeps == [pytest.approx(INTERVAL_20, abs=1e-9)]


def test_each_api_has_its_own_limiter(clock: FakeClock):
    limiters = RateLimiters(20.0, clock)
    assert limiters["a"] is limiters["a"]
    assert limiters["a"] is not limiters["b"]

    async def run() -> None:
        await limiters["a"].acquire()
        await limiters["b"].acquire()  # a different API: no wait

    asyncio.run(run())
    assert clock.sleeps == []


def test_a_new_ceiling_reaches_limiters_already_in_use(clock: FakeClock):
    limiters = RateLimiters(20.0, clock)
    used = limiters["a"]
    limiters.set_qps(5.0)
    grants = sequential_grants(used, clock, 21)
    assert most_in_one_window(grants) == 5
    assert grants[-1] == pytest.approx(20 * 1.05 / 5, abs=1e-9)
    assert limiters["b"].qps == 5.0


@pytest.mark.parametrize("qps", [0.0, -1.0, float("inf"), float("nan")])
def test_nonsense_rates_are_refused(clock: FakeClock, qps: float):
    with pytest.raises(ValueError, match="qps"):
        RateLimiters(qps, clock)
    with pytest.raises(ValueError, match="qps"):
        RateLimiters(20.0, clock).set_qps(qps)


class LateClock(FakeClock):
    """Every sleep overshoots by 10 ms, as a busy event loop's do."""

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + 0.01)


def test_late_wake_ups_do_not_slow_the_rate_down_nor_break_the_window():
    clock = LateClock()
    limiter = RateLimiter(20.0, clock)
    grants = sequential_grants(limiter, clock, 201)
    # 200 intervals, plus up to two overshoots a window (the sliding-window check counts grants
    # as they happened, late): the schedule did not drift to 62.5 ms a call (12.5 s)
    assert grants[-1] <= 200 * INTERVAL_20 + 10 * 2 * 0.01 + 1e-9
    assert most_in_one_window(grants, limiter.window) <= 20


def test_a_throttle_slows_the_rate_once_per_window_then_it_recovers(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    limiter = RateLimiter(20.0, clock, name="topapi/v2/user/list")
    recovery = INCREASE * 20  # calls/s gained per second without a throttle
    with caplog.at_level(logging.INFO, logger="reconciler.dingtalk"):
        limiter.throttled()
        limiter.throttled()  # the same overload answering a second call: no second cut
        first_cut = 20 * DECREASE
        assert limiter.rate == pytest.approx(first_cut)
        clock.advance(2.0)
        limiter.throttled()
        second_cut = (first_cut + 2.0 * recovery) * DECREASE
        assert limiter.rate == pytest.approx(second_cut)
        assert limiter.throttles == 3
        clock.advance(1.0)
        assert limiter.rate == pytest.approx(second_cut + recovery)
        clock.advance(60.0)
        sequential_grants(limiter, clock, 2)
    assert limiter.rate == 20.0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("throttled (90018)" in m and "topapi/v2/user/list" in m for m in messages) == 2
    assert any("back at 20 calls/s" in m for m in messages)


def test_a_budget_spent_elsewhere_holds_the_rate_down_but_above_its_minimum(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)
    for _ in range(100):  # a 90018 every 1.5 s on an otherwise quiet API, for ever
        limiter.throttled()
        clock.advance(1.5)
        assert limiter.rate >= limiter.min_rate
    recovery = INCREASE * 20 * 1.5
    settled = DECREASE * recovery / (1 - DECREASE) + recovery  # r = (r + recovery) × DECREASE
    assert limiter.rate == pytest.approx(settled, rel=1e-4)
    assert limiter.rate < 20.0
    assert limiter.min_rate == pytest.approx(1.0)


def test_on_a_busy_api_the_cut_starts_from_what_got_through(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)

    async def run() -> None:
        limiter.throttled()  # the first 90018: 20 → 18
        for n in range(18):  # a window at 18 calls/s, every other call refused
            await limiter.acquire()
            if n % 2:
                limiter.throttled()  # inside the window of the first cut: no new cut
        clock.advance(0.1)
        limiter.throttled()

    asyncio.run(run())
    # 9 of 18 got through in the last window: about 8.6 calls/s are left over, not 18
    through = 9 / limiter.window
    assert limiter.rate == pytest.approx(through * DECREASE, rel=0.15)
    assert limiter.rate < 18 * DECREASE / 1.5  # a plain cut from the rate would give 16.2


def test_a_requeued_call_goes_to_the_head_of_the_queue(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)
    order: list[str] = []

    async def call(name: str, first: bool = False) -> None:
        await limiter.acquire(first=first)
        order.append(name)

    async def run() -> None:
        await limiter.acquire()  # the next grant is one interval away: the rest queue
        tasks = [asyncio.create_task(call(f"n{i}")) for i in range(3)]
        tasks.append(asyncio.create_task(call("requeued", first=True)))
        await asyncio.gather(*tasks)

    asyncio.run(run())
    # n0 already owns the turn (sleeping towards its slot); the requeued call is next
    assert order == ["n0", "requeued", "n1", "n2"]


def test_a_slow_down_reaches_a_caller_already_waiting(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)
    start = clock.monotonic()
    granted: list[float] = []

    async def waiter() -> None:
        await limiter.acquire()
        granted.append(clock.monotonic() - start)

    async def throttled() -> None:
        limiter.throttled()  # runs while the waiter sleeps towards its slot (started first)

    async def run() -> None:
        await limiter.acquire()
        await asyncio.gather(waiter(), throttled())

    asyncio.run(run())
    assert granted == [pytest.approx(1.05 / (20 * DECREASE), rel=1e-6)]


def test_a_cancelled_waiter_does_not_block_the_queue(clock: FakeClock):
    limiter = RateLimiter(20.0, clock)
    granted: list[str] = []

    async def call(name: str) -> None:
        await limiter.acquire()
        granted.append(name)

    async def run() -> None:
        await limiter.acquire()
        first = asyncio.create_task(call("a"))
        doomed = asyncio.create_task(call("b"))
        last = asyncio.create_task(call("c"))
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.gather(first, last)

    asyncio.run(run())
    assert granted == ["a", "c"]
