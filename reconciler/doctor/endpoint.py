"""How doctor reaches a tenant: clients of its own (a wrong secret, an unpaced one for the
burst) and the round-trip time of every call sent. I/O: the transport, and the clock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from reconciler.clock import Clock
from reconciler.dingtalk import DingTalkClient
from reconciler.dingtalk.client import MAX_REQUEUES


class Timings:
    """Round-trip times per API of the calls actually sent (not the limiter's waits)."""

    def __init__(self) -> None:
        self.durations: defaultdict[str, list[float]] = defaultdict(list)


class _TimedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock, timings: Timings) -> None:
        self._inner = inner
        self._clock = clock
        self._timings = timings

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = self._clock.monotonic()
        response = await self._inner.handle_async_request(request)
        api = request.url.path.strip("/")
        self._timings.durations[api].append(self._clock.monotonic() - start)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """How to reach one tenant, so doctor can open clients of its own: one with a wrong secret,
    unpaced ones for the burst. ``transport`` None means the network."""

    app_key: str
    app_secret: str
    base_url: str
    clock: Clock
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None

    def __repr__(self) -> str:  # never the secret
        return f"Endpoint({self.base_url!r}, app_key={self.app_key!r})"

    def client(
        self,
        *,
        qps: float,
        app_secret: str | None = None,
        max_tries: int = 6,
        timings: Timings | None = None,
        burst: bool = False,
    ) -> DingTalkClient:
        transport = self.transport() if self.transport is not None else None
        if timings is not None:
            inner = transport if transport is not None else httpx.AsyncHTTPTransport()
            transport = _TimedTransport(inner, self.clock, timings)
        return DingTalkClient(
            app_key=self.app_key,
            app_secret=self.app_secret if app_secret is None else app_secret,
            base_url=self.base_url,
            transport=transport,
            clock=self.clock,
            qps=qps,
            max_tries=max_tries,
            # The burst counts throttled answers: a throttled call is an answer, not resent,
            # and a ban's wait does not hold later calls back: doctor reports it instead.
            max_requeues=1 if burst else MAX_REQUEUES,
            hold_after_throttle=not burst,
        )
