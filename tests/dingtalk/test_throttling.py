"""The client against the sandbox's rate limits, in simulated time with latency jitter: what
the sandbox saw (calls per sliding second, 90018s), not how the client is configured."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from reconciler.dingtalk import DingTalkClient
from reconciler.live.snapshot import read_live
from reconciler.model import Org
from reconciler.sandbox import APP_KEY, APP_SECRET, LENIENT, STRICT, Profile, Sandbox
from tests.dingtalk.simtime import JitteryTransport, SimClock, run_simulated
from tests.live.helpers import seed

READS = ("topapi/v2/department/listsubid", "topapi/v2/department/get", "topapi/v2/user/list")


@dataclass
class Outcome:
    expected: Org
    read: Org
    seconds: float  # simulated
    calls: dict[str, int]
    throttles: int
    peaks: dict[str, int]  # accepted calls per API in the busiest sliding second
    competitor_accepted: int = 0

    @property
    def floor(self) -> float:
        """Seconds the busiest API needs at 20 calls a second: no client can be faster.
        ``listsubid`` is called once per department and once for the root."""
        return (len(self.expected.departments) + 1) / 20


def snapshot(profile: Profile, *, competitor_qps: float = 0.0) -> Outcome:
    async def main() -> Outcome:
        clock = SimClock()
        sb = Sandbox(clock=clock, profile=profile)
        expected = seed(sb.tenant, departments=100, users=500, seed=3)
        client = DingTalkClient(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            base_url=sb.base_url,
            transport=JitteryTransport(sb, latency=0.03, jitter=0.02, seed=5),
            clock=clock,
        )
        stop = asyncio.Event()
        rivals = [asyncio.create_task(_compete(sb, api, competitor_qps, stop)) for api in READS]
        started = clock.monotonic()
        async with client:
            read = await read_live(client)
        seconds = clock.monotonic() - started
        stop.set()
        accepted = sum(await asyncio.gather(*rivals))
        peaks = {api: sb.limiter.peak(api, accepted_only=True) for api in READS}
        calls = {api: client.calls_made[api] for api in READS}
        sb.close()
        return Outcome(expected, read, seconds, calls, client.throttles, peaks, accepted)

    return run_simulated(main())


async def _compete(sb: Sandbox, api: str, qps: float, stop: asyncio.Event) -> int:
    """Another process on the same app: ``qps`` calls a second on ``api``, whatever the
    answers, until stopped. Returns how many calls the sandbox accepted."""
    if qps <= 0:
        return 0
    _, token_body, _ = sb.handle(
        "GET", "/gettoken", {"appkey": APP_KEY, "appsecret": APP_SECRET}, b""
    )
    token = json.loads(token_body)["access_token"]
    body = json.dumps({"dept_id": 1, "cursor": 0, "size": 1}).encode()
    accepted = 0
    while not stop.is_set():
        _, answer, _ = sb.handle("POST", f"/{api}", {"access_token": token}, body)
        accepted += json.loads(answer)["errcode"] != 90018
        await asyncio.sleep(1 / qps)
    return accepted


@pytest.mark.parametrize("profile", [STRICT, LENIENT], ids=["sliding", "bucket"])
def test_a_snapshot_holds_the_floor_without_a_single_90018(profile: Profile):
    outcome = snapshot(profile)
    assert outcome.read == outcome.expected
    assert outcome.throttles == 0
    assert max(outcome.peaks.values()) <= 20
    # Simulated seconds, deterministic: the limiter's 5 % margin plus the start-up.
    assert outcome.seconds <= 1.1 * outcome.floor


def test_next_to_a_process_spending_half_the_budget_it_slows_down_and_finishes():
    outcome = snapshot(STRICT, competitor_qps=10.0)
    assert outcome.read == outcome.expected  # no livelock, nothing lost
    assert max(outcome.peaks.values()) <= 20
    total = sum(outcome.calls.values())
    assert 0 < outcome.throttles <= 0.1 * total  # AIMD: a few probes, not a storm
    # Half the budget left: twice the floor at best, and not much worse (simulated seconds).
    assert 1.9 * outcome.floor <= outcome.seconds <= 2.2 * outcome.floor
    assert outcome.competitor_accepted >= 0.8 * 10 * outcome.seconds * len(READS)  # its half
