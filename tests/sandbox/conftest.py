"""Sandbox fixtures: a fresh in-memory tenant on the fake clock, in-process and over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.sandbox import STRICT, Profile, Sandbox, ServerHandle, serve
from tests.sandbox.helpers import Api


@pytest.fixture
def sb(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """No rate limit (qps=0): rule tests make many calls without moving the fake clock.

    The strict profile unless a test asks for another one:
    ``@pytest.mark.parametrize("sb", [LENIENT], indirect=True)``.
    """
    profile: Profile = getattr(request, "param", STRICT)
    sandbox = Sandbox(clock=clock, qps=0, profile=profile)
    yield sandbox
    sandbox.close()


@pytest.fixture
def api(sb: Sandbox) -> Iterator[Api]:
    with httpx.Client(base_url=sb.base_url, transport=sb.transport()) as client:
        yield Api(client)


@pytest.fixture
def server(sb: Sandbox) -> Iterator[ServerHandle]:
    with serve(sb) as handle:
        yield handle


@pytest.fixture
def http_api(server: ServerHandle) -> Iterator[Api]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield Api(client)
