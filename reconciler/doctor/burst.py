"""The rate-limit check of `orgctl doctor`: a burst of calls that tells a sliding window from a
token bucket. I/O: DingTalk calls through a client of its own, and the clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from reconciler.dingtalk import DingTalkClient
from reconciler.doctor.apis import LISTSUBID, USER_GET
from reconciler.doctor.context import Run
from reconciler.doctor.report import Burst, Status, classify_burst
from reconciler.errors import DingTalkError, ThrottledError
from reconciler.model import ROOT_DEPT_ID

BURST_MAX = 30
BURST_EXTRA = 3
"""Calls beyond `qps` in the first wave: a bucket may let one or two more through, refilled
while the wave goes out; all of them passing means the limit is higher than `qps`."""
BURST_LATER = 5
BURST_GAP = 0.5
"""The later calls of the burst go this long after the first: a bucket has refilled half."""


# -- rate limit --------------------------------------------------------------------


async def check_burst(run: Run) -> None:
    qps = int(run.options.qps)
    if qps + BURST_EXTRA + BURST_LATER > BURST_MAX or qps != run.options.qps:
        run.report.add(
            "rate limit",
            Status.SKIP,
            f"not measured: rate_limit.qps {run.options.qps:g} needs more than {BURST_MAX} calls",
            "paces every API at rate_limit.qps, spread evenly (works under either limiter)",
        )
        run.traits = replace(run.traits, rate_limit="unknown")
        return
    # listsubid of the root (cheap to answer) has not been called yet: its budget is
    # whole. Any answer but a throttle passed the limiter (60011 is an answer too).
    body = {"dept_id": ROOT_DEPT_ID}
    sent = qps + BURST_EXTRA
    async with run.endpoint.client(qps=1000.0, max_tries=1, burst=True) as client:
        with contextlib.suppress(DingTalkError):  # the token, before the wave
            await client.call(USER_GET, {"userid": run.nobody})
        start = run.clock.monotonic()
        answers = await asyncio.gather(*(_passes(client, LISTSUBID, body) for _ in range(sent)))
        # How far apart the answers came back: with the latency alike, how far apart the
        # calls arrived (a slow network adds to each answer, not to the spread).
        spread = max(at for _, at in answers) - min(at for _, at in answers)
        wait = start + BURST_GAP - run.clock.monotonic()
        if wait > 0:
            await run.clock.sleep(wait)
        later = await asyncio.gather(
            *(_passes(client, LISTSUBID, body) for _ in range(BURST_LATER))
        )
    passed = sum(ok for ok, _ in answers)
    burst = Burst(qps, sent, passed, BURST_LATER, sum(ok for ok, _ in later), spread)
    kind, why = classify_burst(burst, BURST_GAP)
    run.traits = replace(run.traits, rate_limit=kind)
    action = {
        "sliding": f"keeps every API under {qps} calls in any sliding second",
        "bucket": f"paces every API at {qps} QPS; bursts would pass but are not needed",
        "unknown": f"paces every API at {qps} QPS, spread evenly (safe under either)",
    }[kind]
    status = Status.OK if kind != "unknown" else Status.WARN
    fix = ""
    if kind == "unknown":
        if burst.passed < qps:
            fix = (
                "lower rate_limit.qps in orgctl.yaml, or stop other programs that use "
                "this app's budget while orgctl runs"
            )
        elif burst.passed == sent:
            fix = "if your DingTalk edition allows more, raise rate_limit.qps in orgctl.yaml"
        else:
            fix = "run doctor again when the network is quiet"
    run.report.add("rate limit", status, f"{kind}: {why}", action, fix)
    # Let the window empty before the next reads, so they are not throttled.
    await run.clock.sleep(1.0 + BURST_GAP)


async def _passes(client: DingTalkClient, api: str, body: Mapping[str, Any]) -> tuple[bool, float]:
    """One call of the burst: False when it was throttled; and when the answer came."""
    try:
        await client.call(api, body)
    except ThrottledError:
        return False, client.clock.monotonic()
    except DingTalkError:
        pass  # answered (60011, …): it passed the limiter
    return True, client.clock.monotonic()
