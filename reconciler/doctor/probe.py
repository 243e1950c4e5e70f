"""`orgctl doctor`'s run: its checks in order, each in the module of its concern.
I/O: DingTalk calls through `DingTalkClient`, and the clock.

`reads` only reads (token, permissions, contact scope, latency); `burst` measures the rate
limit with a client of its own; ``write=True`` adds `writes`, in one scratch department created
for the purpose and deleted at the end (``user_mobile`` adds one scratch user in it).
"""

from __future__ import annotations

from reconciler.doctor.burst import check_burst
from reconciler.doctor.context import Options, Run, Step
from reconciler.doctor.endpoint import Endpoint
from reconciler.doctor.reads import (
    check_latency,
    check_read_permissions,
    check_scope,
    check_token,
    check_wrong_secret,
)
from reconciler.doctor.report import Report, Status, latencies
from reconciler.doctor.writes import sweep_leftovers, write_checks


async def run_doctor(endpoint: Endpoint, options: Options, *, step: Step | None = None) -> Report:
    run = Run(endpoint, options, step or (lambda _name: None))
    try:
        await _checks(run)
    finally:
        await run.client.aclose()
    return run.report


async def _checks(run: Run) -> None:
    try:
        if not await check_token(run):
            return
        await check_wrong_secret(run)
        await check_burst(run)
        permitted = await check_read_permissions(run)
        if permitted:
            await check_scope(run)
        await check_latency(run)
        if run.options.write:
            await sweep_leftovers(run)
            await write_checks(run)
        else:
            run.report.add(
                "write checks",
                Status.SKIP,
                "not run",
                "run `orgctl doctor --write` to check department writes in a scratch "
                "department (and --user-mobile for user writes)",
            )
    finally:
        run.report.traits = run.traits
        run.report.latency = latencies(run.timings.durations)
