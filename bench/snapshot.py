"""How close a full snapshot comes to DingTalk's rate-limit floor, under either limiter. By hand:

    .venv/bin/python bench/snapshot.py [--departments 200] [--users 3000] [--latency 0.03]
                                       [--jitter 0.02] [--limiters sliding,bucket]

A sandbox tenant is seeded directly (not through the API), then served over loopback HTTP by
a separate process (`_common.served`) with per-answer latency and jitter, and 20 QPS per API
read either strictly (at most 20 accepted calls in any sliding second) or as a token bucket.
The snapshot is read by orgctl's client once per limiter, then once more on the sliding
window while a second process spends half of every API's budget (10 calls a second each).

The floor is max over APIs of calls / QPS: no client can beat it without being throttled. A
run's calls exclude the 90018s, which are reported per 1,000 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import Server, competing, competitor_row, describe_machine, per_thousand, served

from reconciler.clock import FakeClock
from reconciler.dingtalk import DingTalkClient
from reconciler.live.snapshot import read_live
from reconciler.model import Org
from reconciler.sandbox import APP_KEY, APP_SECRET, Sandbox

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
READS = ("topapi/v2/department/listsubid", "topapi/v2/department/get", "topapi/v2/user/list")


@dataclass
class Run:
    label: str
    seconds: float
    cpu: float  # this process's CPU seconds: the client's own cost
    calls: Counter[str]  # every call sent, 90018s included
    throttles: int
    org: Org
    server: Server
    competitor: dict[str, float]


def seed(sb: Sandbox, departments: int, users: int, rng: random.Random) -> None:
    ids = [1]
    for n in range(departments):
        # a bushy tree: the first 8 at the top level, then up to 8 children per department
        parent = 1 if n < 8 else ids[1 + (n - 8) // 8]
        keyed = n % 10 != 0  # a tenth without source_identifier, as in a hand-built org
        ids.append(
            sb.tenant.add_department(
                f"部门{n}",
                parent,
                order=rng.randint(1, 1000),
                source_identifier=f"d{n}" if keyed else None,
            )
        )
    departments_only = ids[1:]
    for n in range(users):
        depts = [rng.choice(departments_only)]
        if n % 10 == 0:
            depts.append(rng.choice(departments_only))  # some people sit in two
        sb.tenant.add_user(
            f"u{n:06d}",
            rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            f"+86-13{n % 10}{n:08d}",
            list(dict.fromkeys(depts)),
            title=rng.choice(["工程师", "经理", "专员"]),
            email=f"u{n:06d}@example.com",
        )


async def snapshot(
    url: str, qps: float, **options: Any
) -> tuple[float, float, DingTalkClient, Org]:
    """One read; ``options`` override the client's defaults (the orgctl runs pass none, so
    they measure what orgctl ships)."""
    client = DingTalkClient(
        app_key=APP_KEY, app_secret=APP_SECRET, base_url=url, qps=qps, **options
    )
    async with client:
        started, cpu = time.monotonic(), time.process_time()
        org = await read_live(client)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    return seconds, cpu, client, org


def one_run(
    db: Path,
    label: str,
    limiter: str,
    args: argparse.Namespace,
    *,
    rival_qps: float = 0.0,
    **options: Any,
) -> Run:
    with (
        served(
            db,
            limiter=limiter,
            qps=args.qps,
            latency=args.latency,
            jitter=args.jitter,
            error_rate=args.error_rate,
            throttle_rate=args.throttle_rate,
        ) as server,
        competing(server.url, rival_qps, READS, (APP_KEY, APP_SECRET)) as rival,
    ):
        seconds, cpu, client, org = asyncio.run(snapshot(server.url, args.qps, **options))
    return Run(label, seconds, cpu, client.calls_made, client.throttles, org, server, rival.seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=200)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per answer")
    parser.add_argument("--jitter", type=float, default=0.02, help="± seconds on the latency")
    parser.add_argument("--qps", type=float, default=20.0, help="per API, client and server")
    parser.add_argument("--limiters", default="sliding,bucket", help="server limiter readings")
    parser.add_argument(
        "--rival-share",
        type=float,
        default=0.5,
        help="budget share spent by a second process in the last run (0: no such run)",
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 502 / -1 answers")
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="share of extra 90018")
    parser.add_argument("--serial", action="store_true", help="also one call at a time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sandbox.db"
        started = time.monotonic()
        sb = Sandbox(qps=0, clock=FakeClock())  # in memory: seeding is much faster than on disk
        seed(sb, args.departments, args.users, random.Random(42))
        with sb.tenant.lock, sqlite3.connect(db) as copy:
            sb.tenant.db.backup(copy)
        sb.close()
        seeded = time.monotonic() - started
        limiters = args.limiters.split(",")
        runs = [one_run(db, f"orgctl, {kind}", kind, args) for kind in limiters]
        if args.rival_share > 0:
            runs.append(
                one_run(
                    db,
                    f"orgctl, {limiters[0]}, {args.rival_share:.0%} of the budget spent elsewhere",
                    limiters[0],
                    args,
                    rival_qps=args.qps * args.rival_share,
                )
            )
        if args.serial:
            runs.append(one_run(db, "one call at a time", limiters[0], args, max_in_flight=1))

    first = runs[0]
    assert all(r.org == first.org for r in runs), "the runs read different directories"
    minimum = {
        api: first.calls[api] - first.server.seen.get(api, {}).get("refused", 0) for api in READS
    }
    floor = max(minimum.values()) / args.qps
    print(
        f"tenant: {len(first.org.departments)} departments, {len(first.org.users)} users "
        f"(seeded in {seeded:.1f} s); latency {args.latency * 1000:.0f} ± "
        f"{args.jitter * 1000:.0f} ms; {args.qps:g} QPS per API; faults: "
        f"{args.error_rate:.0%} errors, {args.throttle_rate:.0%} extra throttles; "
        f"{describe_machine()}"
    )
    print()
    print("| API | calls | calls / QPS |")
    print("|---|---:|---:|")
    for api in READS:
        print(f"| `{api}` | {minimum[api]} | {minimum[api] / args.qps:.1f} s |")
    print(f"| floor (max) | | **{floor:.1f} s** |")
    print()
    print(
        "| run | wall time | × floor | calls | 90018 / 1,000 calls | most sent in a "
        "sliding second | client CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        total = sum(run.calls[api] for api in READS)
        peak = max(run.server.seen.get(api, {}).get("peak_sent", 0) for api in READS)
        print(
            f"| {run.label} | {run.seconds:.1f} s | {run.seconds / floor:.2f} | {total} "
            f"| {per_thousand(run.throttles, total):.1f} | {peak} | {run.cpu:.1f} s |"
        )
        if run.competitor:
            print(competitor_row(run.competitor, 7))


if __name__ == "__main__":
    main()
