"""Every profile knob, checked over HTTP (loopback server) against the strict and lenient
readings."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.sandbox import (
    LENIENT,
    READONLY_APP_KEY,
    READONLY_APP_SECRET,
    STRICT,
    Profile,
    Sandbox,
    serve,
)
from tests.sandbox.helpers import Api


def served(profile: Profile, clock: FakeClock) -> Iterator[tuple[Sandbox, Api]]:
    sandbox = Sandbox(clock=clock, profile=profile, qps=0)
    with serve(sandbox) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield sandbox, Api(client)
    sandbox.close()


@pytest.fixture
def strict(clock: FakeClock) -> Iterator[tuple[Sandbox, Api]]:
    yield from served(STRICT, clock)


@pytest.fixture
def lenient(clock: FakeClock) -> Iterator[tuple[Sandbox, Api]]:
    yield from served(LENIENT, clock)


def readonly(api: Api) -> Api:
    ro = Api(api.client)
    answer = ro.gettoken(READONLY_APP_KEY, READONLY_APP_SECRET)
    assert answer["errcode"] == 0, answer
    ro._token = answer["access_token"]
    return ro


# -- the read-only app ---------------------------------------------------------------------


def test_the_read_only_app_reads_but_its_writes_get_88_60011(strict: tuple[Sandbox, Api]):
    sb, api = strict
    ro = readonly(api)
    assert ro.call("topapi/v2/department/get", {"dept_id": 1})["errcode"] == 0
    answer = ro.call("topapi/v2/department/create", {"name": "研发", "parent_id": 1})
    assert answer["errcode"] == 88
    assert answer["sub_code"] == "60011"
    assert "subcode=60011" in answer["errmsg"]
    assert len(sb.tenant.departments()) == 1  # refused before the tenant saw it
    assert sb.writes() == []
    # The main app writes as before.
    assert api.call("topapi/v2/department/create", {"name": "研发", "parent_id": 1})["errcode"] == 0


def test_lenient_answers_a_bare_60011(lenient: tuple[Sandbox, Api]):
    _, api = lenient
    answer = readonly(api).call("topapi/v2/user/delete", {"userid": "nobody"})
    assert answer["errcode"] == 60011
    assert "sub_code" not in answer
