"""An httpx transport straight into `Sandbox.handle`: no sockets, fake-clock friendly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from reconciler.sandbox.errors import SimulatedTimeout

if TYPE_CHECKING:
    from reconciler.sandbox.core import Sandbox


class SandboxTransport(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """Works with `httpx.AsyncClient` (orgctl's client) and `httpx.Client` (handy in tests).

    `faults.latency` is slept on the sandbox's clock before the request is handled, so with a
    FakeClock it costs no wall time but moves the clock (and refills rate-limit buckets). The
    timeout fault raises `httpx.ReadTimeout`, after the write when `timeout_after_write`.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        latency = self.sandbox.faults.latency
        if latency > 0:
            await self.sandbox.clock.sleep(latency)
        return self._respond(request, await request.aread())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        latency = self.sandbox.faults.latency
        if latency > 0:
            self.sandbox.clock.sleep_sync(latency)
        return self._respond(request, request.read())

    def _respond(self, request: httpx.Request, body: bytes) -> httpx.Response:
        query = dict(request.url.params.multi_items())
        try:
            status, content, headers = self.sandbox.handle(
                request.method, request.url.path, query, body
            )
        except SimulatedTimeout:
            raise httpx.ReadTimeout("sandbox: simulated read timeout", request=request) from None
        return httpx.Response(status, headers=headers, content=content, request=request)
