"""How the client reads the strict tenant's errcodes, against the sandbox on both profiles."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.errors import MissingPermissionError, TerminalError
from reconciler.sandbox import (
    APP_KEY,
    APP_SECRET,
    LENIENT,
    READONLY_APP_KEY,
    READONLY_APP_SECRET,
    STRICT,
    Profile,
    Sandbox,
)

T = TypeVar("T")


def call(
    sb: Sandbox,
    clock: FakeClock,
    work: Callable[[DingTalkClient], Awaitable[T]],
    *,
    app: tuple[str, str] = (APP_KEY, APP_SECRET),
) -> tuple[T, DingTalkClient]:
    client = DingTalkClient(
        app_key=app[0],
        app_secret=app[1],
        base_url=sb.base_url,
        transport=sb.transport(),
        clock=clock,
    )

    async def go() -> T:
        async with client:
            return await work(client)

    return asyncio.run(go()), client


@pytest.fixture(params=[STRICT, LENIENT], ids=["strict", "lenient"])
def profile(request: pytest.FixtureRequest) -> Profile:
    return request.param  # type: ignore[no-any-return]


def test_an_unknown_userid_reads_as_not_found_on_both_profiles(profile: Profile):
    clock = FakeClock()
    with Sandbox(clock=clock, profile=profile) as sb:
        sb.tenant.add_user("zhangsan", "张三", "+86-15172391968", [1])
        (missing, found), client = call(
            sb, clock, lambda c: asyncio.gather(c.get_user("nobody"), c.get_user("zhangsan"))
        )
    assert missing is None
    assert found is not None
    assert found["name"] == "张三"
    assert client.calls_made["topapi/v2/user/get"] == 2  # no retry either


def test_a_bad_parameter_is_terminal_on_both_profiles(profile: Profile):
    clock = FakeClock()
    with Sandbox(clock=clock, profile=profile) as sb, pytest.raises(TerminalError) as caught:
        call(sb, clock, lambda c: c.call("topapi/v2/department/get", {}))
    assert caught.value.errcode == profile.bad_param_errcode
    assert caught.value.errcode in (40035, 400002)


def test_an_expired_token_is_refreshed_once_on_both_profiles(profile: Profile):
    clock = FakeClock()
    with Sandbox(clock=clock, profile=profile) as sb:

        async def work(c: DingTalkClient) -> list[int]:
            await c.list_sub_department_ids(1)
            # The token expires server-side while the client still trusts its copy.
            c._token_expires_at = clock.now() + 10 * 7200
            clock.advance(7201)
            return await c.list_sub_department_ids(1)

        children, client = call(sb, clock, work)
    assert children == []
    assert client.calls_made["gettoken"] == 2
    assert client.calls_made["topapi/v2/department/listsubid"] == 3


def test_a_missing_permission_point_is_named():
    clock = FakeClock()
    profile = dataclasses.replace(STRICT, missing_permissions=("qyapi_get_member",))
    sb = Sandbox(clock=clock, profile=profile)
    with sb, pytest.raises(MissingPermissionError) as caught:
        call(sb, clock, lambda c: c.get_user("zhangsan"))
    assert caught.value.permission == "qyapi_get_member"
    assert "qyapi_get_member" in str(caught.value)


def test_a_read_only_app_writing_is_told_which_permission_it_lacks(profile: Profile):
    clock = FakeClock()
    with Sandbox(clock=clock, profile=profile) as sb:
        with pytest.raises(MissingPermissionError) as caught:
            call(
                sb,
                clock,
                lambda c: c.create_department(name="研发", parent_id=1),
                app=(READONLY_APP_KEY, READONLY_APP_SECRET),
            )
        assert sb.writes() == []
    assert caught.value.permission == "qyapi_manage_addresslist"
