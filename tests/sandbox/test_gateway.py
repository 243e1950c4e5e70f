"""The gateway layers in front of the tenant: tokens, the 20 QPS limit, faults."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import httpx
import pytest

from reconciler.clock import FakeClock
from reconciler.sandbox import (
    APP_KEY,
    APP_SECRET,
    LENIENT,
    STRICT,
    Faults,
    Profile,
    Sandbox,
    peak_per_second,
    serve,
)
from tests.sandbox.helpers import Api

# -- tokens --------------------------------------------------------------------------------


def test_a_token_lives_7200_s_and_asking_again_returns_it_and_extends_it(
    api: Api, clock: FakeClock
):
    first = api.gettoken()["access_token"]
    clock.advance(7000)
    assert api.gettoken()["access_token"] == first  # same token while valid [OT]…
    clock.advance(7000)  # 14000 s after issue, 7000 s after the refresh
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token=first)["errcode"] == 0
    clock.advance(200)
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token=first)["errcode"] == 42001
    second = api.gettoken()["access_token"]  # …and a new one after expiry
    assert second != first
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token=second)["errcode"] == 0


def test_expire_tokens_invalidates_every_issued_token_now(api: Api, sb: Sandbox):
    token = api.token()
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token=token)["errcode"] == 0
    sb.expire_tokens()
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token=token)["errcode"] == 42001
    assert api.gettoken()["access_token"] != token


def test_the_secret_never_shows_in_the_sandboxs_repr():
    sb = Sandbox(app_secret="s3cr3t-value")
    assert (
        repr(sb) == f"Sandbox(app_key={APP_KEY!r}, profile='strict', qps=20.0)"
    )  # says what it is, no more
    sb.close()


# -- rate limit ------------------------------------------------------------------------------


def statuses(api: Api, path: str, body: dict[str, object], n: int) -> Counter[int]:
    return Counter(api.call(path, body)["errcode"] for _ in range(n))


@pytest.fixture
def limited(clock: FakeClock):
    sandbox = Sandbox(clock=clock, qps=20)
    with httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport()) as client:
        yield sandbox, Api(client)
    sandbox.close()


def limited_on(profile: Profile, clock: FakeClock) -> tuple[Sandbox, Api]:
    sandbox = Sandbox(clock=clock, profile=profile)
    client = httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport())
    return sandbox, Api(client)


def test_the_strict_default_allows_qps_calls_in_any_sliding_second(clock: FakeClock):
    sb, api = limited_on(STRICT, clock)
    api.token()
    assert sb.profile.rate_limit == "sliding"
    get = "topapi/v2/department/listsubid"
    assert statuses(api, get, {"dept_id": 1}, 50) == {0: 20, 90018: 30}
    # Another API has its own budget.
    assert statuses(api, "topapi/v2/department/get", {"dept_id": 1}, 25) == {0: 20, 90018: 5}
    # Half a second later the window still holds the 20 accepted calls: nothing passes (a
    # token bucket would let 10 through here).
    clock.advance(0.5)
    assert statuses(api, get, {"dept_id": 1}, 15) == {90018: 15}
    # Refused calls do not count: one second after the burst the window is empty again.
    clock.advance(0.5)
    assert statuses(api, get, {"dept_id": 1}, 25) == {0: 20, 90018: 5}
    assert sb.limiter.peak(get, accepted_only=True) == 20
    assert sb.limiter.peak(get) == 50 + 15  # every arrival is recorded, refused ones too
    sb.close()


def test_the_bucket_lets_a_burst_through_then_refills(clock: FakeClock):
    sb, api = limited_on(LENIENT, clock)
    api.token()
    assert sb.profile.rate_limit == "bucket"
    # The clock stands still: a full bucket of 20 passes, the rest is refused.
    assert statuses(api, "topapi/v2/department/listsubid", {"dept_id": 1}, 50) == {0: 20, 90018: 30}
    # Another API has its own budget.
    assert statuses(api, "topapi/v2/department/get", {"dept_id": 1}, 25) == {0: 20, 90018: 5}
    # Half a second refills half the bucket.
    clock.advance(0.5)
    assert statuses(api, "topapi/v2/department/listsubid", {"dept_id": 1}, 15) == {0: 10, 90018: 5}
    sb.close()


@pytest.mark.parametrize(("profile", "expected"), [(STRICT, 20 * 10), (LENIENT, 20 + 20 * 10 - 1)])
def test_a_steady_caller_gets_exactly_qps(profile: Profile, expected: int, clock: FakeClock):
    sb, api = limited_on(profile, clock)
    api.token()
    ok = 0
    for _ in range(1000):  # 1000 calls over 10 s of fake time
        ok += api.call("topapi/v2/department/get", {"dept_id": 1})["errcode"] == 0
        clock.advance(0.01)
    # sliding: 20 in each of the 10 seconds; bucket: the first burst, then 20/s (the 1000th
    # call is at 9.99 s, one token short).
    assert ok == expected
    assert sb.limiter.peak("topapi/v2/department/get", accepted_only=True) == 20 + (
        0 if profile is STRICT else 19
    )
    sb.close()


def test_sliding_windows_are_half_open(clock: FakeClock):
    # Calls exactly one second apart are in no common window [t, t + 1).
    sb, api = limited_on(dataclasses.replace(STRICT, qps=1), clock)
    api.token()
    answers = []
    for step in (0.0, 0.999, 0.001, 0.5, 0.5):
        clock.advance(step)
        answers.append(api.call("topapi/v2/department/get", {"dept_id": 1})["errcode"])
    assert answers == [0, 90018, 0, 90018, 0]
    sb.close()


def test_peak_per_second_counts_the_fullest_window():
    assert peak_per_second([]) == 0
    assert peak_per_second([0.0, 0.5, 0.99, 1.0, 1.5, 1.6]) == 4  # 1.0, 1.5, 1.6 and 0.5/0.99
    assert peak_per_second([0.0, 1.0, 2.0]) == 1


def test_a_throttled_write_is_not_executed(limited: tuple[Sandbox, Api]):
    sb, api = limited
    codes = [
        api.call("topapi/v2/department/create", {"name": f"部门{i}", "parent_id": 1})["errcode"]
        for i in range(30)
    ]
    assert codes.count(90018) == 10
    assert len(sb.tenant.departments()) == 1 + 20
    assert len(sb.writes()) == 20  # refused at the gateway: the tenant never saw them


def test_gettoken_has_its_own_budget(limited: tuple[Sandbox, Api]):
    _, api = limited
    answers = [api.gettoken() for _ in range(25)]
    assert Counter(a["errcode"] for a in answers) == {0: 20, 90018: 5}
    token = answers[0]["access_token"]
    assert api.call("topapi/v2/department/get", {"dept_id": 1}, token=token)["errcode"] == 0


def test_a_real_server_enforces_20_qps_over_loopback(clock: FakeClock):
    """Over HTTP on the fake clock: the burst of 20 passes, the rest are throttled until a
    second of refill lets 20 more through. No wall-clock timing involved."""
    sandbox = Sandbox(clock=clock, qps=20)
    with serve(sandbox) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        api = Api(client)
        token = api.gettoken()["access_token"]  # gettoken has its own budget
        get = {"dept_id": 1}
        first = [
            api.call("topapi/v2/department/get", get, token=token)["errcode"] for _ in range(30)
        ]
        clock.advance(1.0)
        second = [
            api.call("topapi/v2/department/get", get, token=token)["errcode"] for _ in range(30)
        ]
    sandbox.close()
    assert first == [0] * 20 + [90018] * 10
    assert second == [0] * 20 + [90018] * 10


# -- faults ----------------------------------------------------------------------------------


def outcomes(seed: int, faults: Faults, n: int = 300) -> list[str]:
    """What n calls see, named: ok, 502, busy, throttled, banned, timeout."""
    sandbox = Sandbox(qps=0, seed=seed)
    seen: list[str] = []
    with httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport()) as client:
        api = Api(client)
        api.token()
        sandbox.faults = faults
        for _ in range(n):
            try:
                answer = api.post("topapi/v2/department/get", {"dept_id": 1})
            except httpx.ReadTimeout:
                seen.append("timeout")
                continue
            if answer.status_code == 502:
                seen.append("502")
                continue
            body = answer.json()
            name = {0: "ok", -1: "busy", 90018: "throttled"}.get(body.get("errcode"), "?")
            seen.append("banned" if body.get("status") == 1111 else name)
    sandbox.close()
    return seen


MIXED = Faults(error_rate=0.2, throttle_rate=0.1, timeout_rate=0.05, ip_ban_rate=0.05)


def test_faults_replay_exactly_with_the_same_seed_and_differ_with_another():
    first = outcomes(7, Faults(**vars(MIXED)))
    assert first == outcomes(7, Faults(**vars(MIXED)))
    assert first != outcomes(8, Faults(**vars(MIXED)))
    counts = Counter(first)
    assert set(counts) == {"ok", "502", "busy", "throttled", "banned", "timeout"}
    # Each band gets roughly its share of 300 draws (wide margins: this is a sanity check).
    assert 30 <= counts["502"] + counts["busy"] <= 90
    assert 100 <= counts["ok"] <= 200


def test_no_faults_no_failures():
    assert set(outcomes(7, Faults())) == {"ok"}


def test_the_error_fault_is_a_502_html_page_or_errcode_minus_1(api: Api, sb: Sandbox):
    api.token()
    sb.faults.error_rate = 1.0
    answers = [api.post("topapi/v2/department/get", {"dept_id": 1}) for _ in range(20)]
    bad_gateway = [a for a in answers if a.status_code == 502]
    busy = [a for a in answers if a.status_code == 200]
    assert bad_gateway
    assert busy
    assert bad_gateway[0].headers["content-type"].startswith("text/html")
    assert {a.json()["errcode"] for a in busy} == {-1}
    assert busy[0].json()["errmsg"] == "系统繁忙"


def test_the_ip_ban_answers_the_x5_body_without_errcode(api: Api, sb: Sandbox):
    sb.faults.ip_ban_rate = 1.0
    answer = api.client.get("/gettoken", params={"appkey": "k", "appsecret": "s"}).json()
    assert set(answer) == {"status", "wait", "source", "punish", "uuid"}
    assert (answer["status"], answer["wait"]) == (1111, 5)


def test_a_timed_out_write_was_applied_unless_told_otherwise(api: Api, sb: Sandbox):
    api.token()
    sb.faults.timeout_rate = 1.0
    with pytest.raises(httpx.ReadTimeout):
        api.post("topapi/v2/department/create", {"name": "超时部", "parent_id": 1})
    assert [d["name"] for d in sb.tenant.departments()] == ["示例科技", "超时部"]
    assert [(w.api, w.errcode) for w in sb.writes()] == [("topapi/v2/department/create", 0)]

    sb.faults.timeout_after_write = False
    with pytest.raises(httpx.ReadTimeout):
        api.post("topapi/v2/department/create", {"name": "没发生", "parent_id": 1})
    assert [d["name"] for d in sb.tenant.departments()] == ["示例科技", "超时部"]


def test_over_http_a_timeout_is_a_connection_closed_without_an_answer(http_api: Api, sb: Sandbox):
    http_api.token()
    sb.faults.timeout_rate = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        http_api.post("topapi/v2/department/create", {"name": "超时部", "parent_id": 1})
    assert [d["name"] for d in sb.tenant.departments()] == ["示例科技", "超时部"]
    sb.faults.timeout_rate = 0.0
    assert http_api.ok("topapi/v2/department/get", {"dept_id": 1})["result"]["member_count"] == 0


def test_latency_is_slept_on_the_sandbox_clock_by_the_async_transport(
    sb: Sandbox, clock: FakeClock
):
    sb.faults.latency = 0.25

    async def run() -> int:
        async with httpx.AsyncClient(base_url=sb.base_url, transport=sb.transport()) as client:
            credentials = {"appkey": APP_KEY, "appsecret": APP_SECRET}
            token = (await client.get("/gettoken", params=credentials)).json()["access_token"]
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/topapi/v2/department/get",
                        params={"access_token": token},
                        json={"dept_id": 1},
                    )
                    for _ in range(4)
                )
            )
            return sum(a.json()["errcode"] == 0 for a in answers)

    started = clock.now()
    assert asyncio.run(run()) == 4
    assert clock.sleeps == [0.25] * 5
    assert clock.now() - started == pytest.approx(1.25)


@pytest.mark.parametrize("over", ["sync transport", "http"])
def test_latency_is_slept_on_the_sandbox_clock_by_the_sync_paths(
    sb: Sandbox, clock: FakeClock, over: str
):
    sb.faults.latency = 0.25
    started = clock.now()
    if over == "http":
        with serve(sb) as server, httpx.Client(base_url=server.url, timeout=10) as client:
            answer = Api(client).ok("topapi/v2/department/get", {"dept_id": 1})
    else:
        with httpx.Client(base_url=sb.base_url, transport=sb.transport()) as client:
            answer = Api(client).ok("topapi/v2/department/get", {"dept_id": 1})
    assert answer["result"]["dept_id"] == 1
    assert clock.sleeps == [0.25, 0.25]  # gettoken, then the read: each answer is delayed
    assert clock.now() - started == pytest.approx(0.5)
