"""`rate_limit.qps` (orgctl.yaml) and `--concurrency` reach the client: checked by what the
sandbox saw arrive, not by the settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.clock import FakeClock
from reconciler.live.snapshot import read_live
from reconciler.live.target import open_target
from reconciler.reconcile import make_plan
from reconciler.sandbox.faults import peak_per_second
from tests.dingtalk.simtime import SimClock, run_simulated
from tests.live.helpers import seed

READS = ("topapi/v2/department/listsubid", "topapi/v2/department/get", "topapi/v2/user/list")


def write_org(org_dir: Path, policy: str) -> Path:
    org_dir.mkdir(parents=True, exist_ok=True)
    (org_dir / "orgctl.yaml").write_text(policy, encoding="utf-8")
    (org_dir / "org.yaml").write_text(
        "departments:\n  - {key: eng, name: 研发中心, parent: root}\nusers: []\n", encoding="utf-8"
    )
    return org_dir


@pytest.mark.parametrize(("policy", "qps"), [("rate_limit:\n  qps: 5\n", 5), ("", 20)])
def test_a_plan_never_puts_more_than_rate_limit_qps_calls_of_one_api_in_a_second(
    tmp_path: Path, policy: str, qps: int
):
    org_dir = write_org(tmp_path / "org", policy)
    target = open_target(sandbox=True, state_dir=tmp_path / "state", clock=FakeClock())
    assert target.sandbox is not None
    sb = target.sandbox
    seed(sb.tenant, departments=30, users=200)

    async def plan() -> None:
        async with target:
            await make_plan(org_dir, target.client)

    asyncio.run(plan())
    peaks = {api: sb.limiter.peak(api) for api in READS}  # every arrival, refused or not
    assert max(peaks.values()) == qps  # reached, and never passed
    assert target.client.throttles == 0


@pytest.mark.parametrize("concurrency", [None, 100])
def test_concurrency_is_the_number_of_calls_in_flight(tmp_path: Path, concurrency: int | None):
    """With 1 s of latency and no rate limit, calls arriving within one second of each other
    were all in flight at once."""

    async def main() -> int:
        target = open_target(
            sandbox=True, state_dir=tmp_path / "state", clock=SimClock(), concurrency=concurrency
        )
        assert target.sandbox is not None
        sb = target.sandbox
        seed(sb.tenant, departments=150, users=150, fanout=150)  # one wide level
        sb.limiter.qps = 0  # no limit on either side: only the cap on calls in flight is left
        target.client.set_qps(10_000)
        sb.faults.latency = 1.0
        async with target:
            await read_live(target.client)
        # gettoken arrives at 1 s, the root's calls at 2 s, then the 150 departments' calls
        arrivals = sorted(at for seen in sb.limiter.arrivals.values() for at, _ in seen if at >= 3)
        # A worker's next call arrives at least 1 s after its last, so any half second holds
        # at most one call per call in flight.
        return peak_per_second([at * 2 for at in arrivals])

    in_flight = run_simulated(main())
    assert in_flight == (concurrency or 48)
