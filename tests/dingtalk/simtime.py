"""Simulated time for tests where concurrency matters: an event loop whose clock jumps.

`FakeClock` advances by every sleep in turn, so two tasks sleeping 30 ms each move it 60 ms:
right for one limiter, wrong for latency shared by many requests in flight. This loop runs
every callback as usual but, when nothing is ready, jumps its clock straight to the next timer
instead of waiting for it. Concurrent sleeps overlap as they would in real time, nothing
really sleeps, and a run is deterministic. No real I/O may happen on it (there is none with
httpx's in-process transports).
"""

from __future__ import annotations

import asyncio
import random
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from reconciler.sandbox import Sandbox
from reconciler.sandbox.transport import SandboxTransport

T = TypeVar("T")

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: SimLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("simulated time: every task waits and no timer is set (deadlock)")
        self._loop.virtual += timeout
        return []


class SimLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.virtual = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.virtual


class SimClock:
    """`reconciler.clock.Clock` on the running `SimLoop`'s time."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> float:
        return EPOCH + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def sleep_sync(self, seconds: float) -> None:
        raise RuntimeError("simulated time cannot block; use the async transport")


def run_simulated(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=SimLoop) as runner:
        return runner.run(main)


class JitteryTransport(SandboxTransport):
    """The sandbox's in-process transport with one-way latency ``latency ± jitter`` (uniform)
    before a request reaches the sandbox, so arrival times spread as over a network."""

    def __init__(self, sandbox: Sandbox, latency: float, jitter: float, seed: int = 0) -> None:
        super().__init__(sandbox)
        self.latency = latency
        self.jitter = jitter
        self._rng = random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        delay = self.latency + self._rng.uniform(-self.jitter, self.jitter)
        await asyncio.sleep(max(0.0, delay))
        return self._respond(request, await request.aread())
