"""The DingTalk client: tokens, retries, throttling, transport errors, payload encoding."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.dingtalk.client import BACKOFF_MAX, MAX_REQUEUES
from reconciler.dingtalk.ratelimit import DECREASE, WINDOW_MARGIN
from reconciler.errors import (
    BusyError,
    MissingPermissionError,
    OutcomeUnknownError,
    QuotaExhaustedError,
    TerminalError,
    ThrottledError,
    TokenError,
    TransportError,
)
from tests.dingtalk.fakes import FakeDingTalk, make_client

T = TypeVar("T")

LIST = "topapi/v2/user/list"
CREATE_USER = "topapi/v2/user/create"
THROTTLED = {"errcode": 90018, "errmsg": "请求的QPS超出限制"}
PER_MINUTE = {"errcode": 90006, "errmsg": "该API调用次数超过每分钟限制"}
INTERVAL = (1.0 + WINDOW_MARGIN) / 20  # the limiter's spacing at 20 QPS


def run(client: DingTalkClient, work: Callable[[DingTalkClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with client:
            return await work(client)

    return asyncio.run(go())


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


def assert_backoff(sleeps: list[float]) -> None:
    """Each sleep n (from 0) lies in [2^n, 1.5 × 2^n), capped at BACKOFF_MAX, and they vary."""
    for n, sleep in enumerate(sleeps):
        base = 2.0**n
        assert min(base, BACKOFF_MAX) <= sleep <= min(1.5 * base, BACKOFF_MAX), (n, sleep)
    jitters = [s / 2.0**n for n, s in enumerate(sleeps) if 2.0**n * 1.5 < BACKOFF_MAX]
    assert len(set(jitters)) == len(jitters)  # jittered: no two identical multipliers


def test_a_token_is_fetched_once_and_sent_as_the_access_token_query_param(
    fake: FakeDingTalk, clock: FakeClock
):
    client = make_client(fake, clock)

    async def work(c: DingTalkClient) -> None:
        await c.list_sub_department_ids(1)
        await c.get_department(2)

    run(client, work)
    token_requests = fake.calls("gettoken")
    assert len(token_requests) == 1
    assert token_requests[0].method == "GET"
    api_requests = [r for r in fake.requests if r.url.path != "/gettoken"]
    assert [query(r)["access_token"] for r in api_requests] == [["fake-token-0001-a8f3"]] * 2
    assert all(r.method == "POST" for r in api_requests)
    assert all(json.loads(r.content) for r in api_requests)  # JSON bodies
    assert "access_token" not in api_requests[0].content.decode()
    assert client.calls_made == {
        "gettoken": 1,
        "topapi/v2/department/listsubid": 1,
        "topapi/v2/department/get": 1,
    }


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(3600, 3600), (" 3600 ", 3600), (3600.0, 3600), ("soon", 7200), (None, 7200), (True, 7200)],
)
def test_the_token_is_refetched_before_it_expires(
    fake: FakeDingTalk, clock: FakeClock, expires_in: object, lifetime: int
):
    # A type-erased expires_in is read; an unreadable one means DingTalk's documented 7200 s.
    fake.expires_in = expires_in
    client = make_client(fake, clock)

    async def work(c: DingTalkClient) -> None:
        await c.list_sub_department_ids(1)
        clock.advance(lifetime - 601)  # still inside the 10-minute margin's safe side
        await c.list_sub_department_ids(1)
        assert len(fake.calls("gettoken")) == 1
        clock.advance(2)  # now within 10 minutes of expiry
        await c.list_sub_department_ids(1)

    run(client, work)
    assert len(fake.calls("gettoken")) == 2


def test_errcode_as_string_is_understood(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, {"errcode": "0", "errmsg": "ok", "result": {"has_more": False, "list": []}})
    fake.script(LIST, {"errcode": "60003", "errmsg": "部门不存在"})
    client = make_client(fake, clock)

    async def work(c: DingTalkClient) -> None:
        assert await c.list_users_page(2) == ([], None)
        with pytest.raises(TerminalError) as caught:
            await c.list_users_page(2)
        assert caught.value.errcode == 60003

    run(client, work)


@pytest.mark.parametrize(
    "answer",
    [
        {"errcode": 60003, "errmsg": "部门不存在"},
        {"errcode": 50004, "errmsg": "部门不在授权范围内"},
        {"errcode": 88, "sub_code": "60011", "errmsg": "没有调用该接口的权限"},
        {"errcode": 90020, "errmsg": "本月api调用量已超过限制"},
    ],
)
def test_terminal_errors_are_not_retried(
    fake: FakeDingTalk, clock: FakeClock, answer: dict[str, Any]
):
    fake.script(LIST, answer)
    client = make_client(fake, clock)
    with pytest.raises(TerminalError):
        run(client, lambda c: c.list_users_page(2))
    assert len(fake.calls(LIST)) == 1
    assert client.calls_made[LIST] == 1
    assert clock.sleeps == []


def test_quota_exhausted_has_its_own_type(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, {"errcode": 90020, "errmsg": "本月api调用量已超过限制"})
    with pytest.raises(QuotaExhaustedError):
        run(make_client(fake, clock), lambda c: c.list_users_page(2))


def test_a_throttle_burst_is_survived_with_jittered_exponential_backoff(
    fake: FakeDingTalk, clock: FakeClock
):
    fake.script(LIST, PER_MINUTE, PER_MINUTE, {"errcode": 88, "errmsg": "too fast"}, PER_MINUTE)
    users, cursor = run(make_client(fake, clock), lambda c: c.list_users_page(2))
    assert [u["userid"] for u in users] == ["zhangsan"]
    assert cursor is None
    assert len(fake.calls(LIST)) == 5
    assert len(clock.sleeps) == 4
    assert_backoff(clock.sleeps)


def test_a_qps_throttle_resends_that_call_in_the_next_slot_without_backoff(
    fake: FakeDingTalk, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    fake.script(LIST, THROTTLED, {"errcode": "90002", "errmsg": "qps"}, THROTTLED)
    client = make_client(fake, clock)
    with caplog.at_level(logging.INFO, logger="reconciler.dingtalk"):
        users, _ = run(client, lambda c: c.list_users_page(2))
    assert [u["userid"] for u in users] == ["zhangsan"]
    assert len(fake.calls(LIST)) == 4
    assert client.throttles == 3
    assert max(clock.sleeps) < 0.1  # the limiter's spacing only: no one-second hold, no backoff
    assert "throttled (90018)" in caplog.text
    assert "slowing to 18.0" in caplog.text


def test_a_throttle_does_not_hold_back_the_rest_of_the_api(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, THROTTLED)
    client = make_client(fake, clock)
    start = clock.monotonic()

    async def work(c: DingTalkClient) -> None:
        await asyncio.gather(*(c.list_users_page(2) for _ in range(40)))

    run(client, work)
    assert len(fake.calls(LIST)) == 41
    # 41 calls: under 41 slots at the slowed rate, far from the 1 s the old hold cost on top
    assert clock.monotonic() - start < 41 * (1.0 + WINDOW_MARGIN) / (20 * DECREASE)


def test_a_call_throttled_again_and_again_backs_off_in_the_end(
    fake: FakeDingTalk, clock: FakeClock
):
    fake.script(LIST, *([THROTTLED] * (2 * MAX_REQUEUES)))
    client = make_client(fake, clock, max_tries=2)
    with pytest.raises(ThrottledError):
        run(client, lambda c: c.list_users_page(2))
    assert len(fake.calls(LIST)) == 2 * MAX_REQUEUES
    assert sum(1 for s in clock.sleeps if s >= 1.0) == 1  # one backoff between the two tries


def test_a_5xx_and_transport_burst_on_a_read_is_survived(fake: FakeDingTalk, clock: FakeClock):
    fake.script(
        LIST,
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(503, json={"message": "unavailable"}),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
        {"errcode": -1, "errmsg": "系统繁忙"},
    )
    users, _ = run(make_client(fake, clock), lambda c: c.list_users_page(2))
    assert [u["userid"] for u in users] == ["zhangsan"]
    assert len(fake.calls(LIST)) == 6
    assert_backoff(clock.sleeps)


def test_backoff_is_bounded_and_retries_stop_after_max_tries(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, *([PER_MINUTE] * 12))
    client = make_client(fake, clock, max_tries=10)
    with pytest.raises(ThrottledError):
        run(client, lambda c: c.list_users_page(2))
    assert len(fake.calls(LIST)) == 10
    assert len(clock.sleeps) == 9
    assert max(clock.sleeps) == BACKOFF_MAX
    assert_backoff(clock.sleeps)


def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    fake: FakeDingTalk, clock: FakeClock
):
    client = make_client(fake, clock)

    async def work(c: DingTalkClient) -> list[int]:
        await c.list_sub_department_ids(1)
        fake.expire_tokens()  # e.g. revoked, or the 7200 s ran out server-side
        return await c.list_sub_department_ids(1)

    assert run(client, work) == [2]
    assert fake.tokens_issued == 2
    assert client.calls_made["topapi/v2/department/listsubid"] == 3
    assert all(s <= INTERVAL + 1e-9 for s in clock.sleeps)  # only the limiter's: no backoff


def test_a_token_error_wrapped_in_88_also_refreshes(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, {"errcode": 88, "sub_code": "40014", "errmsg": "ding talk error"})
    page = run(make_client(fake, clock), lambda c: c.list_users_page(2))
    users, cursor = page
    assert [u["userid"] for u in users] == ["zhangsan"]
    assert cursor is None
    assert fake.tokens_issued == 2
    assert len(fake.calls(LIST)) == 2
    assert all(s <= INTERVAL + 1e-9 for s in clock.sleeps)  # only the limiter's: no backoff


def test_a_token_rejected_twice_is_an_error_not_a_loop(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, {"errcode": 42001, "errmsg": "超时"}, {"errcode": 40014, "errmsg": "x"})
    with pytest.raises(TokenError):
        run(make_client(fake, clock), lambda c: c.list_users_page(2))
    assert fake.tokens_issued == 2
    assert len(fake.calls(LIST)) == 2


def test_concurrent_calls_with_a_stale_token_fetch_one_new_token(
    fake: FakeDingTalk, clock: FakeClock
):
    client = make_client(fake, clock)

    async def work(c: DingTalkClient) -> None:
        await c.list_sub_department_ids(1)
        fake.expire_tokens()
        await asyncio.gather(*(c.list_sub_department_ids(1) for _ in range(10)))

    run(client, work)
    assert fake.tokens_issued == 2
    # each of the ten was sent once with the stale token and once more with the new one
    assert client.calls_made["topapi/v2/department/listsubid"] == 1 + 2 * 10


def test_bad_credentials_fail_fast_with_a_hint(fake: FakeDingTalk, clock: FakeClock):
    client = make_client(fake, clock, app_secret="wrong-secret-value")
    with pytest.raises(TerminalError, match="DINGTALK_APP_SECRET") as caught:
        run(client, lambda c: c.list_sub_department_ids(1))
    assert caught.value.api == "gettoken"
    assert len(fake.calls("gettoken")) == 1
    assert "wrong-secret-value" not in str(caught.value)


def test_an_ip_ban_is_waited_out(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, {"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "u"})
    run(make_client(fake, clock), lambda c: c.list_users_page(2))
    assert len(fake.calls(LIST)) == 2
    assert sum(clock.sleeps) >= 300.0 - 1e-6  # the documented 5-minute ban
    assert sum(clock.sleeps) < 302.0


def test_a_probe_client_counts_an_ip_ban_instead_of_waiting_it_out(
    fake: FakeDingTalk, clock: FakeClock
):
    # doctor's burst: a throttled answer is what it measures, not something to sit out.
    fake.script(LIST, {"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "u"})
    client = make_client(fake, clock, max_tries=1, max_requeues=1, hold_after_throttle=False)

    async def twice(c: DingTalkClient) -> None:
        with pytest.raises(ThrottledError):
            await c.list_users_page(2)
        await c.list_users_page(2)  # the next call leaves at once

    run(client, twice)
    assert len(fake.calls(LIST)) == 2
    assert sum(clock.sleeps) < 1.0


def test_an_html_gateway_page_is_treated_as_a_throttle(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, httpx.Response(200, text="<html>访问被拒绝</html>"))
    users, _ = run(make_client(fake, clock), lambda c: c.list_users_page(2))
    assert len(users) == 1
    assert len(fake.calls(LIST)) == 2


# ------------------------------------------------------------------------------ writes


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteError("broken pipe"),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(500, json={"message": "internal"}),
    ],
)
def test_a_write_with_unknown_outcome_is_not_retried(
    fake: FakeDingTalk, clock: FakeClock, failure: Any
):
    fake.script(CREATE_USER, failure)
    client = make_client(fake, clock)
    with pytest.raises(OutcomeUnknownError):
        run(
            client,
            lambda c: c.create_user({"userid": "lisi", "name": "李四", "mobile": "13800000000"}),
        )
    assert len(fake.calls(CREATE_USER)) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "not_executed",
    [
        THROTTLED,
        {"errcode": 90002},
        {"errcode": -1, "errmsg": "系统繁忙"},
        {"errcode": 40014, "errmsg": "不合法的access_token"},
        {"status": 1111, "wait": 1},
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
    ],
)
def test_a_write_is_retried_when_it_provably_did_not_run(
    fake: FakeDingTalk, clock: FakeClock, not_executed: Any
):
    fake.script(CREATE_USER, not_executed)
    userid = run(
        make_client(fake, clock),
        lambda c: c.create_user({"userid": "lisi", "name": "李四", "mobile": "13800000000"}),
    )
    assert userid == "lisi"
    assert len(fake.calls(CREATE_USER)) == 2


def test_a_read_timeout_is_a_transport_error_once_retries_are_spent(
    fake: FakeDingTalk, clock: FakeClock
):
    fake.script(LIST, *[httpx.ReadTimeout("timed out")] * 3)
    with pytest.raises(TransportError) as caught:
        run(make_client(fake, clock, max_tries=3), lambda c: c.list_users_page(2))
    assert len(fake.calls(LIST)) == 3
    # No DingTalk errcode was ever received: the message must not invent one.
    assert caught.value.errcode is None
    assert "errcode" not in str(caught.value)


def test_a_5xx_read_becomes_busy_when_retries_are_spent(fake: FakeDingTalk, clock: FakeClock):
    fake.script(LIST, *[httpx.Response(503)] * 2)
    with pytest.raises(BusyError) as caught:
        run(make_client(fake, clock, max_tries=2), lambda c: c.list_users_page(2))
    assert caught.value.errcode is None
    assert str(caught.value) == f"{LIST}: HTTP 503 Service Unavailable"


def test_user_fields_are_encoded_the_way_dingtalk_takes_them(fake: FakeDingTalk, clock: FakeClock):
    async def work(c: DingTalkClient) -> None:
        await c.create_user(
            {
                "userid": "lisi",
                "name": "李四",
                "mobile": "+86-13800000000",
                "dept_id_list": [2, 3],
                "extension": {"爱好": "旅游"},
                "manager_userid": None,
                "title": None,
            }
        )
        await c.update_user("lisi", {"manager_userid": None, "dept_id_list": [3]})
        await c.update_user("lisi", {"manager_userid": "zhangsan"})

    run(make_client(fake, clock), work)
    create = fake.bodies(CREATE_USER)[0]
    assert create == {
        "userid": "lisi",
        "name": "李四",
        "mobile": "+86-13800000000",
        "dept_id_list": "2,3",
        "extension": '{"爱好":"旅游"}',
    }
    clear, set_manager = fake.bodies("topapi/v2/user/update")
    assert clear == {"userid": "lisi", "force_update_fields": "manager_userid", "dept_id_list": "3"}
    assert set_manager == {"userid": "lisi", "manager_userid": "zhangsan"}


def test_department_managers_are_set_as_a_list_and_cleared_by_force(
    fake: FakeDingTalk, clock: FakeClock
):
    async def work(c: DingTalkClient) -> None:
        await c.update_department(2, managers=["zhangsan", "lisi"], name="研发")
        await c.update_department(2, managers=[])
        with pytest.raises(TypeError, match="colour"):
            await c.update_department(2, colour="red")

    run(make_client(fake, clock), work)
    first, second = fake.bodies("topapi/v2/department/update")
    assert first == {"dept_id": 2, "name": "研发", "dept_manager_userid_list": "zhangsan,lisi"}
    assert second == {"dept_id": 2, "force_update_fields": "dept_manager_userid_list"}


def test_create_department_returns_the_new_id(fake: FakeDingTalk, clock: FakeClock):
    new_id = run(
        make_client(fake, clock),
        lambda c: c.create_department(
            name="平台组", parent_id=2, order=3, source_identifier="plat"
        ),
    )
    assert new_id == 3
    assert fake.bodies("topapi/v2/department/create") == [
        {"name": "平台组", "parent_id": 2, "order": 3, "source_identifier": "plat"}
    ]


def test_paging_follows_next_cursor(fake: FakeDingTalk, clock: FakeClock):
    for i in range(250):
        fake.add_user(f"u{i:03d}", f"用户{i}", f"1380000{i:04d}", [2])

    async def work(c: DingTalkClient) -> list[str]:
        seen: list[str] = []
        cursor: int | None = 0
        while cursor is not None:
            page, cursor = await c.list_users_page(2, cursor)
            seen.extend(u["userid"] for u in page)
        return seen

    seen = run(make_client(fake, clock), work)
    assert len(seen) == 251
    assert [b["cursor"] for b in fake.bodies(LIST)] == [0, 100, 200]
    assert {b["size"] for b in fake.bodies(LIST)} == {100}


def test_not_found_reads_answer_none(fake: FakeDingTalk, clock: FakeClock):
    fake.script("topapi/v2/user/getbymobile", {"errcode": 60121, "errmsg": "找不到该用户"})
    fake.script("topapi/v2/user/getbymobile", {"errcode": 0, "result": {"userid": "zhangsan"}})

    async def work(c: DingTalkClient) -> tuple[Any, ...]:
        return (
            await c.get_user("nobody"),
            await c.get_user("zhangsan"),
            await c.get_userid_by_mobile("13900000000"),
            await c.get_userid_by_mobile("15172391968"),
        )

    missing, found, no_userid, userid = run(make_client(fake, clock), work)
    assert missing is None
    assert found is not None
    assert found["name"] == "张三"
    assert no_userid is None
    assert userid == "zhangsan"


def test_33012_on_user_get_means_not_found_but_400002_is_an_error(
    fake: FakeDingTalk, clock: FakeClock
):
    fake.script("topapi/v2/user/get", {"errcode": 33012, "errmsg": "无效的userId"})
    fake.script("topapi/v2/user/get", {"errcode": 400002, "errmsg": "参数错误"})

    async def work(c: DingTalkClient) -> Any:
        assert await c.get_user("nobody") is None
        return await c.get_user("")

    with pytest.raises(TerminalError) as caught:
        run(make_client(fake, clock), work)
    assert caught.value.errcode == 400002
    assert len(fake.calls("topapi/v2/user/get")) == 2  # neither retried


def test_a_wrapped_missing_permission_names_it_and_is_not_retried(
    fake: FakeDingTalk, clock: FakeClock
):
    fake.script(
        CREATE_USER, {"errcode": 88, "sub_code": "60011", "sub_msg": "没有调用该接口的权限"}
    )
    with pytest.raises(MissingPermissionError, match="qyapi_manage_addresslist"):
        run(make_client(fake, clock), lambda c: c.create_user({"name": "x", "mobile": "1"}))
    assert len(fake.calls(CREATE_USER)) == 1


def test_in_flight_requests_are_capped(clock: FakeClock):
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        if request.url.path == "/gettoken":
            return httpx.Response(200, json={"errcode": 0, "access_token": "t" * 12})
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json={"errcode": 0, "result": {"dept_id_list": []}})

    client = DingTalkClient(
        app_key="k",
        app_secret="s" * 12,
        transport=httpx.MockTransport(handler),
        clock=clock,
        qps=1e9,
        max_in_flight=3,
    )

    async def work(c: DingTalkClient) -> None:
        await asyncio.gather(*(c.list_sub_department_ids(i) for i in range(30)))

    run(client, work)
    assert peak == 3
