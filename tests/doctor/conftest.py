"""Doctor against the in-process sandbox on the fake clock: the burst and the latency samples
sleep on it, so no test waits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.doctor.endpoint import Endpoint
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox

Answer = Mapping[str, Any]
Rule = Callable[[str, Mapping[str, Any]], Answer | None]
"""``rule(api, body)``: a canned DingTalk answer instead of the sandbox's, or None."""


class Intercept(httpx.AsyncBaseTransport):
    """The sandbox's transport, except where a rule answers: a tenant whose app lacks a
    permission or sees only part of the directory, as DingTalk answers it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, rules: list[Rule]) -> None:
        self.inner = inner
        self.rules = rules

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        api = request.url.path.strip("/")
        body: dict[str, Any] = json.loads(await request.aread() or b"{}")
        for rule in self.rules:
            answer = rule(api, body)
            if answer is not None:
                return httpx.Response(200, json=dict(answer), request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    sb = Sandbox(clock=clock)
    yield sb
    sb.close()


def endpoint(
    sb: Sandbox,
    *,
    rules: list[Rule] | None = None,
    app_key: str = APP_KEY,
    app_secret: str = APP_SECRET,
) -> Endpoint:
    def transport() -> httpx.AsyncBaseTransport:
        inner = sb.transport()
        return Intercept(inner, rules) if rules else inner

    return Endpoint(
        app_key=app_key,
        app_secret=app_secret,
        base_url=sb.base_url,
        clock=sb.clock,
        transport=transport,
    )
